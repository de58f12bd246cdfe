"""Two batches about one person at once, reaching them by different identities, must not undo each other."""

import threading

import pytest
from django.db import connections

from sequences.models import Contact, WriteKey
from sequences.tracking import ingest
from tests.conftest import incoming


@pytest.mark.django_db(transaction=True)
def test_a_browser_batch_does_not_undo_a_server_identify_that_ran_meanwhile(account, monkeypatch):
    source = WriteKey.objects.create(name="site")
    ingest.ingest_events(source=source, events=[incoming("identify", user_id="u1", anonymous_id="a1")])
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
            ingest.ingest_events(source=source, events=[incoming("track", name="Product Viewed", anonymous_id="a1")])
        finally:
            connections.close_all()

    thread = threading.Thread(target=browser, name="browser")
    thread.start()
    assert browser_has_read.wait(10)
    server_identify = incoming("identify", user_id="u1", traits={"email": "ada@example.com"})
    ingest.ingest_events(source=source, events=[server_identify])  # a server SDK: the user id only
    thread.join(10)

    contact.refresh_from_db()
    assert contact.email == "ada@example.com"
    assert contact.events.count() == 3
