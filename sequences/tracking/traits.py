"""What an identify's traits (or an event's context) say about the contact's profile (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from sequences.tracking.payloads import PayloadError

_TIME_ZONES = frozenset(available_timezones())


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    time_zone: str | None = None
    lifecycle_stage: str | None = None


def _text(traits: dict[str, Any], *keys: str, limit: int = 150) -> str | None:
    for key in keys:
        value = traits.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:limit]
    return None


def profile_from_traits(traits: dict[str, Any]) -> ProfileUpdate:
    """Segment's reserved traits (email, firstName, lastName, name) plus time zone and lifecycle stage.

    A malformed email or time zone is refused rather than stored, so a later send never goes to garbage.
    """
    email = _text(traits, "email", limit=254)
    if email is not None:
        try:
            validate_email(email)
        except ValidationError:
            raise PayloadError(f"traits.email {email!r} is not a valid email address.", "traits.email") from None
    first, last = _text(traits, "firstName", "first_name"), _text(traits, "lastName", "last_name")
    full = _text(traits, "name", limit=300)
    if full and not (first or last):
        first, _, rest = full.partition(" ")
        last = rest or None
    time_zone = _text(traits, "timezone", "time_zone", "timeZone", limit=64)
    if time_zone is not None and time_zone not in _TIME_ZONES:
        raise PayloadError(f"traits.timezone {time_zone!r} is not an IANA time zone.", "traits.timezone")
    stage = _text(traits, "lifecycle_stage", "lifecycleStage", limit=50)
    return ProfileUpdate(
        email=email.lower() if email else None,
        first_name=first,
        last_name=last,
        time_zone=time_zone,
        lifecycle_stage=stage.lower().replace(" ", "_") if stage else None,
    )


def time_zone_from_context(context: dict[str, Any]) -> str | None:
    """analytics.js sends the browser's IANA zone as context.timezone; ignore anything else."""
    value = context.get("timezone")
    return value if isinstance(value, str) and value in _TIME_ZONES else None
