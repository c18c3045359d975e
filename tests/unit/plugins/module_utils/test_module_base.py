"""The shell every module shares: a real AnsibleModule, its exit and failure paths."""

import json

import libvirt
import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import module_base


def run(capsys, monkeypatch, func, args=None):
    """Run ``func`` through run_module in a real AnsibleModule; the JSON it printed."""
    args = dict(args or {}, _ansible_remote_tmp="/tmp", _ansible_keep_remote_files=False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    module = basic.AnsibleModule(argument_spec=module_base.connection_argument_spec(), supports_check_mode=True)
    with pytest.raises(SystemExit) as info:
        module_base.run_module(module, func)
    out = json.loads(capsys.readouterr().out)
    return info.value.code, out


def test_result_is_returned(capsys, monkeypatch):
    code, out = run(capsys, monkeypatch, lambda m: {"changed": True, "uri": m.params["uri"]})
    assert code == 0 and out["changed"] is True and out["uri"] == lc.DEFAULT_URI


def test_virt_error_becomes_fail_json_with_libvirt_fields(capsys, monkeypatch, tmp_path):
    def fail(module):
        with lc.attempt("undefine vm ghost"):
            lc.connect("test://" + str(tmp_path / "missing.xml"))

    code, out = run(capsys, monkeypatch, fail)
    assert code == 1 and out["failed"]
    assert out["msg"].startswith("Failed to connect to libvirt at test://")
    assert out["libvirt_error"]["code"] is not None


def test_unexpected_error_is_reported_not_crashed(capsys, monkeypatch):
    def broken(module):
        raise KeyError("vcpus")

    code, out = run(capsys, monkeypatch, broken)
    assert code == 1
    assert out["msg"].startswith("Unexpected error in ")
    assert out["msg"].endswith(": KeyError: 'vcpus'")
    assert "Traceback" not in out["msg"]  # the traceback goes to -vvv output, never the message


def test_connection_context_closes(capsys, monkeypatch, tmp_path):
    host = tmp_path / "host.xml"
    host.write_text("<node><cpu><mhz>1</mhz><model>x</model><active>1</active><nodes>1</nodes>"
                    "<sockets>1</sockets><cores>1</cores><threads>1</threads></cpu><memory>1048576</memory></node>")
    seen = []

    def use(module):
        with module_base.connection(module) as conn:
            seen.append(conn)
            assert conn.isAlive()
        return {"changed": False}

    code, _out = run(capsys, monkeypatch, use, {"uri": "test://" + str(host)})
    assert code == 0
    with pytest.raises(libvirt.libvirtError):
        seen[0].isAlive()


def run_main(capsys, monkeypatch, spec, func, args, **kwargs):
    """Run ``module_base.main``; (exit code, the JSON it printed)."""
    args = dict(args, _ansible_remote_tmp="/tmp", _ansible_keep_remote_files=False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    with pytest.raises(SystemExit) as info:
        module_base.main(spec, func, **kwargs)
    return info.value.code, json.loads(capsys.readouterr().out)


def test_main_checks_ranges_and_passes_module_options(capsys, monkeypatch):
    spec = dict(count=dict(type="int", default=1, min=1, max=3), a=dict(type="str"), b=dict(type="str"))
    code, out = run_main(capsys, monkeypatch, spec, lambda m: {"changed": False}, {"count": 4})
    assert code == 1 and "count" in out["msg"]
    code, out = run_main(capsys, monkeypatch, spec, lambda m: {"changed": False}, {"a": "x", "b": "y"},
                         mutually_exclusive=[("a", "b")])
    assert code == 1 and "mutually exclusive" in out["msg"]
    code, out = run_main(capsys, monkeypatch, spec, lambda m: {"changed": m.check_mode, "count": m.params["count"]},
                         {"count": 3, "_ansible_check_mode": True})
    assert code == 0 and out["changed"] is True and out["count"] == 3


def test_main_fails_cleanly_on_an_infinite_integer(capsys, monkeypatch):
    """ansible-core raises OverflowError converting inf to int: a failed result, not a crash."""
    ran = []
    for check in (False, True):      # in check mode too (not "skipped")
        code, out = run_main(capsys, monkeypatch, dict(count=dict(type="int", min=1, max=9, aliases=["n"])),
                             lambda m: ran.append(1) or {"changed": True}, {"n": float("inf"), "_ansible_check_mode": check},
                             needs_libvirt=False)
        assert code == 1 and out["failed"] and out["msg"].startswith("an integer option was given an infinite number"), out
    assert not ran


@pytest.mark.parametrize("needs_libvirt", [False, lambda params: params["uri"] == "none"])
def test_main_without_the_bindings_when_not_needed(capsys, monkeypatch, needs_libvirt):
    monkeypatch.setattr(lc, "libvirt", None)
    code, out = run_main(capsys, monkeypatch, dict(uri=dict(type="str")), lambda m: {"changed": False, "ran": True},
                         {"uri": "other"}, needs_libvirt=needs_libvirt)
    assert code == 0 and out["ran"] is True


def test_main_refuses_without_the_bindings_when_needed(capsys, monkeypatch):
    monkeypatch.setattr(lc, "libvirt", None)
    monkeypatch.setattr(module_base, "has_respawned", lambda: True)
    code, out = run_main(capsys, monkeypatch, dict(uri=dict(type="str")), lambda m: {"changed": False, "ran": True},
                         {"uri": "none"}, needs_libvirt=lambda params: params["uri"] == "none")
    assert code == 1 and "ran" not in out and "libvirt" in out["msg"]


class _Module:
    def __init__(self, diff):
        self._diff = diff
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


@pytest.mark.parametrize("diff_mode, changed, unchanged_diff, shown", [
    (True, True, False, True),
    (True, False, False, False),
    (True, False, True, True),
    (False, True, True, False),
])
def test_conclude_diff(diff_mode, changed, unchanged_diff, shown):
    module = _Module(diff_mode)
    result = module_base.conclude(module, {"changed": changed, "diff": {"before": "a", "after": "b"},
                                           "warnings": ["careful"], "plan": []}, unchanged_diff=unchanged_diff)
    assert ("diff" in result) is shown
    assert module.warnings == ["careful"] and "warnings" not in result and result["plan"] == []
