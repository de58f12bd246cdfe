"""Pages: every one needs a login and the right role; forms are CSRF-protected; admins manage keys and users."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from sequences.models import Account, WriteKey
from tests.conftest import PASSWORD
from triggerapp.roles import role_of

pytestmark = pytest.mark.django_db

VIEWER_PAGES = ["/", "/contacts/"]
ADMIN_PAGES = ["/settings/write-keys/", "/settings/rejected-events/", "/settings/users/", "/settings/account/"]


@pytest.mark.parametrize("path", VIEWER_PAGES + ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


@pytest.mark.parametrize("path", VIEWER_PAGES)
def test_a_viewer_sees_the_read_only_pages(client, charlie, path):
    client.force_login(charlie)

    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("person", ["bob", "charlie", "dave"])
def test_only_admins_reach_the_admin_pages(client, request, person, path):
    client.force_login(request.getfixturevalue(person))

    response = client.get(path)

    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_admin_reaches_the_admin_pages(client, alice, path):
    client.force_login(alice)

    assert client.get(path).status_code == 200


def test_viewer_navigation_has_no_admin_links(client, charlie):
    client.force_login(charlie)
    html = client.get("/").content.decode()

    assert "Contacts" in html
    assert "Write keys" not in html


def test_login_form_logs_in_and_a_wrong_password_does_not(alice):
    browser = Client()
    assert (
        "Please enter a correct" in browser.post("/login/", {"username": "alice", "password": "nope"}).content.decode()
    )

    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert browser.get("/").status_code == 200


def test_forms_refuse_posts_without_a_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    response = browser.post("/settings/write-keys/", {"name": "Sneaky"})

    assert response.status_code == 403
    assert not WriteKey.objects.exists()


def test_admin_creates_and_revokes_a_write_key(client, alice):
    client.force_login(alice)

    client.post("/settings/write-keys/", {"name": "Web shop"})
    key = WriteKey.objects.get()
    page = client.get("/settings/write-keys/").content.decode()
    assert key.key in page

    client.post(f"/settings/write-keys/{key.pk}/revoke/")

    key.refresh_from_db()
    assert not key.is_active
    assert "revoked" in client.get("/settings/write-keys/").content.decode()


def test_an_empty_write_key_name_is_a_form_error(client, alice):
    client.force_login(alice)

    response = client.post("/settings/write-keys/", {"name": ""})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_revoke_is_post_only(client, alice, write_key):
    client.force_login(alice)

    assert client.get(f"/settings/write-keys/{write_key.pk}/revoke/").status_code == 405
    write_key.refresh_from_db()
    assert write_key.is_active


def test_admin_creates_a_user_with_a_role_and_changes_it(client, alice):
    client.force_login(alice)

    client.post(
        "/settings/users/", {"username": "erin", "email": "", "password": "a-long-pass-phrase-9", "role": "viewer"}
    )
    erin = get_user_model().objects.get(username="erin")
    assert role_of(erin) == "viewer"

    client.post(f"/settings/users/{erin.pk}/role/", {"role": "editor"})
    erin = get_user_model().objects.get(username="erin")
    assert role_of(erin) == "editor"


def test_a_weak_password_is_refused_in_the_form(client, alice):
    client.force_login(alice)

    response = client.post("/settings/users/", {"username": "erin", "password": "123", "role": "viewer"})

    assert "too short" in response.content.decode()
    assert not get_user_model().objects.filter(username="erin").exists()


def test_an_admin_cannot_demote_themselves(client, alice):
    client.force_login(alice)

    client.post(f"/settings/users/{alice.pk}/role/", {"role": "viewer"})

    assert role_of(get_user_model().objects.get(pk=alice.pk)) == "admin"


def test_account_settings_refuse_an_unknown_time_zone(client, alice, account):
    client.force_login(alice)

    response = client.post(
        "/settings/account/", {"form": "account", "name": "Shop", "time_zone": "Moon/Base", "session_gap_minutes": 30}
    )

    assert "not an IANA time zone" in response.content.decode()
    assert Account.current().time_zone == "UTC"


def test_account_settings_change_the_session_gap(client, alice, account):
    client.force_login(alice)

    client.post(
        "/settings/account/",
        {"form": "account", "name": "Shop", "time_zone": "Europe/Paris", "session_gap_minutes": 45},
    )

    assert (Account.current().session_gap_minutes, Account.current().time_zone) == (45, "Europe/Paris")


def test_contacts_page_live_search_returns_only_the_results_partial(client, charlie, tracker):
    tracker.post("identify", {"userId": "u1", "traits": {"email": "ada@example.com"}})
    tracker.post("identify", {"userId": "u2", "traits": {"email": "grace@example.com"}})
    client.force_login(charlie)

    partial = client.get("/contacts/?q=grace", HTTP_HX_REQUEST="true").content.decode()

    assert partial.strip().startswith('<div id="results"')
    assert "<nav" not in partial
    assert "grace@example.com" in partial
    assert "ada@example.com" not in partial


def test_contact_profile_shows_the_timeline(client, charlie, tracker):
    tracker.post("track", {"userId": "u1", "event": "Checkout Started", "properties": {"cart_id": "c-1"}})
    client.force_login(charlie)
    from sequences.models import Contact

    html = client.get(f"/contacts/{Contact.objects.get().pk}/").content.decode()

    assert "Checkout Started" in html
    assert "c-1" in html


def test_contact_names_are_escaped_in_pages(client, charlie, tracker):
    tracker.post("identify", {"userId": "u1", "traits": {"firstName": "<script>alert(1)</script>"}})
    client.force_login(charlie)

    html = client.get("/contacts/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_rejected_events_are_listed_for_admins(client, alice, tracker):
    tracker.post("batch", {"batch": [{"type": "track", "event": "anonymous"}]})
    client.force_login(alice)

    html = client.get("/settings/rejected-events/").content.decode()

    assert "userId" in html
    assert re.search(r"<td>0</td>", html)


def test_htmx_history_restore_gets_the_whole_contacts_page(client, charlie):
    client.force_login(charlie)

    response = client.get("/contacts/?q=x", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert "<nav" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_identify_traits_show_on_the_timeline(client, charlie, tracker):
    tracker.post("identify", {"userId": "u1", "traits": {"plan": "pro"}})
    client.force_login(charlie)
    from sequences.models import Contact

    html = client.get(f"/contacts/{Contact.objects.get().pk}/").content.decode()

    assert "<summary>traits</summary>" in html
    assert "pro" in html


@pytest.mark.parametrize(
    ("url", "json_body"),
    [
        ("/contacts/?q=a%00b", False),
        ("/api/v1/contacts/?search=a%00b", True),
        ("/api/v1/contacts/?user_id=a%00b", True),
        ("/api/v1/contacts/a%00b/", True),
    ],
)
def test_a_nul_character_in_the_address_is_a_400_not_a_500(client, charlie, url, json_body):
    client.force_login(charlie)

    response = client.get(url)

    assert response.status_code == 400
    if json_body:
        assert response.json()["error"] == "The address must not contain the NUL character (%00)."
    else:
        assert "must not contain the NUL character" in response.content.decode()
