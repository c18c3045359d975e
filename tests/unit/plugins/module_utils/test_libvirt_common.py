"""Connection and error helpers, against libvirt's test driver with our own host XML."""

import os
import threading

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc

HOST_XML = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "hosts", "two-guests.xml")
TEST_URI = "test://" + os.path.abspath(HOST_XML)


@pytest.fixture
def conn():
    c = lc.connect(TEST_URI)
    yield c
    c.close()


def test_connect_opens_our_own_host(conn):
    assert sorted(d.name() for d in conn.listAllDomains()) == ["db1", "web1"]
    assert conn.getInfo()[2] == 4  # cpus from the host XML


def test_connect_readonly_refuses_writes():
    c = lc.connect(TEST_URI, readonly=True)
    with pytest.raises(lc.VirtError) as info:
        with lc.attempt("destroy vm web1"):
            c.lookupByName("web1").destroy()
    assert info.value.code == libvirt.VIR_ERR_OPERATION_DENIED
    assert info.value.message.startswith("Failed to destroy vm web1: ")
    c.close()


def test_connect_unreachable_host_names_uri_and_what_to_check():
    # Nothing listens on port 1 of loopback: connection refused straight away.
    uri = "qemu+tcp://127.0.0.1:1/system"
    with pytest.raises(lc.VirtError) as info:
        lc.connect(uri)
    msg = info.value.message
    assert msg.startswith("Failed to connect to libvirt at %s: " % uri)
    assert "libvirtd is running" in msg
    assert info.value.code == libvirt.VIR_ERR_SYSTEM_ERROR
    assert "VIR_ERR_SYSTEM_ERROR" in msg


def test_connect_bad_uri_scheme():
    with pytest.raises(lc.VirtError) as info:
        lc.connect("nosuchdriver:///system")
    assert "nosuchdriver:///system" in info.value.message
    assert info.value.code is not None


def test_lookup_returns_none_only_when_not_found(conn):
    assert lc.lookup_domain(conn, "web1").name() == "web1"
    assert lc.lookup_domain(conn, "missing") is None
    assert lc.lookup_network(conn, "lan").name() == "lan"
    assert lc.lookup_network(conn, "missing") is None
    assert lc.lookup_pool(conn, "local").name() == "local"
    assert lc.lookup_pool(conn, "missing") is None


def test_a_lookup_error_that_lost_its_code_is_asked_again(conn):
    calls = []

    def flaky(name):
        calls.append(name)
        if len(calls) == 1:
            libvirt.virResetLastError()      # what a destructor calling libvirt in between does
            raise libvirt.libvirtError("virDomainLookupByName() failed")
        return conn.lookupByName(name)

    assert lc.lookup("look up vm missing", flaky, "missing") is None and calls == ["missing", "missing"]
    calls.clear()
    assert lc.lookup("look up vm web1", flaky, "web1").name() == "web1" and len(calls) == 2


def test_lookup_raises_other_errors():
    closed = lc.connect(TEST_URI)
    closed.close()
    with pytest.raises(lc.VirtError) as info:
        lc.lookup_domain(closed, "web1")
    assert info.value.message.startswith("Failed to look up vm web1 on ")
    assert info.value.code not in lc.NOT_FOUND_CODES


def test_attempt_wraps_code_and_domain(conn):
    with pytest.raises(lc.VirtError) as info:
        with lc.attempt("define vm broken"):
            conn.defineXML("<domain type='test'><name>broken</name></domain>")
    err = info.value
    assert err.message.startswith("Failed to define vm broken: ")
    assert "(code %d " % err.code in err.message
    result = err.as_result()
    assert result["msg"] == err.message
    assert result["libvirt_error"]["code"] == err.code
    assert result["libvirt_error"]["code_name"].startswith("VIR_ERR_")
    assert result["libvirt_error"]["domain_name"].startswith("VIR_FROM_")


def test_attempting_decorator_formats_action_from_arguments(conn):
    class Guest:
        name = "ghost"

        @lc.attempting("start vm {self.name} on {where}")
        def start(self, where):
            conn.lookupByName("ghost")

    with pytest.raises(lc.VirtError) as info:
        Guest().start(where="hv1")
    assert info.value.message.startswith("Failed to start vm ghost on hv1: ")
    assert info.value.code == libvirt.VIR_ERR_NO_DOMAIN


def test_attempting_decorator_passes_results_through(conn):
    @lc.attempting("count vms")
    def count():
        return len(conn.listAllDomains())

    assert count() == 2


def test_plain_error_has_no_libvirt_fields():
    err = lc.VirtError("vcpus must be positive")
    assert err.as_result() == {"msg": "vcpus must be positive"}


@pytest.mark.parametrize("number,text", [(9000000, "9.0.0"), (7002022, "7.2.22"), (1002003, "1.2.3")])
def test_version_strings(number, text):
    assert lc.libvirt_version_string(number) == text


class BusyPool:
    """A pool whose refresh fails as libvirt's does while another job holds it, ``busy`` times."""

    def __init__(self, busy, message="internal error: pool 'p' has asynchronous jobs running."):
        self.busy = busy
        self.message = message
        self.calls = 0

    def refresh(self, flags):
        self.calls += 1
        if self.calls <= self.busy:
            err = libvirt.libvirtError("refresh")
            err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_STORAGE, self.message, 2, None, None, None, 0, 0)
            raise err
        return 0


def test_refresh_pool_waits_for_a_busy_pool_and_gives_up_in_time():
    from fakes import Clock  # pylint: disable=import-outside-toplevel

    clock = Clock()
    pool = BusyPool(3)
    assert lc.refresh_pool(pool, timeout=5, clock=clock, sleep=clock.sleep) == 0 and pool.calls == 4
    stuck = BusyPool(1000)
    with pytest.raises(libvirt.libvirtError):
        lc.refresh_pool(stuck, timeout=2, clock=clock, sleep=clock.sleep)
    assert stuck.calls <= 12
    other = BusyPool(1, message="cannot open directory")
    with pytest.raises(libvirt.libvirtError):
        lc.refresh_pool(other, timeout=5, clock=clock, sleep=clock.sleep)
    assert other.calls == 1


def test_within_returns_what_libvirt_answers(conn):
    assert lc.within(5, "list the guests", conn.listDefinedDomains) == conn.listDefinedDomains()


def test_within_wraps_a_libvirt_refusal(conn):
    with pytest.raises(lc.VirtError) as info:
        lc.within(5, "define vm broken", conn.defineXML, "<domain type='test'><name>broken</name></domain>")
    assert not isinstance(info.value, lc.Unanswered)
    assert info.value.message.startswith("Failed to define vm broken: ")
    assert info.value.code is not None


def test_within_stops_waiting_for_a_call_that_does_not_return():
    """What a libvirt call waiting on a silent QEMU monitor looks like to the caller: nothing
    returns; the caller gets an Unanswered error in time and the call goes on in the background."""
    release = threading.Event()
    with pytest.raises(lc.Unanswered) as info:
        lc.within(0.3, "abort the migration of vm db1", release.wait, 600)
    assert info.value.message == "Failed to abort the migration of vm db1: libvirt had not answered after 0.3s"
    waiting = [t for t in threading.enumerate() if t.name == "abort the migration of vm db1"]
    assert waiting and waiting[0].is_alive() and waiting[0].daemon   # returned while the call went on
    release.set()
