"""Performance target: a token expiring every second under 16 threads: 0 failed requests, 1 refresh per expiry.

Method: an in-process sandbox (its request counter ``sb.calls`` is the ground truth for
refreshes) issues access tokens that live 1 s. One ``FreddyClient`` signs in with the
two-step email-code login, which installs a refreshing bearer credential, and 16 threads then
share it, each sending ``create_response`` calls back to back for 6 s. Counted: failed calls
(any exception), calls to ``POST /v1/auth/refresh`` on the server, and the credential's own
refresh count.

What "1 refresh per expiry" means here: every token generation is refreshed exactly once,
however many threads find it old at the same moment (no thundering herd of 16). The client
refreshes proactively at 80 % of a token's life (``_expiry.Schedule``, a proportional margin),
so a 1 s token is replaced every 0.8 s. Met means: no failed call, as many server refresh
calls as credential refreshes (no duplicates), and between one refresh per lifetime and one
per 0.8 lifetime (+-1 for the run's edges). The baseline is the number of token lifetimes in
the run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import harness

THREADS = 16
LIFETIME = 1.0
PROACTIVE = 0.8  # auth.py refreshes at 80 % of a token's life


def run(quick=False):
    from freddy_magic._client import FreddyClient
    from freddy_magic.sandbox import Sandbox

    duration = 2.5 if quick else 6.0
    ok, failures = Counter(), Counter()
    with Sandbox(token_lifetime=LIFETIME, rate_limit=None) as sb:
        client = FreddyClient(base_url=sb.url)
        challenge = client.login(sb.email, sb.password)
        credential = client.verify(challenge, sb.outbox()[-1]["code"])
        refresh_before, refreshes_before = sb.calls("/v1/auth/refresh"), credential.refreshes
        start = threading.Event()
        deadline = [0.0]

        def worker(index):
            start.wait()
            while time.perf_counter() < deadline[0]:
                try:
                    client.create_response(f"ping {index}")
                    ok[index] += 1
                except Exception as exc:  # every kind of failure counts against the target
                    failures[type(exc).__name__] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        deadline[0] = t0 + duration
        start.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        server_refreshes = sb.calls("/v1/auth/refresh") - refresh_before
        client_refreshes = credential.refreshes - refreshes_before
        client.close()
    lifetimes = elapsed / LIFETIME
    # One refresh per token generation: between one per lifetime and one per 80 % of it, +-1 at the edges.
    lowest, highest = int(lifetimes) - 1, int(lifetimes / PROACTIVE) + 1
    failed = sum(failures.values())
    duplicates = server_refreshes - client_refreshes
    met = failed == 0 and duplicates == 0 and lowest <= server_refreshes <= highest
    return [
        harness.Result(
            bench=f"6. token expiring every {LIFETIME:g} s, {THREADS} threads",
            target="0 failed requests, 1 refresh per expiry",
            baseline=f"{lifetimes:.1f} token lifetimes in {elapsed:.1f} s",
            measured=f"{sum(ok.values())} requests, {failed} failed; {server_refreshes} server refreshes",
            result=f"{server_refreshes / lifetimes:.2f} refreshes per lifetime (allowed {lowest}..{highest} "
            f"refreshes: 1 per token, at 80 % of its life); {duplicates} duplicate refreshes",
            verdict=harness.verdict(met),
            n=f"{THREADS} threads x {duration:g} s",
            notes=[f"failures by type: {dict(failures) or 'none'}; credential refreshes {client_refreshes}"],
        )
    ]


if __name__ == "__main__":
    harness.main(run)
