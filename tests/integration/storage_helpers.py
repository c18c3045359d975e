# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the storage, SAN and network integration tests.

A "marker" guest's boot sector writes a line to its second serial port (COM2,
a file on the host) and then idles: seeing the line proves the guest booted
from *that* disk, whatever format or transport the disk has.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lab"))

import guests  # noqa: E402  (tests/lab is not a package)

COM2 = 0x2F8


def marker_sector(text):
    """Boot sector: ``mov dx, 0x2f8`` then ``mov al, c; out dx, al`` per byte of ``text``\\n, then idle."""
    code = bytes([0xBA, COM2 & 0xFF, COM2 >> 8])
    for byte in text.encode("ascii") + b"\n":
        code += bytes([0xB0, byte, 0xEE])
    code += guests.IDLE_CODE
    if len(code) > 510:
        raise ValueError("marker text too long for one boot sector")
    return code.ljust(510, b"\0") + b"\x55\xaa"


def make_marker_image(path, text, size=4 * 1024 * 1024):
    with open(path, "wb") as handle:
        handle.write(marker_sector(text))
        handle.truncate(size)
    return path


def serial_log(name):
    """Path, inside a lab host, of the COM2 log of guest ``name``."""
    return f"/var/lib/libvirt/qemu/{name}-com2.log"


def outside_path(host, inside):
    """Path in this namespace of a file under /var/lib/libvirt of ``host``."""
    prefix = "/var/lib/libvirt/"
    assert inside.startswith(prefix), inside
    return os.path.join(host.state_dir, "lib-libvirt", inside[len(prefix):])


def marker_vm_xml(name, disk_xml, virt_type, interface_xml=""):
    """A 32 MiB guest booting from ``disk_xml`` (a whole <disk> element) with COM2 in a file."""
    xml = guests.domain_xml(name, "/nonexistent", virt_type, memory_mib=32)
    xml, count = re.subn(r"<disk type=.*?</disk>", disk_xml.strip(), xml, flags=re.S)
    assert count == 1
    extra = f"<serial type='file'><source path='{serial_log(name)}'/><target port='1'/></serial>\n    {interface_xml}"
    return xml.replace("<memballoon", extra + "\n    <memballoon")


def file_disk(path, fmt):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'/><target dev='vda' bus='virtio'/></disk>")


def wait_until(what, predicate, timeout=60.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_for_marker(host, name, text, timeout=60.0):
    """Wait until guest ``name`` on ``host`` wrote ``text`` on COM2; return the seconds it took."""
    path = outside_path(host, serial_log(name))
    started = time.monotonic()

    def seen():
        try:
            with open(path, "rb") as handle:
                return text.encode() in handle.read()
        except FileNotFoundError:
            return False

    wait_until(f"{name} on {host.name} to boot and print {text!r}", seen, timeout)
    return time.monotonic() - started


def remove_vm(conn, name):
    import libvirt  # pylint: disable=import-outside-toplevel

    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    persistent = dom.isPersistent()
    if dom.isActive():
        dom.destroy()
    if persistent:
        dom.undefine()


def remove_dir_pool(pool):
    """Tear down a test's pool (as made by ``Host.dir_pool``): delete every volume in it, then stop
    and undefine it."""
    pool.refresh()
    for vol in pool.listAllVolumes():
        vol.delete()
    pool.destroy()
    pool.undefine()


def write_play(tmp_path, name, plays):
    path = tmp_path / name
    path.write_text(json.dumps(plays, indent=1))  # JSON is YAML
    return str(path)


def task_results(run, task):
    return {r["host"]: r["result"] for r in run.for_task(task)}
