"""Requests per second the sandbox serves over one keep-alive connection.

Usage: ``.venv/bin/python benchmarks/sandbox_rps.py [--requests 2000] [--runs 5]``

Measures ``GET /v1/models`` and a non-streamed ``POST /v1/model/response`` through a single
``requests.Session`` (so the connection is reused) and prints the median of several runs.
The sandbox runs in its own process (``python -m freddy_magic.sandbox --json``) so client and
server do not share a GIL; ``--in-process`` measures the thread-in-the-kernel setup instead.
A server that stalls on Nagle + delayed ACK shows up here as ~25 requests/second.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import statistics
import subprocess
import sys
import time

import requests

from freddy_magic.sandbox import Sandbox


def _rps(send, count):
    send()  # warm the connection and the code paths
    started = time.perf_counter()
    for _ in range(count):
        send()
    return count / (time.perf_counter() - started)


@contextlib.contextmanager
def _sandbox(in_process):
    """(url, api_key) of a sandbox with rate limiting off."""
    if in_process:
        with Sandbox(rate_limit=None) as sb:
            yield sb.url, sb.api_key
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "freddy_magic.sandbox", "--json", "--rate-limit", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        yield info["url"], info["api_key"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="run the sandbox on a thread of this process")
    args = parser.parse_args(argv)
    with _sandbox(args.in_process) as (url, api_key), requests.Session() as session:
        session.headers["api-key"] = api_key
        body = {"inputs": [{"role": "user", "content": "Explain keep-alive in one sentence."}]}

        def models():
            response = session.get(url + "/v1/models")
            assert response.status_code == 200, response.text

        def answer():
            response = session.post(url + "/v1/model/response", json=body)
            assert response.status_code == 200, response.text

        host, port = url.split("//", 1)[1].rsplit(":", 1)
        raw = http.client.HTTPConnection(host, int(port))
        payload = json.dumps(body)

        def raw_send(method, path, data=None):
            headers = {"api-key": api_key, "Content-Type": "application/json"}
            raw.request(method, path, body=data, headers=headers)
            response = raw.getresponse()
            response.read()
            assert response.status == 200

        cases = [
            ("GET /v1/models", "requests.Session", models),
            ("GET /v1/models", "http.client", lambda: raw_send("GET", "/v1/models")),
            ("POST /v1/model/response", "requests.Session", answer),
            ("POST /v1/model/response", "http.client", lambda: raw_send("POST", "/v1/model/response", payload)),
        ]
        for name, client, send in cases:
            runs = [_rps(send, args.requests) for _ in range(args.runs)]
            median = statistics.median(runs)
            print(
                f"{name:25s} {client:17s} median {median:6.0f} req/s  {1000 / median:5.2f} ms/request  "
                f"(runs: {', '.join(f'{r:.0f}' for r in runs)})"
            )
        raw.close()


if __name__ == "__main__":
    main()
