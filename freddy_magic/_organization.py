"""Which organization a connection's requests go to, and its name, for the status card.

Asked once at connect, from the caller's organization list (one call, allowed to API keys and
bearer tokens alike): the configured ``organization_id`` if any, else the only organization the
caller belongs to, which the server picks by itself. With several and none configured the
server refuses answers (``AMBIGUOUS_ORGANIZATION``), so the card says how to pick one rather
than naming a profile's "current" organization that answers would not go to. The id and the
name are kept apart: ids are treated like secrets by the recorder, names are only shown.

The list only feeds the status card: a key that works connects whatever it answers, so a
refused or misshapen list falls back to what is known without it (the configured id, or a
signed-in user's current organization from the profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import FreddyError

if TYPE_CHECKING:
    from ._client import FreddyClient

PICK = 'pick one with %config FreddyMagics.organization_id = "org_…", then run %freddy_auth again'
SERVER_CHOICE = "chosen by the server (set FreddyMagics.organization_id to pick one)"
_NAME_CHARS = 80  # a name is a label: a longer one is cut, never wrapped over the card


@dataclass(frozen=True)
class Organization:
    """``id``: where requests go (None: not known); ``name``: its name when the list gave one;
    ``members_of``: how many organizations the caller belongs to when none is chosen."""

    id: str | None = None
    name: str | None = None
    members_of: int = 0

    def shown(self) -> str:
        """``Acme Research (org_3f2a…)`` with the whole id: the card shortens it on screen."""
        if self.id is not None:
            return f"{self.name} ({self.id})" if self.name else self.id
        if self.members_of > 1:
            return f"not chosen: you belong to {self.members_of} organizations; {PICK}"
        return SERVER_CHOICE


def find_organization(client: FreddyClient) -> Organization:
    """The organization ``client``'s requests go to, named when the API says its name."""
    chosen = client.organization_id
    try:
        listed = client.organizations()
    except FreddyError:  # the list is only for the card: fall back to what is known without it
        return Organization(chosen or _profile_choice(client))
    ids = [org["id"] for org in listed if isinstance(org.get("id"), str)]
    if chosen is None and len(ids) == 1:
        chosen = ids[0]
    if chosen is None:
        return Organization(members_of=len(ids))
    return Organization(chosen, next((_name(org) for org in listed if org.get("id") == chosen), None))


def _profile_choice(client: FreddyClient) -> str | None:
    """A signed-in user's current organization (an API key has no profile: it is refused)."""
    credential = client.credential
    if credential is None or credential.method == "api-key":
        return None
    try:
        organization = client.me().get("current_organization_id")
    except FreddyError:
        return None
    return organization if isinstance(organization, str) else None


def _name(org: dict[str, Any]) -> str | None:
    name = org.get("name")
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())
    return (name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…") or None
