"""Performance targets of recordings: a replayed answer far below a sandbox call; lookup flat to 10,000 entries.

Method. The baseline is the call a replay stands in for: ``FreddyClient.create_response`` against a
sandbox in its own process (loopback, unlimited rate, no artificial latency), the cheapest real
round trip there is. The subject is the same request answered by :class:`Answers` from a loaded
recording: building the request key from the body the client would send, the lookup, and the
``Completion`` (whose fields are read from an entry that is cold in memory in a large recording).
Both interleave, 500 calls each after a warm-up; the ratio is median over median. For scale,
recordings of 100, 1,000 and 10,000 entries (each answer ~1 KB of text in ~40 timed pieces, like
a streamed paragraph) are written, loaded (wall time and tracemalloc peak) and looked up in (the
key built from the request, then the dictionary); lookup is flat when the 10,000-entry median is
within 1.2x of the 100-entry one.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import tracemalloc

import harness

from freddy_magic import Credential, FreddyClient
from freddy_magic._payloads import Completion
from freddy_magic._recording import Recorder, Recording, make_entry, request_key
from freddy_magic._replay import Answers

MODEL = "ftg-3.0"
WORDS = [
    "the",
    "a",
    "model",
    "answer",
    "explains",
    "light",
    "water",
    "energy",
    "plants",
    "leaves",
    "sugar",
    "air",
    "roots",
    "sun",
]


def _prompt(n):
    return f"Explain topic number {n} to a first-year student."


def _write(path, n):
    rng = random.Random(n)
    recorder = Recorder(path)
    for i in range(n):
        pieces = [" ".join(rng.choice(WORDS) for _ in range(4)) + " " for _ in range(40)]
        completion = Completion(
            text="".join(pieces),
            response_id=f"resp_{i:032x}",
            thread_id=f"thread_{i:032x}",
            stop_reason="end_turn",
            input_tokens=12,
            output_tokens=160,
            latency_s=1.5,
            ttft_s=0.3,
            model=MODEL,
        )
        deltas = [(0.3 + k * 0.03, piece) for k, piece in enumerate(pieces)]
        entry = make_entry(request_key(_prompt(i), {"model": MODEL}), completion, host="api.example", sandbox=False)
        recorder.write(entry.__class__(**{**entry.__dict__, "deltas": deltas}))
    recorder.close()


def _load(path):
    """The recording, the load's wall time, and its peak memory (traced in a second load: tracing
    slows the load it watches)."""
    started = time.perf_counter()
    recording = Recording.load(path)
    wall = time.perf_counter() - started
    tracemalloc.start()
    Recording.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return recording, wall, peak


def _lookups(recordings, calls):
    """Per size, the time to find the recorded answer to a random request: its key built from the
    body the client would send, then the lookup. Sizes interleave call by call, so whatever else
    the machine does falls on all of them alike."""
    rng = random.Random(7)
    samples = {n: [] for n in recordings}
    for _ in range(calls):
        for n, recording in recordings.items():
            prompt = _prompt(rng.randrange(n))
            started = time.perf_counter()
            found = recording.find(request_key(prompt, {"model": MODEL}))
            samples[n].append(time.perf_counter() - started)
            assert found is not None
    return {n: harness.Stat.of(values) for n, values in samples.items()}


def _versus_sandbox(recording, calls):
    answers = Answers(None, recording=recording)
    prompt = _prompt(0)
    with harness.sandbox_process() as info:
        client = FreddyClient(info["url"], Credential.api_key(info["api_key"]))
        for _ in range(20):
            client.create_response(prompt, model=MODEL)
            answers.create_response(prompt, model=MODEL)
        live, replay = [], []
        for i in range(calls):
            order = [(client, live), (answers, replay)][:: 1 if i % 2 else -1]
            for source, samples in order:
                started = time.perf_counter()
                source.create_response(prompt, model=MODEL)
                samples.append(time.perf_counter() - started)
        client.close()
    return harness.Stat.of(live), harness.Stat.of(replay)


def run(quick=False):
    sizes = [100, 1000] if quick else [100, 1000, 10000]
    calls = 100 if quick else 500
    loaded, recordings = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = os.path.join(folder, f"r{n}.jsonl")
            _write(path, n)
            recordings[n], wall, peak = _load(path)
            assert recordings[n].count == n and not recordings[n].skipped
            loaded[n] = (wall, peak, os.path.getsize(path))
    lookups = _lookups(recordings, calls * 4)
    live, replay = _versus_sandbox(recordings[sizes[-1]], calls)
    small, big = sizes[0], sizes[-1]
    flat = lookups[big].median / lookups[small].median
    wall, peak, size = loaded[big]
    return [
        harness.Result(
            bench="replay: a recorded answer vs a sandbox call (non-streamed)",
            target="far below a sandbox call (<= 0.1x)",
            baseline=f"`FreddyClient.create_response` to an out-of-process sandbox: {live.fmt(digits=3)}",
            measured=f"replayed from a {big:,}-entry recording: {replay.fmt(digits=3)}",
            result=f"{replay.median / live.median:.3f}x",
            verdict=harness.verdict(replay.median / live.median <= 0.1),
            n=f"2x{live.n}",
        ),
        harness.Result(
            bench="replay: lookup cost from 100 to 10,000 entries",
            target=f"flat (<= 1.2x from {small:,} to {big:,} entries)",
            baseline=f"{small:,} entries: {lookups[small].fmt(unit='µs', scale=1e6)}",
            measured="; ".join(f"{n:,}: {lookups[n].fmt(unit='µs', scale=1e6)}" for n in sizes),
            result=f"{flat:.2f}x",
            verdict=harness.verdict(flat <= 1.2),
            n=f"{len(sizes)}x{lookups[small].n}",
        ),
        harness.Result(
            bench=f"replay: loading a {big:,}-entry recording",
            target="info",
            baseline=f"file {size / 2**20:.1f} MiB",
            measured=f"load {wall:.2f} s, peak memory {peak / 2**20:.1f} MiB",
            result=f"{peak / size:.1f}x the file's size; {wall / big * 1e6:.0f} µs per entry",
            verdict="info",
            n="1",
        ),
    ]


if __name__ == "__main__":
    harness.main(run)
