"""The Segment-compatible HTTP Tracking API: /v1/identify, /v1/track, ..., /v1/batch.

Plain Django views rather than DRF: this is the hot path, and Segment's wire format (Basic auth with the write
key, gzip bodies, `{"success": true}`) is fixed by the clients we must stay compatible with.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sequences.models import RejectedEvent, WriteKey
from sequences.tracking.ingest import ingest_events
from sequences.tracking.ingest_reads import active_write_key
from sequences.tracking.payloads import (
    IncomingEvent,
    PayloadError,
    decode_batch,
    decode_message,
    to_incoming_event,
    write_key_in_body,
)
from sequences.tracking.queue import enqueue
from sequences.tracking.traits import profile_from_traits

EXCERPT_BYTES = 4096
# A 500 KB batch of `1,1,1…` holds 250,000 bad items: list (and keep) the first ones, count the rest.
MAX_REJECTIONS_LISTED = 1000


class TrackingError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> JsonResponse:
        body = {"success": False, "error": self.message}
        if self.field:
            body["field"] = self.field
        return _cors(JsonResponse(body, status=self.status))


def _cors(response: HttpResponse) -> HttpResponse:
    # Browsers post from the customer's own site; auth is the write key, never a cookie, so any origin may call.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Headers"] = "Content-Type, Authorization, Content-Encoding"
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _read_body(request: HttpRequest, limit: int) -> bytes:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise TrackingError(
            415, f"Content-Encoding {encoding} is not supported: send gzip or no encoding.", "Content-Encoding"
        )
    too_big = TrackingError(413, f"Request body is larger than {limit // 1024} KB.")
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit and not _is_gzip(request):
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:  # a gzip body past DATA_UPLOAD_MAX_MEMORY_SIZE: Django refuses to read it
        raise too_big from None
    if _is_gzip(request):
        # Decompress at most limit + 1 bytes: a small gzip bomb must not cost us memory.
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise TrackingError(400, "Body is not valid gzip.") from None
    if len(raw) > limit:
        raise too_big
    return raw


def _body(request: HttpRequest, limit: int, endpoint: str) -> bytes:
    try:
        return _read_body(request, limit)
    except TrackingError as error:
        if error.status == 413:
            # Clients do not retry a 413, so the events are gone: show it on the Rejected events page, when the
            # header names a live write key (the body is not read for one: it is what was too large).
            with contextlib.suppress(TrackingError):
                _record_rejections(_write_key(request, None), endpoint, [(None, error.message, b"")])
        raise


def _is_gzip(request: HttpRequest) -> bool:
    return request.headers.get("Content-Encoding", "").strip().lower() == "gzip"


def _write_key(request: HttpRequest, body_key: str | None) -> WriteKey:
    key = None
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            key = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise TrackingError(401, "Authorization header is not valid HTTP Basic.", "Authorization") from None
    key = key or body_key
    if not key:
        raise TrackingError(
            401, "No write key: send it as the HTTP Basic user name or as `writeKey` in the body.", "writeKey"
        )
    source = active_write_key(key)
    if source is None:
        raise TrackingError(401, "Unknown or revoked write key.", "writeKey")
    return source


def _validate(event: IncomingEvent) -> IncomingEvent:
    if event.type == "identify":
        profile_from_traits(event.traits)  # refuses a bad email or time zone now, not at send time
    return event


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL, and a client may send raw ones


def _record_rejections(source: WriteKey | None, endpoint: str, rejections: list[tuple[int | None, str, bytes]]):
    now = timezone.now()
    # Kept for the admin's Rejected events page: the first ones of a request say what is wrong with the rest.
    RejectedEvent.objects.bulk_create(
        RejectedEvent(
            source=source,
            received_at=now,
            endpoint=endpoint,
            batch_index=index,
            reason=_text(reason),
            payload_excerpt=_text(raw[:EXCERPT_BYTES].decode("utf-8", "replace")),
        )
        for index, reason, raw in rejections[:MAX_REJECTIONS_LISTED]
    )


def _store_batch(source: WriteKey, events: list[IncomingEvent], received_at: datetime) -> None:
    if settings.TRACKING_QUEUE:
        enqueue(source, events, received_at)  # an ingest worker stores and scores them (sequences.tracking.queue)
    else:
        ingest_events(source=source, events=events)


def _request_context(request: HttpRequest) -> dict:
    """Like Segment, record the caller's IP when the event's context does not name one (the event's wins)."""
    ip = _client_ip(request)
    return {"ip": ip} if ip else {}


def _client_ip(request: HttpRequest) -> str | None:
    """The caller's address. Behind TRUSTED_PROXIES reverse proxies (nginx, a load balancer), REMOTE_ADDR is the
    nearest proxy's: each proxy appends the address it saw to X-Forwarded-For, so the one the farthest trusted
    proxy saw is that many entries from the end. Entries before it are the client's to write, so never read."""
    proxies = settings.TRUSTED_PROXIES
    if proxies > 0:  # never a negative count: forwarded[1] and on are the client's to write
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def _describe(error: PayloadError) -> str:
    return f"{error} (field: {error.field})" if error.field and error.field not in str(error) else str(error)


def _tracking_endpoint(handler: Callable[[HttpRequest, datetime], dict]) -> Callable[[HttpRequest], HttpResponse]:
    """What every /v1/ endpoint shares: CORS preflight, POST only, JSON errors, Segment's success answer."""

    @csrf_exempt
    @wraps(handler)
    def view(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return _cors(HttpResponse(status=204))
        if request.method != "POST":
            return TrackingError(405, "Use POST.").response()
        try:
            body = handler(request, timezone.now())
        except TrackingError as error:
            return error.response()
        return _cors(JsonResponse(body))

    return view


def _single(message_type: str) -> Callable[[HttpRequest], HttpResponse]:
    def handle(request: HttpRequest, received_at: datetime) -> dict:
        raw = _body(request, settings.TRACKING_MAX_EVENT_BYTES, message_type)
        source = _write_key(request, write_key_in_body(raw))
        try:
            message = decode_message(raw, message_type)
            event = _validate(
                to_incoming_event(message, received_at=received_at, batch_context=_request_context(request))
            )
        except PayloadError as error:
            _record_rejections(source, message_type, [(None, _describe(error), raw)])
            raise TrackingError(400, str(error), error.field) from None
        # Always stored by the request, queue or not: a browser's single call is where a fresh score matters
        # (by the next page view), and one event gains nothing from sharing a pass (docs/performance.md).
        ingest_events(source=source, events=[event])
        return {"success": True}

    handle.__name__ = f"track_{message_type}"
    return _tracking_endpoint(handle)


@_tracking_endpoint
def batch(request: HttpRequest, received_at: datetime) -> dict:
    """Valid items are stored; invalid ones are listed by index in the answer and kept as rejected events."""
    raw = _body(request, settings.TRACKING_MAX_BATCH_BYTES, "batch")
    source = _write_key(request, write_key_in_body(raw))
    try:
        envelope = decode_batch(raw)
    except PayloadError as error:
        _record_rejections(source, "batch", [(None, _describe(error), raw)])
        raise TrackingError(400, str(error), error.field or "batch") from None
    context = {**_request_context(request), **envelope.context}
    events, rejected = _batch_events(envelope.batch, envelope.sentAt, context, received_at)
    if rejected:
        _record_rejections(source, "batch", rejected)
    if events:
        _store_batch(source, events, received_at)
    body: dict = {"success": True}
    if rejected:
        listed = rejected[:MAX_REJECTIONS_LISTED]
        body["rejected"] = [{"index": index, "reason": reason} for index, reason, _ in listed]
        if len(rejected) > len(listed):
            body["rejected_not_listed"] = len(rejected) - len(listed)
    return body


def _batch_events(
    items: list, sent_at: datetime | None, context: dict, received_at: datetime
) -> tuple[list[IncomingEvent], list[tuple[int, str, bytes]]]:
    events: list[IncomingEvent] = []
    rejected: list[tuple[int, str, bytes]] = []
    limit = settings.TRACKING_MAX_EVENT_BYTES
    for index, item in enumerate(items):
        raw = bytes(item)
        if len(raw) > limit:
            rejected.append((index, f"Event is larger than {limit // 1024} KB.", raw))
            continue
        try:
            message = decode_message(raw)
            events.append(
                _validate(
                    to_incoming_event(message, received_at=received_at, batch_sent_at=sent_at, batch_context=context)
                )
            )
        except PayloadError as error:
            rejected.append((index, _describe(error), raw))
    return events, rejected


identify = _single("identify")
track = _single("track")
page = _single("page")
screen = _single("screen")
alias = _single("alias")
group = _single("group")
