"""Two batches about one person at once, reaching them by different identities, must not undo each other."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections

from sequences.models import Contact, WriteKey
from sequences.tracking import ingest
from sequences.tracking.payloads import IncomingEvent

WHEN = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def event(message_id, *, user_id=None, anonymous_id=None, type="track", traits=None):
    return IncomingEvent(
        type=type,
        name="Product Viewed" if type == "track" else "",
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=message_id,
        occurred_at=WHEN,
        received_at=WHEN,
        sent_at=None,
        properties={},
        context={},
        traits=traits or {},
        previous_id=None,
        session_id=None,
    )


@pytest.mark.django_db(transaction=True)
def test_a_browser_batch_does_not_undo_a_server_identify_that_ran_meanwhile(account, monkeypatch):
    source = WriteKey.objects.create(name="site")
    ingest.ingest_events(source=source, events=[event("m0", user_id="u1", anonymous_id="a1", type="identify")])
    contact = Contact.objects.get()
    browser_has_read = threading.Event()
    real_init = ingest.ContactResolver.__init__

    def read_then_dawdle(self, events):
        real_init(self, events)
        if threading.current_thread().name == "browser":
            browser_has_read.set()
            threading.Event().wait(0.5)  # the server's identify comes in now

    monkeypatch.setattr(ingest.ContactResolver, "__init__", read_then_dawdle)

    def browser():  # analytics.js before login: the anonymous id only
        try:
            ingest.ingest_events(source=source, events=[event("m-browser", anonymous_id="a1")])
        finally:
            connections.close_all()

    thread = threading.Thread(target=browser, name="browser")
    thread.start()
    assert browser_has_read.wait(10)
    server_identify = event("m-server", user_id="u1", type="identify", traits={"email": "ada@example.com"})
    ingest.ingest_events(source=source, events=[server_identify])  # a server SDK: the user id only
    thread.join(10)

    contact.refresh_from_db()
    assert contact.email == "ada@example.com"
    assert contact.events.count() == 3
