# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's alerts, asked for (capacity.alerts_ops), from a stand-in Prometheus on loopback:
the answer decoded, an HTTP error or no server an OSError, an answer that is not JSON a ValueError
(the event source treats both as no alert this round)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import alerts_ops

ANSWER = {"status": "success", "data": {"alerts": [
    {"labels": {"alertname": "HotironHostCpuHigh", "host": "hv1"}, "state": "firing"}]}}


@pytest.fixture
def prometheus():
    """``(url, replies)``: a server answering GET /api/v1/alerts with ``replies["body"]``."""
    replies = {"status": 200, "body": json.dumps(ANSWER).encode()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            replies["path"] = self.path
            self.send_response(replies["status"])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(replies["body"])

        def log_message(self, *_args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_port, replies
    server.shutdown()
    server.server_close()


def test_the_answer_is_decoded(prometheus):
    url, replies = prometheus
    assert alerts_ops.alerts(url) == ANSWER and replies["path"] == "/api/v1/alerts"


def test_an_http_error_is_an_os_error(prometheus):
    url, replies = prometheus
    replies["status"] = 503
    with pytest.raises(OSError):
        alerts_ops.alerts(url)


def test_an_answer_that_is_not_json_is_a_value_error(prometheus):
    url, replies = prometheus
    replies["body"] = b"<html>not Prometheus</html>"
    with pytest.raises(ValueError):
        alerts_ops.alerts(url)


def test_no_server_is_an_os_error():
    with pytest.raises(OSError):
        alerts_ops.alerts("http://127.77.250.250:1", timeout=5)
