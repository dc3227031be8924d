"""When a token is due: its lifetime and the refresh timetable derived from it.

Kept apart from the credential holder so the timing rules read on their own:
margins proportional to the lifetime, deadlines on the monotonic clock, and the JWT ``exp``
read only to schedule, never to authorise.
"""

from __future__ import annotations

from collections.abc import Callable


def jwt_lifetime(token: str, wall: Callable[[], float]) -> float | None:
    """Seconds until the JWT ``exp`` by the local wall clock, or None for opaque tokens.

    The signature is not checked: the claim only schedules a refresh, it never authorises.
    """
    import jwt  # lazy: only bearer credentials need it

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not -1e15 < exp < 1e15:
        return None  # absent, not a number, NaN, or beyond any date (float() of a huge int overflows)
    return float(exp) - wall()


def jwt_type(token: str) -> str | None:
    """``"refresh"`` or ``"access"`` for a JWT (by its ``type`` claim; access when it has none),
    None for anything that is not a JWT, such as an API key. Unverified: it only picks the flow."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    if not isinstance(claims, dict):
        return None
    return "refresh" if claims.get("type") == "refresh" else "access"


class Schedule:
    """One token and its timetable, replaced as a whole so readers never see half an update."""

    __slots__ = ("deadline", "gen", "mandatory_at", "refresh_at", "token")

    token: str
    gen: int
    refresh_at: float | None
    mandatory_at: float | None
    deadline: float | None

    def __init__(self, token: str, gen: int, now: float, lifetime: float | None) -> None:
        self.token = token
        self.gen = gen
        if lifetime is None:
            self.refresh_at = self.mandatory_at = self.deadline = None
        else:
            # Proportional margins: a 1 s sandbox token and a 3-week token
            # both refresh well before expiry, and neither refreshes in a loop.
            self.deadline = now + lifetime
            self.refresh_at = self.deadline - min(300.0, 0.2 * lifetime)
            self.mandatory_at = self.deadline - min(60.0, 0.1 * lifetime)

    def postponed(self, refresh_at: float) -> Schedule:
        later = Schedule(self.token, self.gen, 0.0, None)
        later.refresh_at, later.mandatory_at, later.deadline = refresh_at, self.mandatory_at, self.deadline
        return later
