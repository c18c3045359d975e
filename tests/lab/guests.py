# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guests with no OS: tiny raw disks that SeaBIOS boots, built in code in milliseconds.

Kinds:

- ``idle``:  ``sti; hlt; jmp`` - the vCPU sleeps between timer interrupts.
- ``busy``:  ``jmp $`` - one vCPU at 100 %.
- ``dirty``: switches to 32-bit protected mode and writes one dword into every 4 KiB page
  from 1 MiB up to 1 MiB + ``dirty_mib``, forever: every page is dirty again within
  milliseconds, so a live migration with a low bandwidth limit does not converge.
- ``filled``: the same writes, once, then ``hlt`` with interrupts off: ``dirty_mib`` of the
  guest's memory hold data (a migration must send it), and then the guest idles.
"""

from __future__ import annotations

import os
import struct
from xml.sax.saxutils import escape, quoteattr

SECTOR = 512
IMAGE_SIZE = 1024 * 1024
BOOT_SIGNATURE = b"\x55\xaa"
KINDS = ("idle", "busy", "dirty", "filled")

IDLE_CODE = bytes.fromhex("fb f4 ebfd")     # sti; 1: hlt; jmp 1b
BUSY_CODE = bytes.fromhex("ebfe")           # jmp $

# Assembled with GNU as (--32, .code16 then .code32) from this source, loaded at 0x7c00:
#   cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00
#   in al,0x92; or al,2; and al,0xfe; out 0x92,al        fast A20 gate on
#   lgdt [gdt_desc]; mov eax,cr0; or al,1; mov cr0,eax; jmp dword 0x08:pm
# pm (32-bit): mov ax,0x10; mov ds/es/ss,ax; xor ebx,ebx
# outer: inc ebx; mov edi,0x100000
# again: mov [edi],ebx; add edi,4096; cmp edi,END; jb again; jmp outer
# gdt: null, flat 4 GiB code (0x08), flat 4 GiB data (0x10); gdt_desc: limit, base
DIRTY_CODE = bytes.fromhex(
    "fa31c08ed88ed0bc007ce4920c0224fe"
    "e692660f0116687c0f20c00c010f22c0"
    "66ea287c00000800" "66b810008ed88ec0"
    "8ed031db43bf00001000891f81c70010"
    "000081ff00009001" "72f0ebe8" "8d742600"
    "0000000000000000ffff0000009acf00"
    "ffff00000092cf00" "1700507c0000"
)
DIRTY_START = 0x100000
DIRTY_END_OFFSET = 0x44          # offset of END (little-endian imm32) in DIRTY_CODE
# ``filled``: ``jmp outer`` and the 4-byte alignment nop after it become ``1: hlt; jmp 1b``
# and nops (same length, so the GDT stays where its descriptor says).
FILLED_CODE = DIRTY_CODE.replace(bytes.fromhex("ebe88d742600"), bytes.fromhex("f4ebfd909090"))


def boot_sector(kind, dirty_mib=24):
    """The 512-byte boot sector of a guest of ``kind``."""
    if kind == "idle":
        code = IDLE_CODE
    elif kind == "busy":
        code = BUSY_CODE
    elif kind in ("dirty", "filled"):
        if not 1 <= dirty_mib <= 3000:
            raise ValueError("dirty_mib must be 1..3000")
        code = bytearray(DIRTY_CODE if kind == "dirty" else FILLED_CODE)
        code[DIRTY_END_OFFSET:DIRTY_END_OFFSET + 4] = struct.pack(
            "<I", DIRTY_START + dirty_mib * 1024 * 1024)
        code = bytes(code)
    else:
        raise ValueError(f"unknown guest kind {kind!r} (one of {', '.join(KINDS)})")
    return code.ljust(SECTOR - len(BOOT_SIGNATURE), b"\0") + BOOT_SIGNATURE


def make_image(path, kind, size=IMAGE_SIZE, dirty_mib=24):
    """Write a raw bootable disk image of ``kind`` (see :data:`KINDS`) at ``path``."""
    if size < SECTOR or size % SECTOR:
        raise ValueError("size must be a positive multiple of 512")
    sector = boot_sector(kind, dirty_mib)
    with open(path, "wb") as handle:
        handle.write(sector)
        handle.truncate(size)
    os.chmod(path, 0o644)
    return path


def domain_xml(name, disk_path, virt_type, memory_mib=64, vcpus=1, bus="virtio",
               uuid=None, machine="pc", extra_devices=""):
    """Libvirt domain XML for a headless guest booting ``disk_path`` (raw).

    No graphics element (``<graphics type='none'/>`` is invalid in libvirt 9.0); a serial
    console on a pty.  ``bus`` is ``virtio`` (vda) or ``ide`` (hda).
    """
    if virt_type not in ("kvm", "qemu"):
        raise ValueError("virt_type must be 'kvm' or 'qemu'")
    if bus not in ("virtio", "ide"):
        raise ValueError("bus must be 'virtio' or 'ide'")
    target = "vda" if bus == "virtio" else "hda"
    uuid_element = f"\n  <uuid>{escape(uuid)}</uuid>" if uuid else ""
    return f"""<domain type={quoteattr(virt_type)}>
  <name>{escape(name)}</name>{uuid_element}
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <currentMemory unit='MiB'>{int(memory_mib)}</currentMemory>
  <vcpu>{int(vcpus)}</vcpu>
  <os>
    <type arch='x86_64' machine={quoteattr(machine)}>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file={quoteattr(disk_path)}/>
      <target dev='{target}' bus='{bus}'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>{extra_devices}
  </devices>
</domain>
"""
