"""``python -m freddy_magic.sandbox``: run the sandbox in a terminal (or under a test/Binder).

Prints a banner with the URL and demo credentials (with ``--json`` the first stdout line is one
JSON object instead, and the banner goes to stderr), prints "emailed" login codes to stderr,
and stops cleanly with exit status 0 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from .._errors import ConfigError
from ._handle import Sandbox


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m freddy_magic.sandbox",
        description="Local stand-in of the Freddy API with deterministic fake models.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    p.add_argument("--token-lifetime", type=float, default=3600.0, metavar="S")
    p.add_argument("--rate-limit", default="100/60s", metavar="N/Ss", help="'none' disables limiting")
    p.add_argument("--latency-per-delta", type=float, default=0.0, metavar="S")
    p.add_argument("--latency-per-request", type=float, default=0.0, metavar="S")
    p.add_argument(
        "--pace",
        type=float,
        default=0.0,
        metavar="X",
        help="0 answers at once (default); 1 streams like a real model, each at its own speed; 2 twice as slow",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help='e.g. "POST /v1/model/response status=503 times=2", "/v1/models reset chance=0.2 times=forever" '
        "(repeatable)",
    )
    p.add_argument(
        "--dialect",
        choices=("classic", "current"),
        default=None,
        help="classic: today's shapes (default, or FREDDY_SANDBOX_DIALECT); current: the newest documented ones "
        "(data-only SSE frames, [DONE], heartbeats, no usage, no ftg-3.0)",
    )
    p.add_argument(
        "--json-invalid",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share (0 to 1) of JSON-mode answers made invalid, by a seeded draw (default 0)",
    )
    p.add_argument("--json", action="store_true", help="first stdout line: JSON with url and credentials")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def _banner(sb):
    return "\n".join(
        [
            "Freddy API sandbox (fake models, nothing leaves this machine)",
            f"  URL              {sb.url}",
            f"  API key          {sb.api_key}",
            f"  Login            {sb.email} / {sb.password}   (username: {sb.username})",
            f"  Organization     {sb.organization_id}",
            "  Login codes      printed below, and at GET /sandbox/outbox",
            f"  Dialect          {sb.dialect}",
            f"  Pace             {sb.pace:g} (0 answers at once; --pace 1 streams like a real model)",
            "",
            "Connect a notebook to this sandbox (%freddy_auth --sandbox would start another one, inside the kernel):",
            f"  before starting Jupyter:  export FREDDY_BASE_URL={sb.url} FREDDY_API_KEY={sb.api_key}",
            "                            then in the notebook: %load_ext freddy_magic and %freddy_auth",
            "  in a running notebook:    %load_ext freddy_magic",
            f'                            %config FreddyMagics.base_url = "{sb.url}"',
            "                            %freddy_auth --key   (paste the API key above into the field)",
            "Press Ctrl-C to stop.",
        ]
    )


def main(argv=None):
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("freddy_magic")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        sb = Sandbox(
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            token_lifetime=args.token_lifetime,
            rate_limit=args.rate_limit,
            latency_per_delta=args.latency_per_delta,
            latency_per_request=args.latency_per_request,
            pace=args.pace,
            verbose=args.verbose,
            faults=args.fault,
            dialect=args.dialect,
            json_invalid=args.json_invalid,
        )
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with sb:
        if args.json:
            print(json.dumps(sb.credentials()), flush=True)
            print(_banner(sb), file=sys.stderr, flush=True)
        else:
            print(_banner(sb), flush=True)
        while not done.wait(0.5):
            pass
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
