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


def explain(error: FreddyError) -> str:
    """The error's first line, followed by what to do about it in this notebook (when known)."""
    lines = str(error).strip().splitlines()
    message = lines[0] if lines else type(error).__name__
    fix = remedy(type(error), error.code)
    return f"{message.rstrip('.')}. To fix: {fix}" if fix else message
