# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An HTTP client that asks every 10 ms until a stop file appears, then prints one line of JSON:
requests made, failed (no answer within 2 s), the longest gap between two answers, seconds.

Used by playbooks/demo.yml (started as an async task before a host's maintenance, stopped after)::

    python3 http_probe.py http://198.18.0.5/index.html /tmp/stop [--max-seconds 900]

Connects time out after 0.2 s and are retried at once: TCP's own SYN retry waits 1 s, and a client
that waits for it measures TCP rather than the service.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import time
from urllib.parse import urlsplit

INTERVAL_S, REQUEST_S, CONNECT_S = 0.010, 2.0, 0.2


def fetch(host, port, path, deadline):
    """True when ``GET path`` was answered with 200 before ``deadline``."""
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, port, timeout=CONNECT_S)
        try:
            conn.connect()
            conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return True
        except (OSError, http.client.HTTPException, socket.timeout):
            time.sleep(0.005)
        finally:
            conn.close()
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url")
    parser.add_argument("stop_file")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    opts = parser.parse_args(argv)
    url = urlsplit(opts.url)
    host, port, path = url.hostname, url.port or 80, url.path or "/"
    started = time.monotonic()
    requests = failed = 0
    last = started
    longest = 0.0
    while not os.path.exists(opts.stop_file) and time.monotonic() - started < opts.max_seconds:
        begun = time.monotonic()
        requests += 1
        if fetch(host, port, path, begun + REQUEST_S):
            now = time.monotonic()
            longest, last = max(longest, now - last), now
        else:
            failed += 1
        time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - begun)))
    longest = max(longest, time.monotonic() - last)
    print(json.dumps({"requests": requests, "failed": failed, "longest_gap_s": round(longest, 3),
                      "seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
