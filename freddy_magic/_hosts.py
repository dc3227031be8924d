"""The two official hosts, and the hint for when the one nobody chose cannot be reached.

The seed docs page names ``https://api.freddy.aitronos.com``; the official SDK and the newest
docs use ``https://api.aitronos.com`` (the same API, as far as anything published says). The
client defaults to the first. When that default was not the user's choice and the connection
fails, the error names the other host and the variable that picks it, so a user whose network
or account only knows one of them is not left guessing. A host the user set is never second-
guessed.
"""

from __future__ import annotations

from ._payloads import DEFAULT_BASE_URL

OFFICIAL_BASE_URLS = (DEFAULT_BASE_URL, "https://api.aitronos.com")
BASE_URL_ENV = "FREDDY_BASE_URL"


def other_official(base_url: str) -> str | None:
    """The other official host when ``base_url`` is one of them, else None."""
    if base_url not in OFFICIAL_BASE_URLS:
        return None
    return next(url for url in OFFICIAL_BASE_URLS if url != base_url)


def unchosen_host_hint(base_url: str) -> str | None:
    """The sentence added to a connection failure on a host the user did not choose."""
    other = other_official(base_url)
    if other is None:
        return None
    return (
        f"; {base_url} is the default host, not one you chose: the API is also served at {other}, "
        f"set {BASE_URL_ENV}={other} (or FreddyMagics.base_url) to use it"
    )
