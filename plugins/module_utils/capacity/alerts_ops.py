# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's alerts, asked for: the answer of ``/api/v1/alerts`` (the alerts its rules hold now).

Beside :mod:`capacity.prometheus_ops`, which asks the query API through Ansible's ``open_url``
for modules: this one serves the ``group_load`` event source, which runs in ansible-rulebook
without Ansible's module code, so it uses the standard library (an operator's proxy settings
still apply: ``urllib`` honours ``https_proxy``/``no_proxy``).  Which hosts the answer names is
:func:`capacity.watch.firing_hosts`'s decision.
"""

from __future__ import annotations

import json
import urllib.request

DEFAULT_TIMEOUT = 5.0


def alerts(url, timeout=DEFAULT_TIMEOUT):
    """The decoded answer of Prometheus at ``url`` to ``GET /api/v1/alerts``; OSError when it
    cannot be reached (or answers with an HTTP error), ValueError when the answer is not JSON."""
    with urllib.request.urlopen(url.rstrip("/") + "/api/v1/alerts", timeout=timeout) as answer:  # nosec - the operator's URL
        return json.load(answer)
