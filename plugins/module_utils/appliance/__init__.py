# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Appliances in and out: OVF descriptors (VMware and VirtualBox dialects), OVA archives,
manifests, disk image formats and their conversion with ``qemu-img``.

``ovf``, ``ovf_build``, ``manifest``, ``images`` (command lines) and ``plan`` are plain
Python without libvirt or Ansible; ``archive`` reads and writes files; ``import_ops``
and ``export_ops`` are the halves that run ``qemu-img`` and talk to libvirt.
"""
