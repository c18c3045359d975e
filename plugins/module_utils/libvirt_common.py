# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection handling and libvirt error reporting shared by every module.

Everything that talks to libvirt goes through :func:`connect`, :func:`attempt`
and :func:`lookup`, so that every failure a user sees names what was being
attempted, the object, and libvirt's own error code and domain.  Lookups
return ``None`` only for libvirt's *not found* codes; every other error is
raised as :class:`VirtError`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time

try:
    import libvirt
except ImportError:  # pragma: no cover - reported by require_libvirt()
    libvirt = None

DEFAULT_URI = "qemu:///system"

# Error codes that mean "the object does not exist" for the lookup helpers.
# Anything else (connection lost, permission denied, ...) is a real error.
_NOT_FOUND_NAMES = (
    "VIR_ERR_NO_DOMAIN",
    "VIR_ERR_NO_NETWORK",
    "VIR_ERR_NO_STORAGE_POOL",
    "VIR_ERR_NO_STORAGE_VOL",
    "VIR_ERR_NO_DOMAIN_SNAPSHOT",
    "VIR_ERR_NO_SECRET",
    "VIR_ERR_NO_NODE_DEVICE",
    "VIR_ERR_NO_NWFILTER",
    "VIR_ERR_NO_INTERFACE",
    "VIR_ERR_NO_DOMAIN_CHECKPOINT",
    "VIR_ERR_NO_NETWORK_PORT",
)


def _code_names():
    if libvirt is None:
        return {}
    return {getattr(libvirt, n): n for n in dir(libvirt) if n.startswith("VIR_ERR_") and isinstance(getattr(libvirt, n), int)}


def _domain_names():
    if libvirt is None:
        return {}
    return {getattr(libvirt, n): n for n in dir(libvirt) if n.startswith("VIR_FROM_") and isinstance(getattr(libvirt, n), int)}


NOT_FOUND_CODES = frozenset(getattr(libvirt, n) for n in _NOT_FOUND_NAMES if libvirt is not None and hasattr(libvirt, n))


class VirtError(Exception):
    """A failure with a message fit to show an operator.

    ``code`` and ``domain`` carry libvirt's error code and error domain
    (numbers) when the failure came from libvirt, ``None`` otherwise.
    """

    def __init__(self, message, code=None, domain=None, libvirt_message=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.domain = domain
        self.libvirt_message = libvirt_message

    def extend(self, text):
        """Add ``text`` to the message (what was done about the failure, what to check)."""
        self.message += text
        self.args = (self.message,)

    def as_result(self):
        """The fields a module adds to ``fail_json``."""
        result = {"msg": self.message}
        if self.code is not None:
            result["libvirt_error"] = {
                "code": self.code,
                "code_name": _code_names().get(self.code),
                "domain": self.domain,
                "domain_name": _domain_names().get(self.domain),
                "message": self.libvirt_message,
            }
        return result


class Unanswered(VirtError):
    """A libvirt call that had not returned when its caller stopped waiting (:func:`within`)."""


def within(seconds, action, func, *args):
    """``func(*args)``, a libvirt call, waited for at most ``seconds``: its value, or a
    :class:`VirtError` naming ``action`` (an :class:`Unanswered` one when it has not returned).

    A libvirt call cannot be interrupted: one that overruns goes on in a daemon thread, and the
    caller decides what to do without it.  libvirt waits on a QEMU monitor without a limit (an
    abort of a migration once waited 28 minutes for QEMU to answer)."""
    outcome = {}

    def call():
        try:
            outcome["value"] = func(*args)
        except libvirt.libvirtError as err:
            outcome["error"] = err

    worker = threading.Thread(target=call, name=action, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Unanswered("Failed to %s: libvirt had not answered after %gs" % (action, seconds))
    if "error" in outcome:
        raise wrap_libvirt_error(action, outcome["error"])
    return outcome.get("value")


class Undo:
    """Steps that undo what a task did, run in reverse (:meth:`rollback`) when a later step fails."""

    def __init__(self):
        self.steps = []

    def push(self, what, func):
        self.steps.append((what, func))

    def rollback(self):
        """Run the steps, newest first; returns what could not be undone, each with its error."""
        failures = []
        for what, func in reversed(self.steps):
            try:
                func()
            except (VirtError, libvirt.libvirtError) as err:
                failures.append("%s: %s" % (what, err))
        self.steps = []
        return failures


def describe_libvirt_error(action, err):
    """``Failed to <action>: <libvirt message> (code N VIR_ERR_..., domain M VIR_FROM_...)``."""
    code = err.get_error_code()
    domain = err.get_error_domain()
    text = err.get_error_message() or str(err)
    parts = ["code %s" % code]
    code_name = _code_names().get(code)
    if code_name:
        parts[0] += " " + code_name
    if domain is not None:
        dom_name = _domain_names().get(domain)
        parts.append("domain %s%s" % (domain, " " + dom_name if dom_name else ""))
    return "Failed to %s: %s (%s)" % (action, text, ", ".join(parts))


def wrap_libvirt_error(action, err):
    """Turn a ``libvirtError`` into a :class:`VirtError` naming ``action``."""
    return VirtError(
        describe_libvirt_error(action, err),
        code=err.get_error_code(),
        domain=err.get_error_domain(),
        libvirt_message=err.get_error_message(),
    )


@contextlib.contextmanager
def attempt(action):
    """Run a block of libvirt calls; a ``libvirtError`` becomes a VirtError.

    ``action`` says what was attempted, with the object, e.g.
    ``"start vm web1 on qemu+tcp://10.0.0.2/system"``.
    """
    try:
        yield
    except libvirt.libvirtError as err:
        raise wrap_libvirt_error(action, err) from err


def attempting(action_template):
    """Decorator form of :func:`attempt`.

    ``action_template`` is formatted with the call's keyword arguments and
    ``self`` (if any), so ``@attempting("migrate vm {self.name} to {dest_uri}")``
    reads naturally at the definition.
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except libvirt.libvirtError as err:
                fields = dict(kwargs)
                if args:
                    fields.setdefault("self", args[0])
                try:
                    action = action_template.format(**fields)
                except (KeyError, AttributeError, IndexError):
                    action = action_template
                raise wrap_libvirt_error(action, err) from err

        return wrapper

    return decorate


def is_not_found(err):
    """True when ``err`` (a libvirtError) means the object does not exist."""
    return err.get_error_code() in NOT_FOUND_CODES


def lookup(action, func, *args):
    """Call a libvirt lookup; ``None`` when the object does not exist.

    Only libvirt's *not found* codes give ``None``; any other error (lost
    connection, permission denied) is raised as a VirtError naming ``action``.
    An error that arrives without its code is asked once more: libvirt-python reads the
    error after the call returned, and an object freed in between (a Python destructor
    calling libvirt) resets it, so "not found" can come back as an error with no code.
    """
    for attempt in (1, 2):
        try:
            return func(*args)
        except libvirt.libvirtError as err:
            if is_not_found(err):
                return None
            if attempt == 1 and err.get_error_code() is None:
                continue    # the lookup only reads: asking again is safe
            raise wrap_libvirt_error(action, err) from err
    return None  # not reached: the second attempt returns or raises


def lookup_domain(conn, name):
    """The domain called ``name`` (or with that UUID string), or ``None``."""
    return lookup("look up vm %s on %s" % (name, safe_uri(conn)), conn.lookupByName, name)


def lookup_network(conn, name):
    return lookup("look up network %s on %s" % (name, safe_uri(conn)), conn.networkLookupByName, name)


def lookup_pool(conn, name):
    return lookup("look up storage pool %s on %s" % (name, safe_uri(conn)), conn.storagePoolLookupByName, name)


def lookup_volume(pool, name):
    return lookup("look up volume %s in pool %s" % (name, pool.name()), pool.storageVolLookupByName, name)


# libvirt refuses to refresh a pool while a volume of it is being made, copied or uploaded; the
# job ends by itself, so a refresh waits for it (a migration's probe next to another's copy).
POOL_BUSY = "asynchronous jobs running"


def refresh_pool(pool, timeout=60.0, clock=None, sleep=None):
    """``pool.refresh(0)``, waiting up to ``timeout`` seconds while another job holds the pool.

    Raises ``libvirt.libvirtError`` as refresh does, for any other error or when the pool stays busy.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    while True:
        try:
            return pool.refresh(0)
        except libvirt.libvirtError as err:
            if POOL_BUSY not in (err.get_error_message() or "") or clock() >= deadline:
                raise
        sleep(0.2)


def safe_uri(conn):
    try:
        return conn.getURI()
    except Exception:  # pylint: disable=broad-except  # only used inside messages
        return "<unknown uri>"


@contextlib.contextmanager
def connected(uri=DEFAULT_URI, readonly=False):
    """``with connected(uri) as conn:`` a connection (:func:`connect`), closed after."""
    conn = connect(uri, readonly=readonly)
    try:
        yield conn
    finally:
        conn.close()


def connect(uri=DEFAULT_URI, readonly=False):
    """Open a libvirt connection, or raise a VirtError saying why not.

    The message names the URI and what to check, because "unable to connect"
    is the first error every operator meets.
    """
    require_libvirt()
    uri = uri or DEFAULT_URI
    # libvirt prints its errors on stderr by default; modules report them instead.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    try:
        if readonly:
            return libvirt.openReadOnly(uri)
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        wrapped = wrap_libvirt_error("connect to libvirt at %s" % uri, err)
        wrapped.extend(
            ". Check that the host is reachable, that libvirtd is running there and"
            " listening for this transport, and that the URI is right"
        )
        raise wrapped from err


def require_libvirt():
    if libvirt is None:
        raise VirtError(
            "The libvirt Python bindings are not installed for %s: install the libvirt-python"
            " package from PyPI or python3-libvirt from your distribution" % _interpreter()
        )


def _interpreter():
    import sys

    return sys.executable or "this Python"


def libvirt_version_tuple(number):
    """libvirt packs versions as major*1000000 + minor*1000 + micro."""
    return (number // 1000000, (number // 1000) % 1000, number % 1000)


def libvirt_version_string(number):
    return "%d.%d.%d" % libvirt_version_tuple(number)
