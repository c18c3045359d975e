# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance record (a value-less libvirt secret), against a connection double that keeps
secrets the way libvirtd does: by usage, replacing the XML of an existing UUID, refusing a second
secret with the same usage.  The real daemon is exercised by tests/integration/test_maintenance.py;
the test driver has no secrets at all, which is checked here too."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as ms


class NoSecret(libvirt.libvirtError):
    def __init__(self):  # pylint: disable=super-init-not-called
        self.err = None

    def get_error_code(self):
        return libvirt.VIR_ERR_NO_SECRET

    def get_error_domain(self):
        return libvirt.VIR_FROM_SECRET

    def get_error_message(self):
        return "no secret"


class Secret:
    def __init__(self, conn, xml):
        self.conn, self.xml = conn, xml

    def UUIDString(self):  # noqa: N802  (libvirt's name)
        return ET.fromstring(self.xml).findtext("uuid")

    def XMLDesc(self, _flags=0):  # noqa: N802
        return self.xml

    def undefine(self):
        self.conn.secrets.remove(self)


class Conn:
    def __init__(self):
        self.secrets = []

    def getURI(self):  # noqa: N802
        return "fake:///system"

    def secretLookupByUsage(self, usage_type, usage_id):  # noqa: N802
        assert usage_type == libvirt.VIR_SECRET_USAGE_TYPE_VOLUME
        for secret in self.secrets:
            if ET.fromstring(secret.xml).findtext("usage/volume") == usage_id:
                return secret
        raise NoSecret()

    def secretDefineXML(self, xml, _flags=0):  # noqa: N802
        doc = ET.fromstring(xml)
        given = doc.findtext("uuid")
        usage = doc.findtext("usage/volume")
        for secret in self.secrets:
            if secret.UUIDString() == given:
                secret.xml = xml
                return secret
            assert ET.fromstring(secret.xml).findtext("usage/volume") != usage, "usage already used"
        if not given:
            ET.SubElement(doc, "uuid").text = str(uuid.uuid4())
        secret = Secret(self, ET.tostring(doc, encoding="unicode"))
        self.secrets.append(secret)
        return secret


def test_mark_read_clear():
    conn = Conn()
    assert ms.read(conn) is None and not ms.in_maintenance(conn)
    record = ms.mark(conn, reason="disk swap", moved=[{"vm": "a&b<c>", "to": "hv2"}], shutdown=["p"],
                     clock=lambda: 1234.5)
    assert record == {"state": "maintenance", "since": 1234.5, "reason": "disk swap",
                      "moved": [{"vm": "a&b<c>", "to": "hv2"}], "shutdown": ["p"]}
    assert ms.in_maintenance(conn)
    assert ms.read(conn) == record  # survives XML escaping
    # marking again replaces the record in the same secret
    ms.mark(conn, reason="again", clock=lambda: 2.0)
    assert len(conn.secrets) == 1 and ms.read(conn)["reason"] == "again"
    secret_xml = conn.secrets[0].xml
    assert "private='no'" in secret_xml or 'private="no"' in secret_xml
    assert ms.clear(conn)["reason"] == "again"
    assert conn.secrets == [] and not ms.in_maintenance(conn)
    assert ms.clear(conn) is None


def test_a_description_that_is_not_json_still_means_maintenance():
    conn = Conn()
    conn.secretDefineXML("<secret ephemeral='no' private='no'><description>set by hand</description>"
                         "<usage type='volume'><volume>hotiron-maintenance</volume></usage></secret>")
    assert ms.in_maintenance(conn)
    assert ms.read(conn)["note"] == "set by hand"


def test_test_driver_has_no_secrets(tmp_path):
    host = tmp_path / "host.xml"
    host.write_text("<node><cpu><mhz>1</mhz><model>x86_64</model><active>1</active><nodes>1</nodes>"
                    "<sockets>1</sockets><cores>1</cores><threads>1</threads></cpu><memory>1048576</memory></node>")
    conn = libvirt.open("test://%s" % host)
    assert not ms.in_maintenance(conn)
    with pytest.raises(lc.VirtError, match="mark test://.* as in maintenance: .*not supported"):
        ms.mark(conn)
