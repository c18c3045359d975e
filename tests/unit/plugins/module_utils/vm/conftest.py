"""Fixtures of the vm tests that talk to libvirt's test driver."""

import pytest

import vm_driver  # tests/unit/vm_driver.py


@pytest.fixture
def conn(open_host, request):
    """A fresh connection to the test file's ``HOST`` (tests/data/vm/host.xml unless the file names
    another): every test starts from that file."""
    return open_host(getattr(request.module, "HOST", vm_driver.HOST))
