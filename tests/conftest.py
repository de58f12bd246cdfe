"""Shared fixtures: a named cast of users per role (alice the admin, bob the editor, charlie the viewer)."""

import base64
import gzip
import json
import socket
import time
import uuid
from datetime import datetime

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sequences.models import Account, LifecycleStage, WriteKey
from sequences.models.account import DEFAULT_LIFECYCLE_STAGES
from sequences.tracking.payloads import IncomingEvent
from triggerapp.roles import ADMIN, EDITOR, VIEWER, set_role

PASSWORD = "correct horse battery staple"


def make_user(username: str, role: str | None):
    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD)
    if role:
        set_role(user, role)
    return user


@pytest.fixture
def alice(db):
    return make_user("alice", ADMIN)


@pytest.fixture
def bob(db):
    return make_user("bob", EDITOR)


@pytest.fixture
def charlie(db):
    return make_user("charlie", VIEWER)


@pytest.fixture
def dave(db):
    """Logged in, but given no role at all."""
    return make_user("dave", None)


@pytest.fixture
def stages(db):
    for position, (slug, name) in enumerate(DEFAULT_LIFECYCLE_STAGES):
        LifecycleStage.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})
    return LifecycleStage.objects.all()


@pytest.fixture
def account(db):
    return Account.current()


@pytest.fixture
def write_key(db):
    return WriteKey.objects.create(name="Web shop")


@pytest.fixture
def api_for():
    """An API client authenticated by token as the given user."""

    def make(user) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


class Tracker:
    """Posts to the tracking API the way Segment's clients do (Basic auth with the write key)."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def post(
        self,
        endpoint: str,
        payload,
        *,
        gzipped: bool = False,
        auth: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        """`headers` as Django's test client takes them (HTTP_X_FORWARDED_FOR=...)."""
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = dict(headers or {})
        if auth:
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()
        if gzipped:
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return self.client.post(f"/v1/{endpoint}", data=body, content_type="application/json", **headers)


@pytest.fixture
def tracker(client, write_key, account):
    return Tracker(client, write_key.key)


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (in a thread) consuming from the real Redis broker."""
    from triggerapp.celery import app

    assert app.conf.broker_url.startswith("redis://"), "tests run against the real Redis broker"
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives; it can be told to fail."""

    def __init__(self):
        self.messages: list = []
        self.raw: list[tuple[bytes, list[str]]] = []  # each message as received, with its MAIL FROM options
        self.fail_next: list[str] = []  # SMTP replies to give instead of accepting, e.g. "451 try later"
        self.eight_bit = True  # whether the server offers 8BITMIME (RFC 6152), as most do
        self.pipelining = True  # whether it offers PIPELINING (RFC 2920), as most do
        self.refuse: dict[str, str] = {}  # "MAIL"/"RCPT" -> the reply to give to that command instead of 250
        self.refuse_once = False  # refuse only the next such command

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if "MAIL" in self.refuse:
            return self.refuse["MAIL"]
        envelope.mail_from, envelope.mail_options = address, mail_options
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "RCPT" in self.refuse:
            return self.refuse.pop("RCPT") if self.refuse_once else self.refuse["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        lines = [line for line in responses if self.eight_bit or line != "250-8BITMIME"]
        return [*lines[:-1], "250-PIPELINING", lines[-1]] if self.pipelining else lines

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            return self.fail_next.pop(0)
        import email
        from email import policy

        self.raw.append((envelope.content, list(envelope.mail_options)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_sink(settings):
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    with socket.socket() as probe:  # a free port (aiosmtpd's start-up check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    yield sink
    controller.stop()


def incoming(
    event_type: str,
    *,
    name: str = "",
    user_id: str | None = None,
    anonymous_id: str | None = None,
    occurred_at: datetime | None = None,
    properties: dict | None = None,
    traits: dict | None = None,
    context: dict | None = None,
) -> IncomingEvent:
    """An IncomingEvent as the tracking API would hand it over after validation."""
    now = timezone.now()
    return IncomingEvent(
        type=event_type,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=f"browser-test-{uuid.uuid4()}",
        occurred_at=occurred_at or now,
        received_at=now,
        sent_at=now,
        properties=properties or {},
        context=context or {},
        traits=traits or {},
    )
