# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_init: the option checked, the NoCloud documents it writes, the seed's stable hash."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.storage import iso9660
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly+a+test+key ops@example"


def cloud_config(text):
    assert text.startswith("#cloud-config\n")
    return json.loads(text.split("\n", 1)[1])


def test_typed_options_make_the_three_documents():
    config = cloud_init.validate({"hostname": "web1.example.org", "users": [{"name": "ops", "ssh_authorized_keys": [KEY],
                                                                             "sudo": "ALL=(ALL) NOPASSWD:ALL", "groups": ["adm", "sudo"]}],
                                  "network": [{"mac": "52:54:00:AA:00:01", "addresses": ["192.0.2.10/24"], "gateway": "192.0.2.1",
                                               "nameservers": ["192.0.2.53"]}]}, "web1")
    files = cloud_init.seed_files(config)
    assert json.loads(files["meta-data"]) == {"instance-id": "web1", "local-hostname": "web1.example.org"}
    assert cloud_config(files["user-data"]) == {
        "hostname": "web1", "fqdn": "web1.example.org",
        "users": [{"name": "ops", "ssh_authorized_keys": [KEY], "sudo": "ALL=(ALL) NOPASSWD:ALL", "groups": "adm, sudo"}]}
    assert json.loads(files["network-config"]) == {"version": 2, "ethernets": {"nic0": {
        "match": {"macaddress": "52:54:00:aa:00:01"}, "set-name": "eth0", "dhcp4": False, "addresses": ["192.0.2.10/24"],
        "routes": [{"to": "default", "via": "192.0.2.1"}], "nameservers": {"addresses": ["192.0.2.53"]}}}}


def test_default_user_keys_keep_the_default_user():
    config = cloud_init.validate({"users": [{"name": "ops"}], "ssh_authorized_keys": [KEY]}, "vm")
    assert cloud_config(cloud_init.seed_files(config)["user-data"])["users"] == ["default", {"name": "ops"}]


def test_raw_documents_pass_through_and_hostname_goes_to_meta_data():
    config = cloud_init.validate({"hostname": "db1", "user_data": "#!/bin/sh\necho hi\n", "instance_id": "db1-v2",
                                  "meta_data": {"public-keys": [KEY]}, "network_config": {"version": 1, "config": []}}, "db1")
    files = cloud_init.seed_files(config)
    assert files["user-data"] == "#!/bin/sh\necho hi\n"
    assert json.loads(files["meta-data"]) == {"instance-id": "db1-v2", "local-hostname": "db1", "public-keys": [KEY]}
    assert json.loads(files["network-config"]) == {"version": 1, "config": []}


def test_the_seed_is_an_iso_labelled_cidata_with_a_stable_hash():
    config = cloud_init.validate({"hostname": "a"}, "a")
    data, digest, files = cloud_init.seed(config)
    assert iso9660.read_files(data) == {k: v.encode() for k, v in files.items()}
    assert cloud_init.seed(cloud_init.validate({"hostname": "a"}, "a"))[1] == digest
    assert cloud_init.seed(cloud_init.validate({"hostname": "b"}, "a"))[1] != digest
    assert "network-config" not in files


def test_not_given_is_not_managed():
    assert cloud_init.validate(None, "vm") is None


@pytest.mark.parametrize("value,param", [
    ({"hostname": "bad_name"}, "cloud_init.hostname"),
    ({"hostname": "-x"}, "cloud_init.hostname"),
    ({"user_data": "#cloud-config\n", "users": [{"name": "a"}]}, "cloud_init.user_data"),
    ({"network_config": {"version": 2}, "network": [{"name": "eth0"}]}, "cloud_init.network_config"),
    ({"network_config": {"ethernets": {}}}, "cloud_init.network_config"),
    ({"users": [{"name": "Root!"}]}, "cloud_init.users[0].name"),
    ({"users": [{"name": "a"}, {"name": "a"}]}, "cloud_init.users"),
    ({"users": [{"name": "a", "ssh_authorized_keys": ["not a key"]}]}, "cloud_init.users[0].ssh_authorized_keys[0]"),
    ({"ssh_authorized_keys": ["ssh-rsa"]}, "cloud_init.ssh_authorized_keys[0]"),
    ({"network": [{}]}, "cloud_init.network[0]"),
    ({"network": [{"mac": "52:54:00:00:00:01", "name": "eth0"}]}, "cloud_init.network[0]"),
    ({"network": [{"mac": "zz"}]}, "cloud_init.network[0].mac"),
    ({"network": [{"name": "eth0", "addresses": ["192.0.2.10"]}]}, "cloud_init.network[0].addresses[0]"),
    ({"network": [{"name": "eth0", "addresses": ["300.0.2.10/24"]}]}, "cloud_init.network[0].addresses[0]"),
    ({"network": [{"name": "eth0", "dhcp": False}]}, "cloud_init.network[0]"),
    ({"network": [{"name": "eth0", "gateway": "x"}]}, "cloud_init.network[0]"),
    ({"instance_id": "a\nb"}, "cloud_init.instance_id"),
])
def test_refused(value, param):
    with pytest.raises(SpecError) as err:
        cloud_init.validate(value, "vm")
    assert str(err.value).startswith(param + ":")
