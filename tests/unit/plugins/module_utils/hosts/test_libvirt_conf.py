"""Setting keys of libvirt configuration files without disturbing the rest."""

import pytest
from hypothesis import given, strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.libvirt_conf import apply, render

LAB = (
    "# Written by the lab\n"
    "listen_tls = 0\n"
    "listen_tcp = 1\n"
    'listen_addr = "127.77.5.1"\n'
    "#auth_tcp = \"sasl\"\n"
    'auth_tcp = "none"\n'
)


@pytest.mark.parametrize(
    "value,text",
    [(True, "1"), (False, "0"), (0, "0"), (49152, "49152"), ("none", '"none"'), ("a\"b", '"a\\"b"'),
     ([], "[  ]"), (["a", "b"], '[ "a", "b" ]'), ([1, True], "[ 1, 1 ]")],
)
def test_render(value, text):
    assert render(value) == text


def test_same_values_change_nothing():
    new, keys = apply(LAB, {"listen_tcp": True, "listen_tls": False, "auth_tcp": "none"})
    assert new == LAB and keys == []


def test_changed_key_replaced_in_place_comments_and_other_keys_kept():
    new, keys = apply(LAB, {"listen_tls": True})
    assert keys == ["listen_tls"]
    assert new == LAB.replace("listen_tls = 0", "listen_tls = 1")


def test_missing_key_appended_and_file_without_final_newline():
    new, keys = apply("a = 1", {"migration_port_min": 49152})
    assert new == "a = 1\nmigration_port_min = 49152\n" and keys == ["migration_port_min"]


def test_none_removes_active_lines_only():
    new, keys = apply(LAB, {"auth_tcp": None})
    assert keys == ["auth_tcp"]
    assert '#auth_tcp = "sasl"\n' in new and 'auth_tcp = "none"' not in new.replace('#auth_tcp = "sasl"', "")
    again, keys = apply(new, {"auth_tcp": None})
    assert again == new and keys == []


def test_duplicates_collapse_to_first_position():
    text = "x = 1\nlisten_tcp = 0\ny = 2\n  listen_tcp=1\n"
    new, keys = apply(text, {"listen_tcp": True})
    assert new == "x = 1\nlisten_tcp = 1\ny = 2\n" and keys == ["listen_tcp"]


def test_key_prefix_is_not_matched():
    new = apply("listen_tcp_extra = 5\n", {"listen_tcp": 1})[0]
    assert new == "listen_tcp_extra = 5\nlisten_tcp = 1\n"


def test_bad_key_rejected():
    with pytest.raises(ValueError):
        apply("", {"a = b\nc": 1})


KEYS = st.sampled_from(["listen_tcp", "listen_tls", "auth_tcp", "lock_manager", "migration_port_min"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(0, 70000), st.text("abc/-", max_size=5))


@given(base=st.dictionaries(KEYS, VALUES), settings=st.dictionaries(KEYS, VALUES))
def test_apply_is_idempotent_and_sets_each_key_once(base, settings):
    text = apply("# head\n#listen_tcp = 1\n", base)[0]
    once = apply(text, settings)[0]
    twice, keys = apply(once, settings)
    assert twice == once and keys == []
    for key, value in settings.items():
        active = [line for line in once.splitlines() if line.split("=")[0].strip() == key]
        assert active == ([] if value is None else ["%s = %s" % (key, render(value))])
    assert once.startswith("# head\n#listen_tcp = 1\n")
