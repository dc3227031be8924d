"""Per-call overhead of FreddyClient.create_response vs a raw requests.Session post (DESIGN §7).

Both sides hit the same sandbox route with the same body and key, alternating call by call so
drift in the machine's load hits both equally; the raw side also decodes the JSON, because a
caller always does. The target is a median ratio <= 1.05. A second raw baseline with
``trust_env=False`` (what the client uses, for security) is shown too, so the comparison is
honest about where a difference comes from.

    .venv/bin/python benchmarks/client_overhead.py [--calls 200] [--json]
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

PROMPT = "Explain overhead in one line."
MODEL = "ftg-3.0"


def measure(calls):
    with Sandbox(rate_limit=None) as sb:
        client = FreddyClient(sb.url, Credential.api_key(sb.api_key))
        url = sb.url + "/v1/model/response"
        body = {"inputs": [{"role": "user", "content": PROMPT}], "model": MODEL}
        headers = {"api-key": sb.api_key}
        raw = requests.Session()
        bare = requests.Session()
        bare.trust_env = False

        def raw_call(session):
            resp = session.post(url, json=body, headers=headers, timeout=(10, 120))
            resp.raise_for_status()
            return resp.json()

        def client_call():
            return client.create_response(PROMPT, model=MODEL)

        for _ in range(20):  # warm the pools, caches and the server
            raw_call(raw), raw_call(bare), client_call()
        times = {"raw": [], "raw_trust_env_off": [], "client": []}
        clock = time.perf_counter
        for _ in range(calls):
            for name, fn in (("raw", lambda: raw_call(raw)), ("client", client_call),
                             ("raw_trust_env_off", lambda: raw_call(bare))):
                start = clock()
                fn()
                times[name].append(clock() - start)
        client.close()
    med = {name: statistics.median(v) for name, v in times.items()}
    return {
        "calls": calls,
        "median_ms": {k: round(v * 1000, 3) for k, v in med.items()},
        "ratio_vs_raw_session": round(med["client"] / med["raw"], 3),
        "ratio_vs_raw_trust_env_off": round(med["client"] / med["raw_trust_env_off"], 3),
        "target": 1.05,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.calls)
    if args.json:
        print(json.dumps(result))
        return
    med = result["median_ms"]
    print(f"median of {args.calls} alternating calls to POST /v1/model/response on the sandbox")
    print(f"  raw requests.Session().post + .json()      {med['raw']:.3f} ms")
    print(f"  raw Session(trust_env=False).post + .json() {med['raw_trust_env_off']:.3f} ms")
    print(f"  FreddyClient.create_response              {med['client']:.3f} ms")
    print(f"  ratio vs raw Session: {result['ratio_vs_raw_session']:.3f} "
          f"(vs trust_env=False: {result['ratio_vs_raw_trust_env_off']:.3f}); target <= 1.05")


if __name__ == "__main__":
    main()
