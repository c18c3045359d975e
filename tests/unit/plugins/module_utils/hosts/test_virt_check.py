"""The hardware-virtualisation verdict, from every combination of probe inputs."""

import itertools

import pytest
from hypothesis import given, strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import virt_check as vc

GOOD_DEV = vc.Device(mode=0o660, owner="root", group="kvm")
ROOT_ONLY = vc.Device(mode=0o600, owner="root", group="root")


def probe(flags=(), device=GOOD_DEV, open_result="ok", create="ok", modules=(), nested=None, api=12):
    return vc.Probe(
        cpu_flags=frozenset(flags),
        device=device,
        open_result=open_result if device is not None else None,
        api_version=api,
        create_vm_result=create if device is not None and open_result == "ok" else None,
        modules=frozenset(modules),
        nested_param=nested,
    )


# --- parsing -----------------------------------------------------------------------------


def test_parse_cpu_flags_reads_first_flags_line_only():
    text = "processor : 0\nflags\t\t: fpu vmx  sse2\nvmx flags\t: ept vpid\n\nprocessor : 1\nflags : fpu svm\n"
    assert vc.parse_cpu_flags(text) == frozenset({"fpu", "vmx", "sse2"})


@pytest.mark.parametrize("text", [None, "", "processor : 0\nmodel name : ARM\n", "flagsx : vmx\n"])
def test_parse_cpu_flags_without_flags_line_is_empty(text):
    assert vc.parse_cpu_flags(text) == frozenset()


def test_parse_cpu_flags_ignores_vmx_flags_line():
    # "vmx flags" lists VMX sub-features; it is not the "flags" line.
    assert vc.parse_cpu_flags("vmx flags : ept\nflags : fpu\n") == frozenset({"fpu"})


@pytest.mark.parametrize("text,expected", [("Y\n", True), ("1", True), ("N", False), ("0\n", False), ("y", True), ("maybe", None), (None, None)])
def test_parse_bool_param(text, expected):
    assert vc.parse_bool_param(text) is expected


def test_errno_name():
    import errno

    assert vc.errno_name(errno.EACCES) == "EACCES"
    assert vc.errno_name(99999) == "E99999"


# --- the verdict table -------------------------------------------------------------------

CASES = [
    # flags, device, open, create, modules, expected verdict
    (("vmx",), GOOD_DEV, "ok", "ok", ("kvm", "kvm_intel"), vc.HARDWARE),
    (("svm",), GOOD_DEV, "ok", "ok", ("kvm", "kvm_amd"), vc.HARDWARE),
    (("vmx", "hypervisor"), GOOD_DEV, "ok", "ok", ("kvm", "kvm_intel"), vc.NESTED),
    (("hypervisor",), GOOD_DEV, "ok", "ok", ("kvm", "kvm_pvm"), vc.PVM),
    ((), GOOD_DEV, "ok", "ok", ("kvm", "kvm_pvm"), vc.PVM),
    (("hypervisor",), GOOD_DEV, "ok", "ok", ("kvm",), vc.NESTED),
    (("vmx",), None, None, None, ("kvm",), vc.DISABLED_IN_FIRMWARE),
    (("vmx",), None, None, None, ("kvm", "kvm_intel"), vc.DISABLED_IN_FIRMWARE),
    (("svm",), GOOD_DEV, "ok", "ENODEV", ("kvm", "kvm_amd"), vc.DISABLED_IN_FIRMWARE),
    (("vmx",), GOOD_DEV, "ENXIO", None, ("kvm",), vc.DISABLED_IN_FIRMWARE),
    (("vmx",), GOOD_DEV, "EACCES", None, ("kvm", "kvm_intel"), vc.NO_PERMISSION),
    ((), ROOT_ONLY, "EPERM", None, ("kvm", "kvm_pvm"), vc.NO_PERMISSION),
    ((), None, None, None, (), vc.EMULATION_ONLY),
    (("hypervisor",), None, None, None, (), vc.EMULATION_ONLY),
    ((), GOOD_DEV, "ok", "EINVAL", ("kvm",), vc.EMULATION_ONLY),
    ((), GOOD_DEV, "ENODEV", None, ("kvm",), vc.EMULATION_ONLY),
]


@pytest.mark.parametrize("flags,device,open_result,create,modules,expected", CASES)
def test_verdict_table(flags, device, open_result, create, modules, expected):
    result = vc.decide(probe(flags, device, open_result, create, modules))
    assert result.verdict == expected
    assert result.usable is (expected in vc.KVM_VERDICTS)
    assert result.virt_type == ("kvm" if expected in vc.KVM_VERDICTS else "qemu")
    assert result.message


def test_this_kind_of_machine_is_pvm_without_vmx_or_svm():
    # What the lab machines look like: a cloud VM with kvm_pvm, no vmx/svm in cpuinfo.
    result = vc.decide(probe(("fpu", "hypervisor"), ROOT_ONLY, "ok", "ok", ("kvm", "kvm_pvm")))
    assert result.verdict == vc.PVM and result.usable
    assert "neither vmx nor svm" in result.message
    assert result.pvm_loaded and result.running_under_hypervisor and result.vendor is None
    # ... and the root-only device is flagged, because QEMU would not open it.
    assert result.device_access["ok"] is False
    assert "chgrp kvm /dev/kvm; chmod 0660 /dev/kvm" in result.warnings[0]


def test_usable_verdict_with_good_device_has_no_warnings():
    result = vc.decide(probe(("vmx",), GOOD_DEV, "ok", "ok", ("kvm", "kvm_intel"), nested="Y"))
    assert result.warnings == ()
    assert result.nested_for_guests is True
    assert result.vendor == "intel"
    assert "vmx (Intel VT-x)" in result.message


def test_odd_api_version_is_a_warning_not_a_failure():
    result = vc.decide(probe(("svm",), GOOD_DEV, "ok", "ok", ("kvm", "kvm_amd"), api=11))
    assert result.verdict == vc.HARDWARE
    assert any("API_VERSION returned 11" in w for w in result.warnings)


def test_disabled_in_firmware_without_module_says_modprobe_and_firmware():
    msg = vc.decide(probe(("vmx",), None, modules=("kvm",))).message
    assert "modprobe kvm_intel" in msg and "firmware" in msg and "hypervisor_allow_emulation" in msg


def test_disabled_in_firmware_with_module_loaded_blames_the_device():
    msg = vc.decide(probe(("vmx",), None, modules=("kvm", "kvm_intel"))).message
    assert "kvm_intel is loaded but /dev/kvm does not exist" in msg


def test_disabled_in_firmware_names_the_failing_ioctl():
    msg = vc.decide(probe(("svm",), GOOD_DEV, "ok", "EOPNOTSUPP", ("kvm", "kvm_amd"))).message
    assert "KVM_CREATE_VM: EOPNOTSUPP" in msg and "AMD-V" in msg


def test_emulation_only_inside_a_vm_suggests_nested():
    msg = vc.decide(probe(("hypervisor",), None)).message
    assert "nested" in msg and "TCG" in msg and "hypervisor_allow_emulation" in msg
    bare = vc.decide(probe((), None)).message
    assert "VT-x or AMD-V" in bare


def test_no_permission_names_the_group_and_become():
    msg = vc.decide(probe((), GOOD_DEV, "EACCES")).message
    assert "become: true" in msg and "group kvm" in msg


def test_as_dict_is_plain_data():
    d = vc.decide(probe(("vmx",), GOOD_DEV, modules=("kvm", "kvm_intel"))).as_dict()
    assert d["verdict"] == "hardware" and d["cpu_flags"] == ["vmx"]
    assert isinstance(d["warnings"], list) and isinstance(d["device_access"], dict)


# --- device access for QEMU --------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,group,ok",
    [
        (0o660, "kvm", True),
        (0o666, "root", True),
        (0o600, "root", False),
        (0o660, "root", False),
        (0o640, "kvm", False),
        (0o620, "kvm", False),
        (0o664, "root", False),
        (0o020660, "kvm", True),  # a full st_mode with the char-device bits
    ],
)
def test_device_access(mode, group, ok):
    assert vc.device_access(vc.Device(mode=mode, owner="root", group=group))["ok"] is ok


def test_device_access_unknown_and_missing():
    assert vc.device_access(vc.Device(mode=None))["ok"] is None
    assert vc.device_access(None)["ok"] is False


def test_device_access_other_qemu_group():
    dev = vc.Device(mode=0o660, owner="root", group="qemu")
    assert vc.device_access(dev, qemu_group="qemu")["ok"] is True
    assert vc.device_access(dev, qemu_group="kvm")["ok"] is False


# --- properties over every input combination ---------------------------------------------

FLAG_SETS = [(), ("vmx",), ("svm",), ("hypervisor",), ("vmx", "hypervisor"), ("svm", "hypervisor")]
DEVICES = [None, GOOD_DEV, ROOT_ONLY]
OPENS = ["ok", "EACCES", "EPERM", "ENODEV"]
CREATES = ["ok", "ENODEV", "EINVAL"]
MODULE_SETS = [(), ("kvm",), ("kvm", "kvm_intel"), ("kvm", "kvm_amd"), ("kvm", "kvm_pvm")]


@pytest.mark.parametrize(
    "flags,device,open_result,create,modules",
    list(itertools.product(FLAG_SETS, DEVICES, OPENS, CREATES, MODULE_SETS)),
)
def test_every_combination_gives_one_consistent_verdict(flags, device, open_result, create, modules):
    p = probe(flags, device, open_result, create, modules)
    v = vc.decide(p)
    assert v.verdict in vc.VERDICTS
    works = p.open_result == "ok" and p.create_vm_result == "ok"
    # Usable exactly when /dev/kvm really created a VM.
    assert v.usable is works
    assert v.kvm_creates_vm is works
    has_flag = bool(set(flags) & {"vmx", "svm"})
    if works:
        assert v.verdict == (
            vc.HARDWARE if has_flag and "hypervisor" not in flags
            else vc.NESTED if has_flag or "kvm_pvm" not in modules
            else vc.PVM
        )
    elif device is not None and open_result in ("EACCES", "EPERM"):
        assert v.verdict == vc.NO_PERMISSION
    elif has_flag:
        assert v.verdict == vc.DISABLED_IN_FIRMWARE
    else:
        assert v.verdict == vc.EMULATION_ONLY
    if not v.usable and v.verdict != vc.NO_PERMISSION:
        assert "hypervisor_allow_emulation" in v.message


@given(
    flags=st.frozensets(st.sampled_from(["vmx", "svm", "hypervisor", "fpu", "sse2", "lm"])),
    mode=st.integers(min_value=0, max_value=0o777),
    group=st.sampled_from(["kvm", "root", "qemu"]),
    api=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
    nested=st.sampled_from([None, "Y", "N", "1", "0", "garbage"]),
)
def test_messages_never_leak_none_and_warnings_are_in_message(flags, mode, group, api, nested):
    dev = vc.Device(mode=mode, owner="root", group=group)
    v = vc.decide(probe(flags, dev, "ok", "ok", ("kvm", "kvm_pvm"), nested=nested, api=api))
    assert v.usable
    assert "(None)" not in v.message
    if v.warnings:
        assert v.warnings[0] in v.message
    assert (v.device_access["ok"] is False) == any("chmod 0660" in w for w in v.warnings)
