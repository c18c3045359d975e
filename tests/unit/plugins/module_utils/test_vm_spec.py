# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure VM spec: validation, limits, host checks, spec -> XML and plans."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import vm_spec as vs

GIB, MIB = vs.GIB, vs.MIB

CAPS = """<capabilities><host/>
  <guest><os_type>hvm</os_type><arch name='x86_64'>
    <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine><machine maxCpus='255'>pc-i440fx-7.2</machine>
    <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine><machine maxCpus='288'>pc-q35-7.2</machine>
    <domain type='qemu'/><domain type='kvm'/></arch></guest>
  <guest><os_type>hvm</os_type><arch name='i686'>
    <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine><domain type='qemu'/></arch></guest>
</capabilities>"""
HOST = vs.parse_capabilities(CAPS, ["x86_64", 8192, 4, 2400, 1, 1, 4, 1])


def params(**kwargs):
    base = {"name": "vm1"}
    base.update(kwargs)
    return base


def spec(**kwargs):
    return vs.validate(params(**kwargs))


# --- sizes and validation ------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("512MiB", 512 * MIB), ("2GiB", 2 * GIB), ("2G", 2 * GIB), ("2GB", 2 * 10 ** 9), ("1.5GiB", 1536 * MIB),
    (" 64 MiB ", 64 * MIB), ("64", 64 * MIB), (64, 64 * MIB), ("1024KiB", MIB), ("1TiB", 1024 * GIB),
    ("4096mib", 4096 * MIB),
])
def test_parse_size(value, expected):
    assert vs.parse_size(value, "memory") == expected


@pytest.mark.parametrize("value,message", [
    ("0", "greater than zero"), ("0GiB", "greater than zero"), (0, "greater than zero"), ("-1GiB", "expected a size"),
    ("lots", "expected a size"), ("12 parsecs", "unknown unit"), ("", "expected a size"), (True, "expected a size"),
])
def test_parse_size_rejects(value, message):
    with pytest.raises(vs.SpecError, match=message) as err:
        vs.parse_size(value, "disks[2].size")
    assert err.value.param == "disks[2].size"
    assert str(err.value).startswith("disks[2].size: ")


@pytest.mark.parametrize("bad,param", [
    (dict(name="has space"), "name"), (dict(name="a/b"), "name"), (dict(name=""), "name"), (dict(name="-x"), "name"),
    (dict(vcpus=0), "vcpus"), (dict(vcpus=-2), "vcpus"), (dict(vcpus="many"), "vcpus"),
    (dict(vcpus=4, max_vcpus=2), "vcpus"),
    (dict(memory="0"), "memory"), (dict(memory="x"), "memory"), (dict(memory="8MiB"), "memory"),
    (dict(memory="2GiB", max_memory="1GiB"), "memory"), (dict(max_memory="-5"), "max_memory"),
    (dict(arch="sparc"), "arch"), (dict(firmware="coreboot"), "firmware"), (dict(os="beos"), "os"),
    (dict(cpu={"mode": "custom"}), "cpu.model"), (dict(cpu={"mode": "host-model", "model": "x"}), "cpu.model"),
    (dict(disks=[{}]), "disks[0]"), (dict(disks=[{"pool": "p"}]), "disks[0].volume"),
    (dict(disks=[{"path": "/a", "pool": "p", "volume": "v"}]), "disks[0]"),
    (dict(disks=[{"path": "rel/a.img"}]), "disks[0].path"),
    (dict(disks=[{"pool": "p", "volume": "v", "size": "0"}]), "disks[0].size"),
    (dict(disks=[{"pool": "p", "volume": "v", "size": "-1G"}]), "disks[0].size"),
    (dict(disks=[{"pool": "p", "volume": "bad/name"}]), "disks[0].volume"),
    (dict(disks=[{"path": "/a", "bus": "pata"}]), "disks[0].bus"),
    (dict(disks=[{"path": "/a", "boot_order": 0}]), "disks[0].boot_order"),
    (dict(disks=[{"path": "/a", "target": "vda"}, {"path": "/b", "target": "vda"}]), "disks"),
    (dict(interfaces=[{}]), "interfaces[0]"), (dict(interfaces=[{"network": "n", "bridge": "b"}]), "interfaces[0]"),
    (dict(interfaces=[{"network": "n", "mac": "zz:00"}]), "interfaces[0].mac"),
    (dict(interfaces=[{"network": "n", "model": "ne2k"}]), "interfaces[0].model"),
    (dict(ha_priority=-1), "ha_priority"), (dict(ha_priority=5000), "ha_priority"),
    (dict(xml="<domain>"), "xml"), (dict(xml="<devices/>"), "xml"), (dict(xml="<domain><name>y</name></domain>"), "xml"),
    (dict(clone_from="t", disks=[]), "disks"), (dict(clone="deep"), "clone"),
    (dict(limits={"max_vcpus": 0}), "limits.max_vcpus"), (dict(limits={"max_memory": "0"}), "limits.max_memory"),
    (dict(shutdown_timeout=-1), "shutdown_timeout"),
])
def test_validate_names_the_parameter(bad, param):
    with pytest.raises(vs.SpecError) as err:
        vs.validate(params(**bad))
    assert err.value.param == param


def test_validate_normalises():
    s = spec(memory="1GiB", vcpus=2, tags=["b", "a", "b"], ha_priority=5, template=False, metadata={"k": 1},
             interfaces=[{"network": "n", "mac": "52:54:00:AA:BB:CC"}],
             disks=[{"path": "/x.iso", "device": "cdrom"}])
    assert s["memory"] == GIB and s["vcpus"] == 2 and s["max_vcpus"] is None
    assert s["metadata"] == {"tags": ["a", "b"], "ha_priority": "5", "template": "false", "extra": {"k": "1"}}
    assert s["interfaces"][0]["mac"] == "52:54:00:aa:bb:cc"
    assert s["disks"][0]["readonly"] is True
    assert s["limits"] == vs.DEFAULT_LIMITS


# --- host and limits -----------------------------------------------------------------------

def test_parse_capabilities():
    assert HOST["cpus"] == 4 and HOST["memory"] == 8192 * MIB
    assert HOST["arches"]["x86_64"]["domain_types"] == ["qemu", "kvm"]
    assert HOST["arches"]["x86_64"]["machines"]["q35"] == "pc-q35-7.2"
    assert HOST["arches"]["x86_64"]["machines"]["pc-q35-7.2"] == "pc-q35-7.2"


def test_accept_any_arch_is_for_the_test_driver():
    only_i686 = "<capabilities><guest><os_type>hvm</os_type><arch name='i686'><domain type='test'/></arch></guest></capabilities>"
    assert set(vs.parse_capabilities(only_i686)["arches"]) == {"i686"}
    assert set(vs.parse_capabilities(only_i686, accept_any_arch=True)["arches"]) == {"i686", "x86_64"}


@pytest.mark.parametrize("kwargs,expected", [
    ({}, {"arch": "x86_64", "domain_type": "kvm", "machine": None}),
    ({"arch": "i686"}, {"arch": "i686", "domain_type": "qemu", "machine": None}),
    ({"machine": "q35"}, {"arch": "x86_64", "domain_type": "kvm", "machine": "pc-q35-7.2"}),
    ({"machine": "pc-i440fx-7.2", "domain_type": "qemu"}, {"arch": "x86_64", "domain_type": "qemu", "machine": "pc-i440fx-7.2"}),
])
def test_check_host(kwargs, expected):
    assert vs.check_host(spec(**kwargs), HOST) == expected


@pytest.mark.parametrize("kwargs,param", [
    ({"machine": "virt"}, "machine"), ({"arch": "i686", "domain_type": "kvm"}, "domain_type"),
])
def test_check_host_refuses(kwargs, param):
    with pytest.raises(vs.SpecError) as err:
        vs.check_host(spec(**kwargs), HOST)
    assert err.value.param == param


def test_check_host_refuses_missing_arch():
    host = vs.parse_capabilities(CAPS.replace("name='i686'", "name='aarch64'"))
    with pytest.raises(vs.SpecError, match="cannot run i686") as err:
        vs.check_host(spec(arch="i686"), host)
    assert err.value.param == "arch"


@pytest.mark.parametrize("kwargs,param,message", [
    ({"vcpus": 9, "overcommit": True}, "vcpus", "per-guest limit of 8"),
    ({"vcpus": 2, "max_vcpus": 9, "overcommit": True}, "max_vcpus", "per-guest limit of 8"),
    ({"memory": "97GiB", "overcommit": True}, "memory", "per-guest limit of 96GiB"),
    ({"vcpus": 5}, "vcpus", "4 CPUs of the host"),
    ({"memory": "9GiB"}, "memory", "8GiB of memory"),
    ({"memory": "1GiB", "max_memory": "10GiB"}, "max_memory", "8GiB"),
    ({"vcpus": 3, "limits": {"max_vcpus": 2}}, "vcpus", "limit of 2"),
    ({"memory": "2GiB", "limits": {"max_memory": "1GiB"}}, "memory", "limit of 1GiB"),
])
def test_limits(kwargs, param, message):
    with pytest.raises(vs.SpecError, match=message) as err:
        vs.check_limits(spec(**kwargs), HOST)
    assert err.value.param == param


@pytest.mark.parametrize("kwargs", [
    {"vcpus": 4, "memory": "8GiB"}, {"vcpus": 8, "memory": "96GiB", "overcommit": True},
    {"vcpus": 16, "limits": {"max_vcpus": 16}, "overcommit": True}, {},
])
def test_within_limits(kwargs):
    vs.check_limits(spec(**kwargs), HOST)


# --- spec -> XML ---------------------------------------------------------------------------

def build(creating=True, root=None, os_profile="linux", **kwargs):
    s = spec(**kwargs)
    resolved = vs.check_host(s, HOST)
    resolved["os"] = s["os"] or os_profile
    defaults = vs.profile_defaults(resolved["os"], s["virtio"])
    if s["disks"] is not None:
        disks = vs.assign_targets(s["disks"], defaults["bus"])
        for d in disks:
            d["path"] = d["path"] or "/pool/%s" % d["volume"]
            d["format"] = d["format"] or "qcow2"
        resolved["disks"] = disks
    if s["interfaces"] is not None:
        resolved["interfaces"] = [dict(n, model=n["model"] or defaults["model"]) for n in s["interfaces"]]
    if root is None:
        root = vs.skeleton(s["name"], resolved["domain_type"])
    return vs.apply(root, s, resolved, creating=creating)


FULL = dict(vcpus=2, max_vcpus=4, memory="256MiB", max_memory="1GiB", machine="q35", cpu={"mode": "host-passthrough"},
            disks=[{"pool": "p", "volume": "a.qcow2", "size": "1GiB"}, {"path": "/iso/x.iso", "device": "cdrom"},
                   {"pool": "p", "volume": "b.raw", "format": "raw", "cache": "none", "boot_order": 2}],
            interfaces=[{"network": "default"}, {"bridge": "br0", "mac": "52:54:00:00:00:01"}],
            graphics="vnc", tags=["web"], owner="me", description="hello")


def test_build_full_spec():
    root = build(**FULL)
    assert root.get("type") == "kvm"
    assert dx.memory_kib(root, "memory") == 1024 * 1024 and dx.memory_kib(root, "currentMemory") == 256 * 1024
    assert root.find("vcpu").text == "4" and root.find("vcpu").get("current") == "2"
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "pc-q35-7.2"}
    assert root.find("cpu").get("mode") == "host-passthrough"
    disks = {d.find("target").get("dev"): d for d in root.findall("devices/disk")}
    assert sorted(disks) == ["sda", "vda", "vdb"]
    assert disks["sda"].get("device") == "cdrom" and disks["sda"].find("readonly") is not None
    assert disks["vdb"].find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}
    assert disks["vdb"].find("boot").get("order") == "2" and disks["vda"].find("boot") is None
    nics = root.findall("devices/interface")
    assert [n.get("type") for n in nics] == ["network", "bridge"]
    assert nics[1].find("mac").get("address") == "52:54:00:00:00:01" and nics[0].find("model").get("type") == "virtio"
    assert root.find("devices/graphics").attrib == {"type": "vnc", "autoport": "yes", "listen": "127.0.0.1"}
    assert root.find("devices/console") is not None
    assert dx.read_metadata(root) == {"os": "linux", "owner": "me", "tags": ["web"]}
    assert dx.get_text(root, "description") == "hello"
    assert root.find("features/hyperv") is None and root.find("clock").get("offset") == "utc"


def test_first_disk_boots_when_no_order_given():
    root = build(disks=[{"path": "/a.img"}, {"path": "/b.img"}])
    assert [d.find("boot") is not None for d in root.findall("devices/disk")] == [True, False]


def test_defaults_for_a_new_vm():
    root = build()
    assert dx.memory_kib(root, "memory") == 512 * 1024 and root.find("vcpu").text == "1"
    assert root.find("os/type").get("machine") is None


@pytest.mark.parametrize("virtio,bus,model", [(None, "sata", "e1000e"), (True, "virtio", "virtio")])
def test_windows_profile(virtio, bus, model):
    root = build(os="windows", virtio=virtio, disks=[{"path": "/w.qcow2"}], interfaces=[{"network": "n"}])
    assert {c.tag for c in root.find("features/hyperv")} == {"relaxed", "vapic", "spinlocks"}
    assert root.find("clock").get("offset") == "localtime"
    assert {t.get("name") for t in root.findall("clock/timer")} == {"rtc", "pit", "hpet", "hypervclock"}
    assert root.find("devices/disk/target").get("bus") == bus
    assert root.find("devices/interface/model").get("type") == model


def test_switching_profile_back_to_linux_removes_hyperv():
    root = build(os="windows")
    root = build(root=root, creating=False, os="linux")
    assert root.find("features/hyperv") is None and root.find("clock").get("offset") == "utc"
    assert root.find("clock/timer") is None


def test_i686_guest():
    root = build(arch="i686")
    assert root.get("type") == "qemu" and root.find("os/type").get("arch") == "i686"


def test_uefi_and_back():
    root = build(firmware="uefi")
    assert root.find("os").get("firmware") == "efi"
    dx.set_text(root, "os/nvram", "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd")
    root = build(root=root, creating=False, firmware="bios")
    assert root.find("os").get("firmware") is None and root.find("os/nvram") is None


def test_custom_cpu():
    root = build(cpu={"mode": "custom", "model": "Skylake-Client"})
    assert root.find("cpu").attrib == {"mode": "custom", "match": "exact"}
    assert dx.get_text(root, "cpu/model") == "Skylake-Client"
    root = build(root=root, creating=False, cpu={"mode": "host-model"})
    assert root.find("cpu/model") is None and root.find("cpu").get("match") is None


@pytest.mark.parametrize("kwargs", [
    FULL, dict(os="windows", disks=[{"path": "/w.qcow2"}]), dict(arch="i686", memory="64MiB"), {},
    dict(firmware="uefi", console=False, graphics="spice", xml="<domain><devices><panic model='isa'/></devices></domain>"),
])
def test_applying_twice_changes_nothing(kwargs):
    first = build(**kwargs)
    second = build(root=dx.clone(first), creating=False, **kwargs)
    assert dx.normalise(first) == dx.normalise(second)


def test_unmanaged_options_keep_what_the_vm_has():
    root = build(**FULL)
    again = build(root=dx.clone(root), creating=False)
    assert dx.normalise(again) == dx.normalise(root)


def test_apply_keeps_unknown_devices_and_addresses():
    root = dx.parse("""<domain type='kvm'><name>vm1</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/pool/a.qcow2'/>
        <target dev='vda' bus='virtio'/><address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></disk>
        <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng></devices></domain>""")
    out = build(root=root, creating=False, memory="512MiB", disks=[{"pool": "p", "volume": "a.qcow2"}])
    assert out.find("devices/rng") is not None
    assert out.find("devices/disk/address").get("bus") == "0x04"
    assert out.find("os/boot") is not None  # no disk has a boot order: the OS boot list stays
    out = build(root=out, creating=False, disks=[{"pool": "p", "volume": "a.qcow2", "bus": "sata"}])
    assert out.find("devices/disk/address") is None  # new bus, the old PCI address would be wrong


def test_disks_not_listed_are_removed_and_nics_matched_by_mac_then_position():
    root = build(**FULL)
    macs_before = [n.find("mac") for n in root.findall("devices/interface")]
    assert macs_before[0] is None
    root.findall("devices/interface")[0].insert(0, dx.parse("<mac address='52:54:00:9f:9f:9f'/>"))
    out = build(root=dx.clone(root), creating=False, disks=[{"pool": "p", "volume": "a.qcow2"}],
                interfaces=[{"bridge": "br0", "mac": "52:54:00:00:00:01"}, {"network": "default"}])
    assert [d.find("target").get("dev") for d in out.findall("devices/disk")] == ["vda"]
    nics = out.findall("devices/interface")
    assert [n.find("mac").get("address") for n in nics] == ["52:54:00:9f:9f:9f", "52:54:00:00:00:01"]


def test_memory_without_max_keeps_a_higher_maximum():
    root = build(memory="1GiB")
    out = build(root=root, creating=False, memory="512MiB")
    assert dx.memory_kib(out, "memory") == 1024 * 1024 and dx.memory_kib(out, "currentMemory") == 512 * 1024
    out = build(root=out, creating=False, memory="2GiB")
    assert dx.memory_kib(out, "memory") == 2048 * 1024


def test_vcpus_current_attribute_only_below_maximum():
    root = build(vcpus=2, max_vcpus=4)
    out = build(root=root, creating=False, vcpus=4)
    assert out.find("vcpu").get("current") is None and out.find("vcpu").text == "4"


def test_metadata_merges_managed_keys_only():
    root = build(owner="a", tags=["x"], resource_group="rg")
    out = build(root=root, creating=False, owner="b")
    assert dx.read_metadata(out) == {"os": "linux", "owner": "b", "tags": ["x"], "resource_group": "rg"}


def test_console_off_and_graphics_none():
    root = build(graphics="vnc")
    out = build(root=root, creating=False, console=False, graphics="none")
    assert out.find("devices/console") is None and out.find("devices/serial") is None
    assert out.find("devices/graphics") is None


def test_description_empty_removes_it():
    root = build(description="x")
    assert dx.get_text(build(root=root, creating=False, description=""), "description") is None


# --- plans ---------------------------------------------------------------------------------

def plan_for(running=True, base=None, **kwargs):
    before = build(**(base or FULL))
    after = build(root=dx.clone(before), creating=False, **kwargs)
    return {c["field"]: c["apply"] for c in vs.plan(vs.summarise(before), vs.summarise(after), running)}


@pytest.mark.parametrize("kwargs,expected", [
    (dict(memory="512MiB"), {"memory": "live"}),
    (dict(memory="2GiB"), {"memory": "restart", "max_memory": "restart"}),
    (dict(vcpus=3), {"vcpus": "live"}),
    (dict(vcpus=6, max_vcpus=6), {"vcpus": "restart", "max_vcpus": "restart"}),
    (dict(owner="other"), {"metadata": "live"}),
    (dict(description="new"), {"description": "live"}),
    (dict(machine="pc"), {"machine": "restart"}),
    (dict(cpu={"mode": "host-model"}), {"cpu": "restart"}),
    (dict(os="windows"), {"hyperv": "restart", "clock": "restart", "metadata": "live"}),
    (dict(disks=FULL["disks"] + [{"pool": "p", "volume": "c.qcow2"}]), {"disks.vdc": "live"}),
    (dict(disks=FULL["disks"] + [{"path": "/d.img", "bus": "sata"}]), {"disks.sdb": "restart"}),
    (dict(disks=FULL["disks"][:1] + FULL["disks"][2:]), {"disks.sda": "restart"}),
    (dict(disks=FULL["disks"][:2]), {"disks.vdb": "live"}),
    (dict(disks=[dict(FULL["disks"][0], cache="writeback")] + FULL["disks"][1:]), {"disks.vda": "restart"}),
    (dict(interfaces=FULL["interfaces"] + [{"network": "n2", "mac": "52:54:00:00:00:02"}]),
     {"interfaces.52:54:00:00:00:02": "live"}),
    (dict(interfaces=FULL["interfaces"][1:]), {"interfaces.new0": "live"}),  # unplugged; the other kept by MAC
    (dict(graphics="none"), {"graphics": "restart"}),
    ({}, {}),
])
def test_plan_live_or_restart(kwargs, expected):
    assert plan_for(**kwargs) == expected


def test_plan_on_a_stopped_vm_is_config():
    assert set(plan_for(running=False, memory="2GiB").values()) == {"config"}


def test_plan_uses_the_live_maximum():
    before = vs.summarise(build(**FULL))
    after = dict(before, memory=768 * 1024)
    live = dict(before, max_memory=512 * 1024)
    assert vs.plan(before, after, True, live)[0]["apply"] == "restart"


def test_restart_pending():
    live = vs.summarise(build(**FULL))
    assert vs.restart_pending(live, live) == []
    assert vs.restart_pending(live, dict(live, machine="pc")) == ["machine"]
    assert vs.restart_pending(live, dict(live, metadata={})) == []
    assert vs.restart_pending(live, dict(live, memory=live["memory"] // 2)) == []   # balloon: a request
    assert vs.restart_pending(live, dict(live, memory=live["max_memory"] * 2)) == ["memory"]
    assert vs.restart_pending(live, dict(live, interfaces={})) != []               # an unplug that did not happen
    host_model = dict(live, cpu={"mode": "host-model", "model": None})
    assert vs.restart_pending(dict(live, cpu={"mode": "custom", "model": "EPYC"}), host_model) == []


@pytest.mark.parametrize("bus,device,first", [("virtio", "disk", "vda"), ("sata", "disk", "sda"), ("ide", "disk", "hda"),
                                              (None, "cdrom", "sda")])
def test_assign_targets(bus, device, first):
    disks = vs.validate(params(disks=[{"path": "/a", "bus": bus, "device": device}, {"path": "/b", "bus": bus, "device": device}]))["disks"]
    out = vs.assign_targets(disks, "virtio")
    assert out[0]["target"] == first and out[1]["target"] == first[:-1] + "b"


def test_assign_targets_skips_explicit_ones():
    disks = vs.validate(params(disks=[{"path": "/a"}, {"path": "/b", "target": "vda"}]))["disks"]
    assert [d["target"] for d in vs.assign_targets(disks, "virtio")] == ["vdb", "vda"]


def test_human():
    assert [vs.human(x) for x in (GIB, 3 * MIB, 1536 * MIB, 7)] == ["1GiB", "3MiB", "1536MiB", "7B"]


@pytest.mark.parametrize("xml,expected", [
    ("<domainCapabilities><os supported='yes'><enum name='firmware'><value>efi</value></enum></os></domainCapabilities>", True),
    ("<domainCapabilities><os supported='yes'><loader supported='yes'><value>/usr/share/OVMF/OVMF_CODE.fd</value>"
     "</loader><enum name='firmware'/></os></domainCapabilities>", True),
    ("<domainCapabilities><os supported='yes'><enum name='firmware'/><loader supported='yes'/></os></domainCapabilities>", False),
    ("<domainCapabilities><os supported='no'/></domainCapabilities>", False),
    ("<domainCapabilities/>", False),
])
def test_uefi_available(xml, expected):
    assert vs.uefi_available(xml) is expected


HYPERV_CAPS = "<domainCapabilities><features><hyperv supported='yes'><enum name='features'>%s</enum></hyperv></features></domainCapabilities>"


@pytest.mark.parametrize("values,features,clock", [
    (None, ["relaxed", "vapic", "spinlocks"], True),
    (["spinlocks", "vendor_id"], ["spinlocks"], False),          # nested/PVM KVM as in the lab
    (["relaxed", "vapic", "spinlocks", "vpindex", "synic"], ["relaxed", "vapic", "spinlocks"], True),
    ([], [], False),
])
def test_windows_enlightenments_follow_the_host(values, features, clock):
    if values is None:
        supported = vs.hyperv_supported("<domainCapabilities/>")
    else:
        supported = vs.hyperv_supported(HYPERV_CAPS % "".join("<value>%s</value>" % v for v in values))
    assert vs.windows_enlightenments(supported) == (features, clock)
    s = spec(os="windows")
    resolved = dict(vs.check_host(s, HOST), os="windows", hyperv=supported)
    root = vs.apply(vs.skeleton("vm1", "kvm"), s, resolved, creating=True)
    assert [c.tag for c in root.findall("features/hyperv/*")] == features
    assert (root.find("clock/timer[@name='hypervclock']") is not None) == clock
    assert root.find("clock").get("offset") == "localtime"


def test_hyperv_not_supported_at_all():
    assert vs.hyperv_supported("<domainCapabilities><features><hyperv supported='no'/></features></domainCapabilities>") == []
