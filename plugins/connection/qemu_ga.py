# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: qemu_ga
short_description: Run tasks inside a VM through its QEMU guest agent, without a network
version_added: 0.2.0
description:
  - Runs commands in a libvirt/QEMU VM with the guest agent's C(guest-exec) (stdout and stderr
    captured, C(guest-exec-status) polled until the process exits) and moves files with
    C(guest-file-open), C(guest-file-read), C(guest-file-write) and C(guest-file-close), in chunks
    of O(chunk_size). The VM needs no network, no SSH and no account, only a running
    C(qemu-guest-agent) and the agent channel C(org.qemu.guest_agent.0) in its definition.
  - The controller reaches the VM's hypervisor with libvirt at O(uri) (any transport, such as
    C(qemu+ssh://), C(qemu+tls://), C(qemu:///system)).
  - The inventory plugin P(hotiron.virt.libvirt#inventory) sets this connection, the URI and the
    VM's name for each VM with its option C(agent_connection).
  - Commands run as the agent's user (root on Linux); C(become) works as with SSH. Pipelining
    (O(pipelining)) sends modules as the command's standard input, saving the file transfers.
  - Linux and other POSIX guests with a shell at O(executable); not Windows guests.
author:
  - hotiron.virt contributors (@hotiron-virt)
requirements:
  - libvirt-python (PyPI) or python3-libvirt on the controller (C(libvirt_qemu)).
  - qemu-guest-agent running in the guest, with C(guest-exec) and C(guest-file-*) not blocked.
notes:
  - While the guest's file systems are frozen (a quiesced snapshot or backup in progress) the agent
    refuses C(guest-exec), and tasks fail with the agent's message until they are thawed.
  - The agent keeps at most 16 MiB of each output stream; a task whose output was cut fails saying so.
  - A command still running after O(exec_timeout) fails the task and is left running in the guest
    (the agent of QEMU 7.2 has no command to stop it).
extends_documentation_fragment:
  - connection_pipelining
options:
  uri:
    description: The libvirt URI of the hypervisor running the VM.
    type: str
    default: qemu:///system
    vars:
      - name: ansible_libvirt_uri
      - name: hotiron_qemu_ga_uri
  domain:
    description:
      - The libvirt name of the VM. By default the inventory name of the host.
    type: str
    vars:
      - name: inventory_hostname
      - name: hotiron_qemu_ga_domain
  agent_timeout:
    description:
      - Seconds each agent command (one poll, one chunk) may take (1 to 600), plus one second per
        64 KiB it carries. A guest under TCG on a busy host can take seconds to answer.
    type: int
    default: 30
    vars:
      - name: hotiron_qemu_ga_agent_timeout
  exec_timeout:
    description: Seconds a command may run in the guest before the task fails (0 to 86400; V(0) waits as long as it runs).
    type: int
    default: 0
    vars:
      - name: hotiron_qemu_ga_exec_timeout
  chunk_size:
    description:
      - Bytes of data per agent request (C(guest-file-read), C(guest-file-write), standard input given
        to C(guest-exec)), 4096 to 1048576. Standard input larger than this (a pipelined module) is
        written to a file of the guest's C(/tmp) first, which the command reads and removes.
      - QEMU 7.2's agent never answered a request of 266 KB (and stayed stuck for the next one); one of
        66 KB took 0.04 s.
    type: int
    default: 49152
    vars:
      - name: hotiron_qemu_ga_chunk_size
  executable:
    description: The shell that runs each command line in the guest.
    type: str
    default: /bin/sh
    vars:
      - name: ansible_shell_executable
      - name: hotiron_qemu_ga_executable
"""

EXAMPLES = r"""
# vms.libvirt.yml: every running VM of two hypervisors, reached through its guest agent
# plugin: hotiron.virt.libvirt
# uris: [qemu+ssh://root@hv1/system, qemu+ssh://root@hv2/system]
# agent_connection: true

- name: Configure VMs that have no network yet
  hosts: state_running
  gather_facts: true
  tasks:
    - name: Put the network configuration in
      ansible.builtin.copy:
        src: 10-eth0.network
        dest: /etc/systemd/network/10-eth0.network
        mode: "0644"

# One VM by hand, without the inventory plugin
- name: A VM known by name
  hosts: web1
  vars:
    ansible_connection: hotiron.virt.qemu_ga
    ansible_libvirt_uri: qemu+tls://hv1.example.com/system
  tasks:
    - name: Its kernel
      ansible.builtin.command: uname -r
      changed_when: false
"""

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.hotiron.virt.plugins.module_utils.agent import agent_ops, protocol

display = Display()

RANGES = {"agent_timeout": (1, 600), "exec_timeout": (0, 86400),
          "chunk_size": (protocol.MIN_CHUNK, protocol.MAX_CHUNK)}


class Connection(ConnectionBase):
    """Tasks inside a VM through its QEMU guest agent."""

    transport = "hotiron.virt.qemu_ga"
    has_pipelining = True
    has_tty = False
    # Ansible would wrap commands with ansible_shell_executable itself; the plugin does it
    # (option executable), as guest-exec runs a program, not a command line.
    allow_executable = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._agent = None
        self._close = None

    def _option(self, name):
        value = self.get_option(name)
        low, high = RANGES[name]
        if not low <= value <= high:
            raise AnsibleError("hotiron.virt.qemu_ga: %s must be from %d to %d, got %d" % (name, low, high, value))
        return value

    def _domain(self):
        name = self.get_option("domain") or self._play_context.remote_addr
        if not name:
            raise AnsibleError("hotiron.virt.qemu_ga: no VM name (set hotiron_qemu_ga_domain)")
        return str(name)

    def _connect(self):
        if self._connected:
            return self
        uri, name = str(self.get_option("uri")), self._domain()
        timeout = self._option("agent_timeout")
        display.vvv("QEMU_GA CONNECT %s ON %s" % (name, uri), host=name)
        try:
            self._agent, self._close = agent_ops.open_agent(uri, name, timeout)
            self._agent.check_commands()
        except agent_ops.AgentError as err:
            self._disconnect()
            raise AnsibleConnectionFailure("hotiron.virt.qemu_ga: %s" % err) from None
        self._connected = True
        return self

    def _disconnect(self):
        if self._close is not None:
            self._close()
        self._agent = self._close = None
        self._connected = False

    def _fail(self, err, what):
        if isinstance(err, agent_ops.AgentUnreachable):
            raise AnsibleConnectionFailure("hotiron.virt.qemu_ga: %s: %s" % (what, err)) from None
        raise AnsibleError("hotiron.virt.qemu_ga: %s: %s" % (what, err)) from None

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        command = to_text(cmd, errors="surrogate_or_strict")
        display.vvv("QEMU_GA EXEC %s" % command, host=self._agent.where)
        try:
            rc, stdout, stderr, truncated = self._agent.run_shell(self.get_option("executable"), command, stdin=in_data,
                                                                  timeout=self._option("exec_timeout"),
                                                                  chunk_size=self._option("chunk_size"))
        except agent_ops.AgentError as err:
            self._fail(err, "run %r" % cmd)
        if truncated:
            raise AnsibleError("hotiron.virt.qemu_ga: the guest agent cut the %s of %r at 16 MiB"
                               % (" and ".join("std" + t for t in truncated), cmd))
        return rc, stdout, stderr

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv("QEMU_GA PUT %s TO %s" % (in_path, out_path), host=self._agent.where)
        try:
            with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
                self._agent.put(source, out_path, self._option("chunk_size"))
        except FileNotFoundError as err:
            raise AnsibleFileNotFound("hotiron.virt.qemu_ga: file or module does not exist: %s" % in_path) from err
        except agent_ops.AgentError as err:
            self._fail(err, "put %s to %s" % (in_path, out_path))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("QEMU_GA FETCH %s TO %s" % (in_path, out_path), host=self._agent.where)
        try:
            with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as target:
                self._agent.fetch(in_path, target, self._option("chunk_size"))
        except agent_ops.GuestFileNotFound as err:
            raise AnsibleFileNotFound("hotiron.virt.qemu_ga: %s" % err) from None
        except agent_ops.AgentError as err:
            self._fail(err, "fetch %s to %s" % (in_path, out_path))

    def reset(self):
        self.close()

    def close(self):
        self._disconnect()
