"""``python -m freddy_magic check``: the live check from a terminal, with credentials from the environment.

It reads what the extension reads: ``FREDDY_API_KEY`` (the environment, then a ``.env`` file),
``FREDDY_BASE_URL``, ``FREDDY_ORGANIZATION_ID`` and ``FREDDY_MODEL``. ``--sandbox`` checks the
built-in sandbox instead, with no key. The report goes to stdout, the paid-call notice to stderr,
so ``> report.md`` keeps only what belongs in a bug report. Exit status: 0 when nothing differs,
1 when something does, 2 when the check could not start (no key, a bad base URL).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from ._errors import FreddyError, NotAuthenticated


def _announce(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def check(no_paid: bool, sandbox: bool, environ: Mapping[str, str]) -> int:
    from ._auth import Credential
    from ._check import run_check
    from ._client import FreddyClient
    from ._payloads import DEFAULT_BASE_URL
    from ._sources import find_key

    local = None
    if sandbox:
        from .sandbox import start_sandbox

        local = start_sandbox()
        key: str | None
        key, base = local.api_key, local.url
    else:
        key, source = find_key(environ=environ)
        if not key:
            why_not = f" ({source})" if source else ""
            raise NotAuthenticated(f"No FREDDY_API_KEY in the environment or a .env file{why_not}")
        base = environ.get("FREDDY_BASE_URL") or DEFAULT_BASE_URL
    credential = Credential.api_key(key)
    del key
    try:
        client = FreddyClient(
            base, credential, organization_id=None if sandbox else environ.get("FREDDY_ORGANIZATION_ID") or None
        )
        try:
            report = run_check(client, paid=not no_paid, model=environ.get("FREDDY_MODEL") or None, announce=_announce)
        finally:
            client.close()
    finally:
        credential.clear()
        if local is not None:
            local.stop()
    print(report.text(), flush=True)
    return 1 if report.differences else 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freddy_magic", description="A live check of your Freddy account.")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("check", help="a one-time live check of your account (at most 2 tiny paid calls)")
    one.add_argument("--no-paid", action="store_true", help="skip the two paid calls (answer and stream)")
    one.add_argument("--sandbox", action="store_true", help="check the built-in sandbox instead (no key)")
    args = parser.parse_args(argv)
    problem = None
    try:
        return check(args.no_paid, args.sandbox, os.environ if environ is None else environ)
    except FreddyError as exc:
        problem = str(exc)
    print(f"freddy_magic check: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
