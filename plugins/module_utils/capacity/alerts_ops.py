# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's alerts, asked for: the answer of ``/api/v1/alerts`` (the alerts its rules hold now).

Beside :mod:`capacity.prometheus_ops`, which asks the query API for modules: this one serves the
``group_load`` event source.  Both go through Ansible's ``open_url`` (ansible-core is installed
wherever ansible-rulebook runs playbooks: the proxy and TLS settings are the same as the
modules').  Which hosts the answer names is :func:`capacity.watch.firing_hosts`'s decision.
"""

from __future__ import annotations

import json

from ansible.module_utils.urls import open_url

DEFAULT_TIMEOUT = 5.0


def alerts(url, timeout=DEFAULT_TIMEOUT):
    """The decoded answer of Prometheus at ``url`` to ``GET /api/v1/alerts``; OSError when it
    cannot be reached (or answers with an HTTP error), ValueError when the answer is not JSON."""
    with open_url(url.rstrip("/") + "/api/v1/alerts", timeout=timeout, follow_redirects="safe") as answer:
        return json.load(answer)
