# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host and VM specs shared by the tests of the pure VM code (vm_spec, vm_host, vm_xml, vm_plan)."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx

CAPS = """<capabilities><host/>
  <guest><os_type>hvm</os_type><arch name='x86_64'>
    <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine><machine maxCpus='255'>pc-i440fx-7.2</machine>
    <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine><machine maxCpus='288'>pc-q35-7.2</machine>
    <domain type='qemu'/><domain type='kvm'/></arch></guest>
  <guest><os_type>hvm</os_type><arch name='i686'>
    <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine><domain type='qemu'/></arch></guest>
</capabilities>"""
HOST = vh.parse_capabilities(CAPS, ["x86_64", 8192, 4, 2400, 1, 1, 4, 1])


def params(**kwargs):
    base = {"name": "vm1"}
    base.update(kwargs)
    return base


def spec(**kwargs):
    return vs.validate(params(**kwargs))


def build(creating=True, root=None, os_profile="linux", **kwargs):
    s = spec(**kwargs)
    resolved = vh.check_host(s, HOST)
    resolved["os"] = s["os"] or os_profile
    defaults = vx.profile_defaults(resolved["os"], s["virtio"])
    if s["disks"] is not None:
        disks = vx.assign_targets(s["disks"], defaults["bus"])
        for d in disks:
            d["path"] = d["path"] or "/pool/%s" % d["volume"]
            d["format"] = d["format"] or "qcow2"
        resolved["disks"] = disks
    if s["interfaces"] is not None:
        resolved["interfaces"] = [dict(n, model=n["model"] or defaults["model"]) for n in s["interfaces"]]
    if root is None:
        root = vx.skeleton(s["name"], resolved["domain_type"])
    return vx.apply(root, s, resolved, creating=creating)


FULL = dict(vcpus=2, max_vcpus=4, memory="256MiB", max_memory="1GiB", machine="q35", cpu={"mode": "host-passthrough"},
            disks=[{"pool": "p", "volume": "a.qcow2", "size": "1GiB"}, {"path": "/iso/x.iso", "device": "cdrom"},
                   {"pool": "p", "volume": "b.raw", "format": "raw", "cache": "none", "boot_order": 2}],
            interfaces=[{"network": "default"}, {"bridge": "br0", "mac": "52:54:00:00:00:01"}],
            graphics="vnc", tags=["web"], owner="me", description="hello")


def plan_for(running=True, base=None, **kwargs):
    before = build(**(base or FULL))
    after = build(root=dx.clone(before), creating=False, **kwargs)
    return {c["field"]: c["apply"] for c in vp.plan(vp.summarise(before), vp.summarise(after), running)}
