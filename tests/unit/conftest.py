"""Fixtures every unit test folder shares."""

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.module_utils import commands
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc


@pytest.fixture(scope="session")
def ansible_module():
    """A real AnsibleModule (no options): what programs run through, as in a module run."""
    with patch_module_args({}):
        return AnsibleModule(argument_spec={})


@pytest.fixture(autouse=True)
def bound_module(ansible_module):
    """Code that runs qemu-img or a fence agent finds a module bound, as module_base.run_module
    binds the module's own; bound again for every test (a test may have bound another)."""
    commands.bind(ansible_module)
    yield ansible_module


@pytest.fixture(autouse=True)
def as_on_a_managed_host(monkeypatch):
    """Modules run as on a managed host, where their warnings go into their result: importing
    controller code (the connection plugin's tests build a PlayContext) flags the process as the
    controller for good, and a module's warnings would then go to the controller's display."""
    monkeypatch.setattr(ansible_internal, "is_controller", False)


@pytest.fixture
def conn(open_host, request):
    """A fresh connection to the test file's ``HOST`` (a ``test:///<file>`` URI): every test starts
    from that file.  A file that needs more of its connection (a refresh, other hosts) defines its
    own ``conn``."""
    return open_host(request.module.HOST)


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
