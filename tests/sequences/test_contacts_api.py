"""The management API: contacts, search, a profile with recent events, the OpenAPI schema; all behind auth."""

import importlib

import pytest
from django.db import connection

from sequences.contact_search import search_contacts
from sequences.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tracker):
    tracker.post(
        "identify", {"userId": "u1", "anonymousId": "a1", "traits": {"email": "ada@example.com", "firstName": "Ada"}}
    )
    tracker.post("track", {"userId": "u1", "event": "Product Viewed", "timestamp": "2026-11-29T10:00:00Z"})
    tracker.post("track", {"userId": "u1", "event": "Checkout Started", "timestamp": "2026-11-29T10:05:00Z"})
    tracker.post("identify", {"userId": "u2", "traits": {"email": "grace@example.com", "firstName": "Grace"}})
    tracker.post("page", {"anonymousId": "visitor-9", "name": "Home"})


def test_anonymous_requests_get_401(client, shop):
    assert client.get("/api/v1/contacts/").status_code == 401


def test_a_user_without_a_role_gets_403(api_for, dave, shop):
    assert api_for(dave).get("/api/v1/contacts/").status_code == 403


def test_a_viewer_lists_contacts_paginated(api_for, charlie, shop):
    body = api_for(charlie).get("/api/v1/contacts/").json()

    assert body["count"] == 3
    assert {c["user_id"] for c in body["results"]} == {"u1", "u2", None}


def test_search_finds_by_email_name_and_anonymous_id(api_for, charlie, shop):
    api = api_for(charlie)

    assert [c["user_id"] for c in api.get("/api/v1/contacts/?search=grace@").json()["results"]] == ["u2"]
    assert [c["user_id"] for c in api.get("/api/v1/contacts/?search=ada").json()["results"]] == ["u1"]
    assert [c["anonymous_ids"] for c in api.get("/api/v1/contacts/?search=visitor-9").json()["results"]] == [
        ["visitor-9"]
    ]


def test_profile_by_user_id_has_recent_events_newest_first(api_for, charlie, shop):
    body = api_for(charlie).get("/api/v1/contacts/u1/").json()

    assert body["email"] == "ada@example.com"
    assert body["anonymous_ids"] == ["a1"]
    names = [e["name"] for e in body["recent_events"] if e["type"] == "track"]
    assert names == ["Checkout Started", "Product Viewed"]


def test_unknown_contact_is_404_json(api_for, charlie, shop):
    response = api_for(charlie).get("/api/v1/contacts/nobody/")

    assert response.status_code == 404
    assert "detail" in response.json() or "error" in response.json()


def test_contacts_api_is_read_only(api_for, alice, shop):
    assert api_for(alice).delete("/api/v1/contacts/u1/").status_code == 405


def test_openapi_schema_describes_the_contacts_api_and_needs_login(client, api_for, charlie):
    assert client.get("/api/schema/").status_code in (401, 403)

    schema = api_for(charlie).get("/api/schema/?format=json").json()

    assert "/api/v1/contacts/{user_id}/" in schema["paths"]
    assert "recent_events" in schema["components"]["schemas"]["ContactDetail"]["properties"]


def test_api_docs_page_uses_local_static_files(client, charlie):
    client.force_login(charlie)
    html = client.get("/api/docs/").content.decode()

    assert "swagger-ui" in html
    assert "https://" not in html.split("<body")[0]  # no CDN in the head


def test_a_user_id_holding_a_slash_can_be_looked_up(api_for, charlie, tracker):
    tracker.post("identify", {"userId": "shop/42", "traits": {"email": "s42@example.com"}})

    response = api_for(charlie).get("/api/v1/contacts/", {"user_id": "shop/42"})

    assert [contact["user_id"] for contact in response.json()["results"]] == ["shop/42"]


def test_the_schema_needs_a_role_and_its_page_sends_people_to_login(client, api_for, charlie, db):
    from django.contrib.auth import get_user_model

    no_role = get_user_model().objects.create_user("norole", password="pw")

    assert client.get("/api/docs/").url.startswith("/login/")
    assert client.get("/api/schema/").status_code == 401
    assert api_for(no_role).get("/api/schema/").status_code == 403
    assert api_for(charlie).get("/api/schema/").status_code == 200


def test_search_finds_by_any_part_of_email_user_id_or_full_name_and_by_device(api_for, charlie, tracker):
    tracker.post(
        "identify",
        {"userId": "crm-77", "anonymousId": "dev-1", "traits": {"email": "ada@example.com", "name": "Ada Lovelace"}},
    )
    tracker.post("identify", {"userId": "crm-78", "traits": {"email": "grace@example.com", "name": "Grace Hopper"}})
    api = api_for(charlie)

    def found(text):
        return [c["user_id"] for c in api.get("/api/v1/contacts/", {"search": text}).json()["results"]]

    assert found("EXAMPLE.com") == ["crm-78", "crm-77"]
    assert found("m-77") == ["crm-77"]
    assert found("ada   lovelace") == ["crm-77"]
    assert found("a lovelace") == ["crm-77"]
    assert found("dev-1") == ["crm-77"]
    assert found("100%") == []  # % and _ are text, not wildcards


def test_search_finds_names_beyond_ascii_whatever_the_case(api_for, charlie, tracker):
    tracker.post("identify", {"userId": "u-s", "traits": {"email": "js@example.com", "name": "Johann Strauß"}})
    tracker.post("identify", {"userId": "u-j", "traits": {"email": "jm@example.com", "name": "José Martí"}})
    api = api_for(charlie)

    def found(text):
        return [c["user_id"] for c in api.get("/api/v1/contacts/", {"search": text}).json()["results"]]

    assert found("strauß") == ["u-s"]
    assert found("josé") == ["u-j"]
    if connection.vendor == "postgresql":  # SQLite capitalises ASCII letters only (so did its icontains)
        assert found("MARTÍ") == ["u-j"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_search_is_answered_by_the_trigram_index(db):
    with connection.cursor() as cursor:
        # A test's few rows would otherwise be read whole, or walked in the order the list shows them in.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")

        plan = search_contacts(Contact.objects.all(), "lovelace").explain()

    assert "contact_search_trgm_idx" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_migrating_again_rebuilds_a_search_index_a_failed_build_left_invalid(db):
    build = importlib.import_module("sequences.migrations.0014_contact_search_index").create_index
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'contact_search_trgm_idx'::regclass"
    with connection.cursor() as cursor:
        # What a concurrent build stopped by its lock timeout leaves behind.
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'contact_search_trgm_idx'::regclass")

        with connection.schema_editor() as editor:
            build(None, editor)

        cursor.execute(valid)
        assert cursor.fetchone() == (True,)
