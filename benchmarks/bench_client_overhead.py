"""Performance target: client overhead per non-streamed call <= 1.05x a raw ``requests.Session``.

Method: one sandbox in its own process (unlimited rate, no artificial latency), so what is
timed is the client-side cost plus a real loopback round trip, and the server's threads do not
share this interpreter's GIL. The baseline is what a careful user writes by hand: a
keep-alive ``requests.Session`` posting the very body the client would send (taken from
``client.request_preview``), with the same non-secret headers plus the key in both headers it travels in
(``X-API-Key`` and ``api-key``),
then ``raise_for_status()`` and ``.json()``. The client's session has ``trust_env`` off (no
proxy variables, no .netrc), which alone saves a default Session ~0.2 ms of
environment and .netrc lookups per request; so the target is judged against a raw Session
with ``trust_env`` off too, and a default Session is timed alongside for reference. The
subject is ``FreddyClient.create_response`` returning a ``Completion``. After a warm-up, the
three interleave with a rotating order (none always first), 500 calls each; the ratio is
median over median; the median of the per-round difference is the absolute overhead, and the
difference of the median CPU times (``thread_time``, immune to the server's and the machine's
scheduling noise) is the client's own work. The same is done for ``GET /v1/models``
(``client.models()``, with the same query string it sends), where the official SDK measures
2.0x. On loopback a round trip is ~1.1-1.6 ms, so 5 % is only 55-80 µs.
"""

from __future__ import annotations

import http.client
import time

import harness

PROMPT = "Say hello in one short sentence."
MODELS_QUERY = {"include_details": "false", "include_deprecated": "false"}  # what client.models() sends
SECRET_HEADERS = {"api-key", "x-api-key", "authorization"}


def _timed_rounds(fns, n):
    """n (wall, CPU) samples of each function, interleaved with a rotating order so none always goes first."""
    wall, cpu = [[] for _ in fns], [[] for _ in fns]
    for i in range(n):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            t, c = time.perf_counter(), time.thread_time()
            fns[j]()
            cpu[j].append(time.thread_time() - c)
            wall[j].append(time.perf_counter() - t)
    return wall, cpu


def _round_trips(url, key, n):
    """Bare ``http.client`` keep-alive round trips to ``GET /v1/models``: the floor under both sides."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port))
    samples = []
    for i in range(n + 20):
        t = time.perf_counter()
        connection.request("GET", "/v1/models", headers={"api-key": key})
        response = connection.getresponse()
        response.read()
        if i >= 20:
            samples.append(time.perf_counter() - t)
    connection.close()
    return harness.Stat.of(samples)


def _row(name, samples, verb):
    (default_t, tuned_t, ours_t), (_default_cpu, tuned_cpu, ours_cpu) = samples
    default_s, tuned_s, ours_s = (harness.Stat.of(x) for x in (default_t, tuned_t, ours_t))
    ratio = ours_s.median / tuned_s.median
    extra = harness.Stat.of(o - r for o, r in zip(ours_t, tuned_t))
    extra_cpu = harness.Stat.of(ours_cpu).median - harness.Stat.of(tuned_cpu).median
    return harness.Result(
        bench=name,
        target="<= 1.05x median",
        baseline=f"raw `requests.Session.{verb}`, trust_env off: {tuned_s.fmt(digits=3)}",
        measured=f"{ours_s.fmt(digits=3)}",
        result=f"{ratio:.3f}x ({extra.median * 1e6:+.0f} µs per call paired, {extra_cpu * 1e6:+.0f} µs CPU); "
        f"{ours_s.median / default_s.median:.3f}x a default Session",
        verdict=harness.verdict(ratio <= 1.05),
        n=f"3x{ours_s.n}",
        notes=[
            f"default `requests.Session()` (trust_env on: proxy/.netrc lookups per request): {default_s.fmt(digits=3)}"
        ],
    )


def run(quick=False):
    import requests

    from freddy_magic._auth import Credential
    from freddy_magic._client import FreddyClient

    n = 50 if quick else 500
    with harness.sandbox_process() as info:
        url, key = info["url"], info["api_key"]
        client = FreddyClient(base_url=url, credential=Credential.api_key(key))
        preview = client.request_preview(PROMPT)
        headers = {k: v for k, v in preview["headers"].items() if k.lower() not in SECRET_HEADERS}
        headers.update({"X-API-Key": key, "api-key": key})  # the key in both headers, as the client sends it
        default = requests.Session()
        tuned = requests.Session()
        tuned.trust_env = False  # as the client's own session: no proxy or .netrc lookups

        def raw_post(session):
            r = session.post(preview["url"], json=preview["json"], headers=headers, timeout=30)
            r.raise_for_status()
            return r.json()

        def raw_models(session):
            r = session.get(
                url + "/v1/models", params=MODELS_QUERY, headers={"X-API-Key": key, "api-key": key}, timeout=30
            )
            r.raise_for_status()
            return r.json()

        post_fns = [lambda: raw_post(default), lambda: raw_post(tuned), lambda: client.create_response(PROMPT)]
        models_fns = [lambda: raw_models(default), lambda: raw_models(tuned), client.models]
        assert post_fns[2]().text and post_fns[1]()
        for _ in range(20):
            for fn in post_fns + models_fns:
                fn()
        post = _timed_rounds(post_fns, n)
        models = _timed_rounds(models_fns, n)
        round_trip = _round_trips(url, key, n)
        client.close()
    return [
        _row("2a. client overhead, `POST /v1/model/response`", post, "post"),
        _row("2b. client overhead, `GET /v1/models`", models, "get"),
        harness.Result(
            bench="2c. reference: sandbox keep-alive round trip, `GET /v1/models`",
            target="about 1 ms (a Nagle/delayed-ACK stall would show ~40 ms)",
            baseline="",
            measured=round_trip.fmt(digits=3),
            result="bare `http.client`, one connection",
            verdict=harness.verdict(round_trip.median <= 0.002),
            n=str(round_trip.n),
        ),
    ]


if __name__ == "__main__":
    harness.main(run)
