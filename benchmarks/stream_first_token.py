"""How much later the client yields the first streamed token than the first SSE byte arrives.

DESIGN §7 target: <= 5 ms. The raw side posts with requests and times the first non-empty read
from the socket; the client side times ``stream.text_deltas()``'s first item. Both start their
clock just before sending, alternate call by call, and the sandbox waits 50 ms before the stream
starts, so both measure the same server delay plus their own reading path.

    .venv/bin/python benchmarks/stream_first_token.py [--calls 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import requests

from freddy_magic.auth import Credential
from freddy_magic.client import FreddyClient
from freddy_magic.sandbox import Sandbox

PROMPT = "Stream a short answer."


def measure(calls):
    with Sandbox(rate_limit=None, latency_per_request=0.05, latency_per_delta=0.01) as sb:
        client = FreddyClient(sb.url, Credential.api_key(sb.api_key))
        session = requests.Session()
        url = sb.url + "/v1/model/response"
        body = {"inputs": [{"role": "user", "content": PROMPT}], "stream": True}
        headers = {"api-key": sb.api_key, "Accept": "text/event-stream"}

        def raw_first_byte():
            start = time.perf_counter()
            with session.post(url, json=body, headers=headers, stream=True, timeout=(10, 120)) as resp:
                while not resp.raw.read1(65536):
                    pass
                first = time.perf_counter() - start
                while resp.raw.read1(65536):
                    pass
            return first

        def client_first_token():
            start = time.perf_counter()
            with client.stream_response(PROMPT) as stream:
                next(stream.text_deltas())
                first = time.perf_counter() - start
                for _ in stream.text_deltas():
                    pass
            return first

        raw_first_byte(), client_first_token()
        raw, ours = [], []
        for _ in range(calls):
            raw.append(raw_first_byte())
            ours.append(client_first_token())
        client.close()
    raw_ms, ours_ms = statistics.median(raw) * 1000, statistics.median(ours) * 1000
    return {"calls": calls, "raw_first_byte_ms": round(raw_ms, 3),
            "client_first_token_ms": round(ours_ms, 3), "later_by_ms": round(ours_ms - raw_ms, 3),
            "target_ms": 5.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.calls)
    if args.json:
        print(json.dumps(result))
        return
    print(f"median of {args.calls} alternating streamed calls (sandbox waits 50 ms before streaming)")
    print(f"  raw: first SSE byte after      {result['raw_first_byte_ms']:.2f} ms")
    print(f"  client: first token after     {result['client_first_token_ms']:.2f} ms")
    print(f"  first token later by {result['later_by_ms']:.2f} ms; target <= 5 ms")


if __name__ == "__main__":
    main()
