"""The live probe (with fake /proc, /sys and OS calls) and the libvirt gatherers
(against libvirt's test driver with our own host XML)."""

import errno
import os
import stat

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import facts_ops as hf
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import virt_check as vc

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostinfo"))


def uri(name):
    return "test://" + os.path.join(DATA, name)


class FakeStat:
    def __init__(self, mode, uid=0, gid=0):
        self.st_mode = mode
        self.st_uid = uid
        self.st_gid = gid


def fake_system(mode=stat.S_IFCHR | 0o660, gid=0, exists=True, open_errno=None, create_errno=None):
    calls = {"closed": [], "ioctls": []}

    class System:
        @staticmethod
        def stat(path):
            if not exists:
                raise FileNotFoundError(errno.ENOENT, "No such file", path)
            return FakeStat(mode, 0, gid)

        @staticmethod
        def open(path, flags):
            assert flags & os.O_RDWR and flags & os.O_CLOEXEC
            if open_errno:
                raise OSError(open_errno, os.strerror(open_errno))
            return 10

        @staticmethod
        def ioctl(fd, request, arg):
            calls["ioctls"].append((fd, request, arg))
            if request == hf.KVM_GET_API_VERSION:
                return 12
            if request == hf.KVM_CREATE_VM:
                if create_errno:
                    raise OSError(create_errno, os.strerror(create_errno))
                return 11
            raise AssertionError("unexpected ioctl %#x" % request)

        @staticmethod
        def close(fd):
            calls["closed"].append(fd)

    return System, calls


def test_probe_pvm_tree_closes_vm_and_device_fds():
    system, calls = fake_system()
    p = hf.probe_virtualisation(os.path.join(DATA, "pvm"), "/dev/kvm", system)
    assert "vmx" not in p.cpu_flags and "hypervisor" in p.cpu_flags
    assert p.modules == frozenset({"kvm", "kvm_pvm"})
    assert (p.open_result, p.api_version, p.create_vm_result) == ("ok", 12, "ok")
    assert (10, 0xAE01, 0) in calls["ioctls"]
    assert sorted(calls["closed"]) == [10, 11]  # the VM fd and /dev/kvm
    assert vc.decide(p).verdict == vc.PVM


def test_probe_intel_tree_reads_nested_parameter():
    system = fake_system()[0]
    facts = hf.virtualisation_facts(os.path.join(DATA, "intel"), "/dev/kvm", system=system)
    assert facts["verdict"] == "hardware"
    assert facts["nested_for_guests"] is True
    assert facts["modules"] == ["kvm", "kvm_intel"]


def test_probe_missing_device_is_not_opened():
    system, calls = fake_system(exists=False)
    p = hf.probe_virtualisation(os.path.join(DATA, "none"), "/dev/kvm", system)
    assert p.device is None and p.open_result is None and calls["ioctls"] == []
    assert vc.decide(p).verdict == vc.EMULATION_ONLY


def test_probe_open_refused_gives_no_permission():
    system, calls = fake_system(open_errno=errno.EACCES)
    p = hf.probe_virtualisation(os.path.join(DATA, "pvm"), "/dev/kvm", system)
    assert p.open_result == "EACCES" and calls["closed"] == []
    assert vc.decide(p).verdict == vc.NO_PERMISSION


def test_probe_create_vm_refused_closes_device():
    system, calls = fake_system(create_errno=errno.ENODEV)
    p = hf.probe_virtualisation(os.path.join(DATA, "intel"), "/dev/kvm", system)
    assert p.create_vm_result == "ENODEV" and calls["closed"] == [10]
    assert vc.decide(p).verdict == vc.DISABLED_IN_FIRMWARE


def test_stat_device_reports_mode_owner_group():
    system = fake_system(mode=stat.S_IFCHR | 0o600)[0]
    dev = hf.stat_device("/dev/kvm", system)
    assert dev.mode == 0o600 and dev.is_char_device and dev.owner == "root" and dev.group == "root"


def test_probe_of_a_missing_root_reads_nothing():
    system = fake_system(exists=False)[0]
    p = hf.probe_virtualisation("/nonexistent-hotiron", "/dev/kvm", system)
    assert p.cpu_flags == frozenset() and p.modules == frozenset() and p.nested_param is None


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="needs /dev/kvm")
def test_live_probe_on_this_machine_creates_a_vm():
    # This machine (and the lab) has KVM through kvm_pvm without vmx/svm in cpuinfo.
    facts = hf.virtualisation_facts()
    assert facts["kvm_creates_vm"] is True
    assert facts["usable"] is True and facts["virt_type"] == "kvm"
    if not set(facts["cpu_flags"]) & {"vmx", "svm"}:
        assert facts["verdict"] in ("pvm", "nested")


# --- libvirt --------------------------------------------------------------------------------


@pytest.fixture
def mixed():
    conn = lc.connect(uri("mixed-guests.xml"))
    yield conn
    conn.close()


def test_host_facts_cpu_memory_and_versions(mixed):
    facts = hf.host_facts(mixed)
    assert facts["hypervisor"]["driver"] == "TEST"
    assert facts["hypervisor"]["libvirt_version"].count(".") == 2
    cpu = facts["cpu"]
    assert (cpu["sockets"], cpu["cores_per_socket"], cpu["threads_per_core"], cpu["cpus"]) == (2, 4, 2, 16)
    assert cpu["mhz"] == 2600
    assert facts["memory"]["total_mib"] == 16384


def test_host_facts_counts_and_commitments(mixed):
    mixed.lookupByName("spare").destroy()
    facts = hf.host_facts(mixed)
    g = facts["guests"]
    assert (g["defined"], g["running"], g["total"]) == (3, 2, 3)
    assert g["running_names"] == ["app1", "app2"]
    spare = [x for x in g["list"] if x["name"] == "spare"][0]
    assert spare["state"] == "shutoff" and spare["active"] is False
    c = facts["committed"]
    assert c["running"] == {"vcpus": 6, "memory_mib": 3072, "vcpu_ratio": 0.375, "memory_ratio": 0.188}
    assert c["defined"]["vcpus"] == 14 and c["defined"]["memory_mib"] == 7168


def test_transient_guest_is_running_but_not_defined(mixed):
    mixed.lookupByName("app2").undefine()  # still running, now transient
    g = hf.host_facts(mixed)["guests"]
    assert (g["defined"], g["running"], g["total"]) == (2, 3, 3)
    app2 = [x for x in g["list"] if x["name"] == "app2"][0]
    assert app2["persistent"] is False and app2["autostart"] is False


def test_empty_host():
    conn = lc.connect(uri("empty.xml"))
    facts = hf.host_facts(conn)
    conn.close()
    assert facts["guests"]["total"] == 0 and facts["guests"]["running_names"] == []
    assert facts["committed"]["defined"] == {"vcpus": 0, "memory_mib": 0, "vcpu_ratio": 0.0, "memory_ratio": 0.0}


def test_commitments_with_zero_capacity_has_no_ratio():
    assert hf.commitments([], 0, 0)["running"]["vcpu_ratio"] is None


def test_guest_virt_types_from_capabilities_xml():
    import xml.etree.ElementTree as ET

    caps = ET.fromstring(
        "<capabilities><host/><guest><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>"
        "<guest><arch name='i686'><domain type='qemu'/></arch></guest><guest/></capabilities>"
    )
    assert hf.guest_virt_types(caps) == {"x86_64": ["qemu", "kvm"], "i686": ["qemu"]}


def test_host_cpu_prefers_capabilities_model():
    import xml.etree.ElementTree as ET

    caps = ET.fromstring(
        "<capabilities><host><cpu><arch>x86_64</arch><model>Skylake-Server</model><vendor>Intel</vendor>"
        "<feature name='vmx'/><feature name='aes'/></cpu></host></capabilities>"
    )
    cpu = hf.host_cpu(caps, ["x86_64", 4096, 8, 2000, 2, 1, 4, 1])
    assert cpu["model"] == "Skylake-Server" and cpu["vendor"] == "Intel"
    assert cpu["features"] == ["aes", "vmx"] and cpu["sockets"] == 2


def test_lost_connection_is_a_virt_error_naming_the_action():
    conn = lc.connect(uri("empty.xml"))
    conn.close()
    with pytest.raises(lc.VirtError) as info:
        hf.host_facts(conn)
    assert info.value.message.startswith("Failed to read host information from")
