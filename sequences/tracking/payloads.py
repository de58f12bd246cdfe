"""Segment HTTP Tracking API payloads: decoding and validation (pure, no Django).

msgspec decodes and type-checks a message in one pass (see bench/ingest.py for why not DRF serializers).
Unknown keys are accepted, as Segment accepts them: real clients send `integrations`, `_metadata`, `options`...
A decoded message becomes an `IncomingEvent`, the one shape the rest of the pipeline sees.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

# Identifiers may arrive as numbers from some SDKs; Segment stores them as strings.
Id = str | int


class _Message(msgspec.Struct, kw_only=True, tag_field="type"):
    userId: Id | None = None
    anonymousId: Id | None = None
    messageId: Id | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: dict[str, Any] = {}
    writeKey: str | None = None


class Track(_Message, tag="track"):
    event: str
    properties: dict[str, Any] = {}


class Page(_Message, tag="page"):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = {}


class Screen(_Message, tag="screen"):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = {}


class Identify(_Message, tag="identify"):
    traits: dict[str, Any] = {}


class Group(_Message, tag="group"):
    groupId: Id
    traits: dict[str, Any] = {}


class Alias(_Message, tag="alias"):
    previousId: Id


Message = Track | Page | Screen | Identify | Group | Alias
MESSAGE_TYPES: dict[str, type[_Message]] = {
    "track": Track,
    "page": Page,
    "screen": Screen,
    "identify": Identify,
    "group": Group,
    "alias": Alias,
}


class Batch(msgspec.Struct, kw_only=True):
    batch: list[msgspec.Raw]
    sentAt: datetime | None = None
    context: dict[str, Any] = {}
    writeKey: str | None = None


class WriteKeyOnly(msgspec.Struct):
    writeKey: str | None = None


class PayloadError(ValueError):
    """A message the API must refuse; `field` names the offending key where there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


MAX_ID_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = 200  # Event.message_id
MAX_NAME_LENGTH = 200
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)

_message_decoder = msgspec.json.Decoder(Message)
_batch_decoder = msgspec.json.Decoder(Batch)
_single_decoders = {name: msgspec.json.Decoder(cls) for name, cls in MESSAGE_TYPES.items()}
_write_key_decoder = msgspec.json.Decoder(WriteKeyOnly)


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A validated message, clock-corrected, ready to be attributed to a contact and stored."""

    type: str
    name: str
    user_id: str | None
    anonymous_id: str | None
    message_id: str
    occurred_at: datetime
    received_at: datetime
    sent_at: datetime | None
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    previous_id: str | None = None
    session_id: str | None = None


def _error_field(error: msgspec.ValidationError) -> str | None:
    # msgspec says "... - at `$.properties.price`"; report the path without "$.".
    text = str(error)
    if "at `$" in text:
        path = text.rsplit("at `$", 1)[1].rstrip("`")
        return path.lstrip(".") or None
    if "missing required field `" in text:
        return text.split("missing required field `", 1)[1].rstrip("`")
    return None


# A \\uD800-\\uDFFF escape (odd run of backslashes: a real escape), with the low half that may pair with it.
_SURROGATE_ESCAPE = re.compile(
    rb"(\\+)u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|(\\+)u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def _replace_surrogate(match: re.Match) -> bytes:
    if match.group(1) is not None:
        run, high, low = match.group(1), match.group(2), match.group(3)
        if len(run) % 2 == 0:  # "\\ud800" is a backslash and text, not an escape; a low half after it is lone
            return run + b"u" + high + (b"\\ufffd" if low else b"")
        return match.group(0) if low else run[:-1] + b"\\ufffd"
    run = match.group(4)
    return match.group(0) if len(run) % 2 == 0 else run[:-1] + b"\\ufffd"


def replace_lone_surrogates(raw: bytes) -> bytes:
    """Half of a UTF-16 pair escaped on its own ("\\ud83d" without its partner) becomes U+FFFD.

    JavaScript clients send these when they cut a string in the middle of an emoji; JSON parsers, msgspec
    included, refuse them, and refusing a batch for one would lose every other event in it. Browsers make the
    same replacement when such a string meets the network. Only called once decoding has failed."""
    return _SURROGATE_ESCAPE.sub(_replace_surrogate, raw)


def _decode(decoder: msgspec.json.Decoder, raw: bytes, *, repaired: bool = False):
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise PayloadError(str(error), _error_field(error)) from None
    except msgspec.DecodeError as error:
        if not repaired:
            fixed = replace_lone_surrogates(raw)
            if fixed != raw:
                return _decode(decoder, fixed, repaired=True)
        raise PayloadError(f"Invalid JSON: {error}") from None
    except RecursionError:
        raise PayloadError("Invalid JSON: nested too deeply.") from None


def decode_batch(raw: bytes) -> Batch:
    batch = _decode(_batch_decoder, raw)
    if batch.context and b"\\u0000" in msgspec.json.encode(batch.context):
        raise PayloadError("Text must not contain the NUL character (\\u0000).", "context")
    return batch


def decode_message(raw: bytes, expected_type: str | None = None) -> Message:
    """Decode one message; a single-call endpoint (e.g. /v1/track) fixes the type, a batch item names it."""
    # JSON can carry a NUL character only as this escape; PostgreSQL cannot store it in text or JSON.
    if b"\\u0000" in raw:
        raise PayloadError("Text must not contain the NUL character (\\u0000).")
    if expected_type is None:
        try:
            return _decode(_message_decoder, raw)
        except PayloadError as error:
            if error.field is None and "type" in str(error):
                raise PayloadError(
                    "Every batch item needs a `type`: track, page, screen, identify, group or alias.", "type"
                ) from None
            raise
    return _decode(_single_decoders[expected_type], raw)


def write_key_in_body(raw: bytes) -> str | None:
    try:
        return _decode(_write_key_decoder, raw).writeKey
    except PayloadError:
        return None


def corrected_time(*, timestamp: datetime | None, sent_at: datetime | None, received_at: datetime) -> datetime:
    """When the event really happened, by the server's clock.

    Segment's rule: timestamp = receivedAt - (sentAt - originalTimestamp). The client clock may be wrong, but
    the difference between two readings of it is right. Without sentAt the client's timestamp is trusted as is.
    """
    if timestamp is None:
        return received_at
    timestamp = _aware(timestamp)
    moment = timestamp if sent_at is None else received_at - (_aware(sent_at) - timestamp)
    try:
        moment = moment.astimezone(UTC)  # year 1 at +14:00 is a valid Python time but not a UTC one
    except OverflowError:
        raise PayloadError("`timestamp` is not a time that can have happened.", "timestamp") from None
    if moment < EARLIEST_EVENT:
        raise PayloadError(f"`timestamp` is before {EARLIEST_EVENT:%Y}: not a time this site saw.", "timestamp")
    # Nothing happens after we receive it: a client clock ahead of ours (with no sentAt to correct it) would
    # otherwise date events in the future, where they would also stretch their session past every real event.
    return min(moment, received_at)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _clean_id(value: Id | None, name: str, limit: int = MAX_ID_LENGTH) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if len(text) > limit:
        raise PayloadError(f"`{name}` is longer than {limit} characters.", name)
    return text


def _payload_session_id(message: Message, context: dict[str, Any]) -> str | None:
    # RudderStack sends context.sessionId; some sites put a session id in the properties.
    properties = getattr(message, "properties", {})
    for value in (context.get("sessionId"), properties.get("session_id"), properties.get("sessionId")):
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()[:100]
    return None


def to_incoming_event(
    message: Message,
    *,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    batch_context: dict[str, Any] | None = None,
) -> IncomingEvent:
    """Validate what the types alone cannot say, and normalise into an IncomingEvent."""
    user_id = _clean_id(message.userId, "userId")
    anonymous_id = _clean_id(message.anonymousId, "anonymousId")
    previous_id = None
    if isinstance(message, Alias):
        previous_id = _clean_id(message.previousId, "previousId")
        if previous_id is None:
            raise PayloadError("An alias needs a `previousId`.", "previousId")
        if user_id is None:
            raise PayloadError("An alias needs a `userId`.", "userId")
    elif user_id is None and anonymous_id is None:
        raise PayloadError("Every message needs a `userId` or an `anonymousId`.", "userId")

    if isinstance(message, Track):
        name = message.event.strip()
        if not name:
            raise PayloadError("`event` must not be empty.", "event")
    elif isinstance(message, (Page, Screen)):
        name = (message.name or "").strip()
    else:
        name = ""
    if len(name) > MAX_NAME_LENGTH:
        field_name = "event" if isinstance(message, Track) else "name"
        raise PayloadError(f"`{field_name}` is longer than {MAX_NAME_LENGTH} characters.", field_name)

    context = {**batch_context, **message.context} if batch_context else message.context
    sent_at = message.sentAt or batch_sent_at
    try:
        occurred_at = corrected_time(
            timestamp=message.timestamp or message.originalTimestamp, sent_at=sent_at, received_at=received_at
        )
    except OverflowError:
        raise PayloadError("`timestamp` and `sentAt` are too far apart to be real.", "timestamp") from None
    message_id = _clean_id(message.messageId, "messageId", MAX_MESSAGE_ID_LENGTH) or f"server-{uuid.uuid4()}"
    properties = dict(getattr(message, "properties", {}))
    if isinstance(message, (Page, Screen)) and message.category:
        properties.setdefault("category", message.category)
    traits = dict(getattr(message, "traits", {}))
    if isinstance(message, Group):
        traits = {"group_id": str(message.groupId), **traits}
    return IncomingEvent(
        type=message.__struct_config__.tag,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=message_id,
        occurred_at=occurred_at,
        received_at=received_at,
        sent_at=_aware(sent_at) if sent_at else None,
        properties=properties,
        context=context,
        traits=traits,
        previous_id=previous_id,
        session_id=_payload_session_id(message, context),
    )
