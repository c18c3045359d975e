"""Fixtures every unit test folder shares."""

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc


@pytest.fixture
def open_host():
    """``open_host(uri)``: a connection to a test-driver host of the project's own (each
    connection to a ``test:///<file>`` has its own copy of the host), closed after the test."""
    opened = []

    def open_(uri):
        opened.append(lc.connect(uri))
        return opened[-1]

    yield open_
    for conn in opened:
        conn.close()
