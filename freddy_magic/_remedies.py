"""What a notebook user can do about an error: the one table of remedies, keyed by class and code.

Library errors are neutral: ``FreddyClient`` runs in plain scripts, where "run %freddy_auth"
means nothing, so its messages say what happened and what the server said. The notebook knows
more: the fix is a magic. The magic boundary (:func:`._boundary.guarded`) appends the remedy found
here to the error's first line (``... To fix: run %freddy_auth ...``), chosen by the error's
class and ``code`` (the API's error code, or one of the local codes below for errors the
notebook layer raises itself). Every "how to authenticate" text of the extension lives in this
module, so a renamed option is one edit. The key and sign-in widgets show errors without a
remedy: the field ready for another try is the remedy there.

A lookup tries ``(class, code)`` along the class's MRO, then ``(class, None)`` along it; an entry
whose remedy is ``None`` means "the message already says everything".
"""

from __future__ import annotations

import re

from ._apierrors import SUSPENDED_CODES
from ._errors import AuthError, FreddyError, NotAuthenticated, NotRecorded, PermissionDenied

# Local codes: errors the notebook layer raises before anything reaches the API.
NO_PROMPT = "no_prompt"  # no widget front end and no stdin: asking for a key would hang
NO_KEY_IN_ENV = "no_key_in_env"  # %freddy_auth --env found no key
CANCELLED = "cancelled"  # the user gave up at a prompt; nothing changed
NO_LOGIN_PENDING = "no_login_pending"  # a code arrived with no sign-in waiting for it

CONNECT = (
    "run %freddy_auth (key widget), or set FREDDY_API_KEY (env or .env) and run "
    "%freddy_auth --env, or run %freddy_auth --sandbox for the offline sandbox"
)
HEADLESS = (
    "set FREDDY_API_KEY in the environment or a .env file and run %freddy_auth --env, "
    "or run %freddy_auth --sandbox (%config FreddyMagics.key_prompt = 'widget' forces "
    "the widget)"
)
NEW_KEY = "run %freddy_auth to enter a valid key (or set FREDDY_API_KEY and run %freddy_auth --env)"
SIGN_IN = "sign in again with %freddy_auth --login"
ORGANIZATION = (
    "set %config FreddyMagics.organization_id (or FREDDY_ORGANIZATION_ID) to an "
    "organization you belong to, or leave it empty, then run %freddy_auth again"
)

REMEDIES: dict[tuple[type[FreddyError], str | None], str | None] = {
    (NotAuthenticated, None): CONNECT,
    (NotAuthenticated, NO_PROMPT): HEADLESS,
    (NotAuthenticated, NO_KEY_IN_ENV): "set it there, or run %freddy_auth for the key widget, "
    "or %freddy_auth --sandbox",
    (NotAuthenticated, CANCELLED): None,
    (NotAuthenticated, NO_LOGIN_PENDING): "run %freddy_auth --login again",
    (AuthError, None): "run %freddy_auth to enter a valid key, or %freddy_auth --login to sign in again",
    (AuthError, "AUTHENTICATION_REQUIRED"): CONNECT,
    (AuthError, "INVALID_API_KEY"): NEW_KEY,
    (AuthError, "API_KEY_EXPIRED"): NEW_KEY,
    (AuthError, "API_KEY_DEACTIVATED"): NEW_KEY,
    (AuthError, "API_KEY_PAUSED"): "to use another key, run %freddy_auth",
    (AuthError, "TOKEN_EXPIRED"): SIGN_IN,
    (AuthError, "TOKEN_INVALID"): SIGN_IN,
    (AuthError, "TOKEN_MISSING_SUBJECT"): SIGN_IN,
    (AuthError, "INVALID_CREDENTIALS"): "check them and run %freddy_auth --login again",
    (PermissionDenied, None): "to connect with a key or account that has access, run %freddy_auth",
    (PermissionDenied, "ORGANIZATION_ACCESS_DENIED"): ORGANIZATION,
    # A suspended account is for support to fix; the message already says so.
    **{(PermissionDenied, code): None for code in sorted(SUSPENDED_CODES)},
    (FreddyError, "AMBIGUOUS_ORGANIZATION"): ORGANIZATION,
    (NotRecorded, None): "record it first (%freddy record PATH with a key), or replay with "
    "%freddy_auth --replay PATH --sandbox to have the sandbox answer what is missing, labelled",
}


def remedy(kind: type[FreddyError], code: str | None = None) -> str | None:
    """The notebook remedy for an error of class ``kind`` with ``code``, or None."""
    classes = [cls for cls in kind.__mro__ if issubclass(cls, FreddyError)]
    for key in [(cls, code) for cls in classes if code is not None] + [(cls, None) for cls in classes]:
        if key in REMEDIES:
            return REMEDIES[key]
    return None


# The library's error line is "<what happened>[ — server said: <text>][ [HTTP 401 CODE, trace_id=…]]";
# a person reads the first part, support needs the rest.
_PARTS = re.compile(r"^(?P<lead>.*?)(?: — server said: (?P<server>.*?))?(?: \[(?P<tag>[^\[\]]*)\])?$")
_UNKNOWN_MODEL = re.compile(r"\bmodel '([^']{1,100})' (?:is not available|not found|does not exist|is unknown)", re.I)
# Errors whose plain words differ from the server's: (class, code) -> (what happened, how to fix
# it in a cell, how to fix it in the sign-in prompt, where the code field is ready for another try)
_NEW_CODE = "run %freddy_auth --login for a new one"
_PLAIN: dict[tuple[type[FreddyError], str], tuple[str, str, str]] = {
    (AuthError, "INVALID_VERIFICATION_CODE"): (
        "Wrong code",
        "type the 4-digit code from the email again",
        "type the 4-digit code from the email again",
    ),
    (AuthError, "VERIFICATION_CODE_EXPIRED"): ("The code has expired", _NEW_CODE, "press Cancel and sign in again"),
    (FreddyError, "VERIFICATION_CODE_ALREADY_USED"): (
        "This code was already used",
        _NEW_CODE,
        "press Cancel and sign in again",
    ),
}


def plain(error: FreddyError, *, in_prompt: bool = False) -> tuple[str, str | None, str]:
    """``(what happened, how to fix it or None, technical details)`` in the user's words.

    The details (what the server said, the HTTP status, code and trace id) are for a bug report;
    they come last, so the first thing read is what to do. ``in_prompt``: for the key and
    sign-in widgets, where the field ready for another try is the remedy, so no magic is named.
    """
    lines = str(error).strip().splitlines()
    parts = _PARTS.match(lines[0] if lines else "")
    lead = (parts.group("lead") if parts else "").strip().rstrip(".") or type(error).__name__
    server, tag = (parts.group("server"), parts.group("tag")) if parts else (None, None)
    details = "; ".join(part for part in (server, tag) if part)
    unknown = _UNKNOWN_MODEL.search(lines[0] if lines else "")
    if unknown:
        return f"Unknown model '{unknown.group(1)}'", "see %freddy models", details
    for cls in type(error).__mro__:
        if (cls, error.code) in _PLAIN:
            lead, fix, prompt_fix = _PLAIN[(cls, error.code)]  # type: ignore[index]
            return lead, prompt_fix if in_prompt else fix, details
    return lead, None if in_prompt else remedy(type(error), error.code), details


def explain(error: FreddyError) -> str:
    """One line for the cell: what happened, what to do about it in this notebook, then the details."""
    lead, fix, details = plain(error)
    line = f"{lead}. To fix: {fix}" if fix and not fix.startswith("see ") else f"{lead}: {fix}" if fix else lead
    return f"{line} (details: {details})" if details else line
