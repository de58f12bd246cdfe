"""Managing people: deactivate and reactivate, an admin setting a password, everyone changing their own, logging out.

Each test drives the pages through Django's test client on the real database, and checks what a person would see:
the page's message, whether they can still log in, whether their browser session and API token still work.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, make_user
from triggerapp.roles import ADMIN, EDITOR, role_of

NEW_PASSWORD = "plum orchard at dusk 42"

User = get_user_model()


def logged_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def can_log_in(username: str, password: str) -> bool:
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code == 302


def fresh(user):
    return User.objects.get(pk=user.pk)


# Deactivate / reactivate


@pytest.mark.django_db
def test_admin_deactivates_a_user_who_then_cannot_log_in(client, alice, bob):
    client.force_login(alice)

    response = client.post(f"/settings/users/{bob.pk}/deactivate/", follow=True)

    html = response.content.decode()
    assert "bob is deactivated" in html
    assert "deactivated</span>" in html
    assert not fresh(bob).is_active
    assert not can_log_in("bob", PASSWORD)


@pytest.mark.django_db
def test_a_deactivated_users_open_session_ends(alice, bob):
    bobs_browser = logged_in(bob)
    assert bobs_browser.get("/contacts/").status_code == 200

    logged_in(alice).post(f"/settings/users/{bob.pk}/deactivate/")

    response = bobs_browser.get("/contacts/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")


@pytest.mark.django_db
def test_a_deactivated_users_api_token_is_refused(alice, bob, api_for):
    api = api_for(bob)
    assert api.get("/api/v1/contacts/").status_code == 200

    logged_in(alice).post(f"/settings/users/{bob.pk}/deactivate/")

    response = api.get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


@pytest.mark.django_db
def test_reactivating_gives_back_login_role_and_token(alice, bob, api_for):
    api = api_for(bob)
    admin = logged_in(alice)
    admin.post(f"/settings/users/{bob.pk}/deactivate/")

    response = admin.post(f"/settings/users/{bob.pk}/reactivate/", follow=True)

    assert "bob is active again" in response.content.decode()
    assert can_log_in("bob", PASSWORD)
    assert role_of(fresh(bob)) == EDITOR
    assert api.get("/api/v1/contacts/").status_code == 200


@pytest.mark.django_db
def test_an_admin_cannot_deactivate_themself(client, alice, bob):
    client.force_login(alice)

    response = client.post(f"/settings/users/{alice.pk}/deactivate/", follow=True)

    assert "You cannot deactivate yourself" in response.content.decode()
    assert fresh(alice).is_active
    assert client.get("/settings/users/").status_code == 200


@pytest.mark.django_db
def test_the_users_page_offers_no_deactivate_button_for_yourself(client, alice, bob):
    client.force_login(alice)

    html = client.get("/settings/users/").content.decode()

    assert f'action="/settings/users/{bob.pk}/deactivate/"' in html
    assert f'action="/settings/users/{alice.pk}/deactivate/"' not in html


@pytest.mark.django_db
def test_a_deactivated_user_keeps_their_role_on_the_users_page(client, alice, charlie):
    client.force_login(alice)
    client.post(f"/settings/users/{charlie.pk}/deactivate/")

    html = client.get("/settings/users/").content.decode()

    # Shown as a viewer (not falling back to the first option, Admin, which one Save would grant).
    assert '<option value="viewer" selected>' in html
    assert f'action="/settings/users/{charlie.pk}/reactivate/"' in html


@pytest.mark.django_db
def test_a_user_without_a_role_is_shown_as_such_and_saving_it_changes_nothing(client, alice, dave):
    client.force_login(alice)

    assert '<option value="" selected>No role</option>' in client.get("/settings/users/").content.decode()
    response = client.post(f"/settings/users/{dave.pk}/role/", {"role": ""}, follow=True)

    assert "Choose admin, editor or viewer." in response.content.decode()
    assert role_of(fresh(dave)) is None


@pytest.mark.django_db(transaction=True)
def test_two_admins_deactivating_each_other_at_once_leave_one_active_admin():
    """The last-admin rule: whichever request comes second is refused (or its admin is already logged out).

    The two requests overlap most of the time: without the view's lock both usually succeed, leaving no admin.
    """
    alice, erin = make_user("alice", ADMIN), make_user("erin", ADMIN)
    pages: dict[str, str] = {}
    start = threading.Barrier(2)

    def deactivate(actor, target) -> None:
        try:
            browser = logged_in(actor)
            start.wait(timeout=10)
            pages[actor.username] = browser.post(f"/settings/users/{target.pk}/deactivate/", follow=True).content
        finally:
            connection.close()  # each thread has its own connection; the test database is dropped afterwards

    threads = [
        threading.Thread(target=deactivate, args=(alice, erin)),
        threading.Thread(target=deactivate, args=(erin, alice)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    still_active = [user for user in (alice, erin) if fresh(user).is_active]
    assert len(still_active) == 1
    loser = "erin" if still_active[0].username == "alice" else "alice"
    refused = pages[loser].decode()
    # Refused: as the last admin, as no longer an admin (read again under the lock), or already logged out.
    assert any(text in refused for text in ("is the last active admin", "You are no longer an admin.", "Log in"))


@pytest.mark.django_db
def test_an_admin_may_demote_another_admin_while_remaining_one(client, alice):
    """Demoting another admin is fine while you remain one (the last-admin rule only stops the very last)."""
    erin = make_user("erin", ADMIN)
    client.force_login(alice)

    client.post(f"/settings/users/{erin.pk}/role/", {"role": "viewer"})

    assert role_of(fresh(erin)) == "viewer"
    assert role_of(fresh(alice)) == ADMIN


@pytest.mark.django_db
def test_deactivate_and_reactivate_are_post_only(client, alice, bob):
    client.force_login(alice)

    assert client.get(f"/settings/users/{bob.pk}/deactivate/").status_code == 405
    assert client.get(f"/settings/users/{bob.pk}/reactivate/").status_code == 405
    assert fresh(bob).is_active


@pytest.mark.django_db
def test_deactivate_refuses_a_post_without_csrf_token(alice, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.post(f"/settings/users/{bob.pk}/deactivate/").status_code == 403
    assert fresh(bob).is_active


@pytest.mark.django_db
def test_unknown_users_are_not_found(client, alice):
    client.force_login(alice)

    assert client.post("/settings/users/999999/deactivate/").status_code == 404
    assert client.post("/settings/users/999999/reactivate/").status_code == 404
    assert client.get("/settings/users/999999/password/").status_code == 404


# Role checks on the admin actions


def admin_actions(target) -> list[tuple[str, str, dict]]:
    return [
        ("post", f"/settings/users/{target.pk}/deactivate/", {}),
        ("post", f"/settings/users/{target.pk}/reactivate/", {}),
        ("get", f"/settings/users/{target.pk}/password/", {}),
        (
            "post",
            f"/settings/users/{target.pk}/password/",
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        ),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("person", ["bob", "charlie", "dave"])
def test_only_admins_may_deactivate_reactivate_or_set_passwords(request, alice, person):
    browser = logged_in(request.getfixturevalue(person))

    for method, path, data in admin_actions(alice):
        response = getattr(browser, method)(path, data)
        assert response.status_code == 403, (method, path)
        assert "This page needs the admin role." in response.content.decode()

    assert fresh(alice).is_active
    assert can_log_in("alice", PASSWORD)


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in_for_the_admin_actions(client, bob):
    for method, path, data in admin_actions(bob):
        response = getattr(client, method)(path, data)
        assert response.status_code == 302, (method, path)
        assert response.url.startswith("/login/?next=")

    assert fresh(bob).is_active
    assert can_log_in("bob", PASSWORD)


# An admin sets someone else's password


@pytest.mark.django_db
def test_admin_sets_a_new_password_for_another_user(client, alice, bob):
    bobs_browser = logged_in(bob)
    client.force_login(alice)
    form = client.get(f"/settings/users/{bob.pk}/password/").content.decode()
    assert "Set password for bob" in form
    assert 'name="csrfmiddlewaretoken"' in form

    response = client.post(
        f"/settings/users/{bob.pk}/password/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert "New password set for bob" in response.content.decode()
    assert can_log_in("bob", NEW_PASSWORD)
    assert not can_log_in("bob", PASSWORD)
    assert bobs_browser.get("/contacts/").status_code == 302  # his open session was logged out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        (NEW_PASSWORD, "something else entirely 7", "The two password fields didn’t match."),
        ("short", "short", "This password is too short."),
        ("password123", "password123", "This password is too common."),
        ("", "", "This field is required."),
    ],
)
def test_an_invalid_new_password_is_shown_in_the_page_and_nothing_changes(client, alice, bob, first, second, error):
    client.force_login(alice)

    response = client.post(f"/settings/users/{bob.pk}/password/", {"new_password1": first, "new_password2": second})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert can_log_in("bob", PASSWORD)


@pytest.mark.django_db
def test_an_admin_setting_their_own_password_is_sent_to_the_change_password_page(client, alice):
    client.force_login(alice)

    response = client.post(
        f"/settings/users/{alice.pk}/password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert response.url == "/password/"
    assert can_log_in("alice", PASSWORD)


@pytest.mark.django_db
def test_set_password_refuses_a_post_without_csrf_token(alice, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    response = browser.post(
        f"/settings/users/{bob.pk}/password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert response.status_code == 403
    assert can_log_in("bob", PASSWORD)


# Everyone changes their own password


@pytest.mark.django_db
@pytest.mark.parametrize("person", ["alice", "bob", "charlie", "dave"])
def test_any_logged_in_user_changes_their_own_password_and_stays_logged_in(request, person):
    user = request.getfixturevalue(person)
    browser = logged_in(user)
    assert "Change password" in browser.get("/password/").content.decode()

    response = browser.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert "Password changed" in response.content.decode()
    assert can_log_in(person, NEW_PASSWORD)
    assert not can_log_in(person, PASSWORD)
    assert browser.get("/password/").status_code == 200  # still logged in here


@pytest.mark.django_db
def test_changing_your_password_logs_out_your_other_sessions(charlie):
    here, elsewhere = logged_in(charlie), logged_in(charlie)

    here.post("/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert elsewhere.get("/contacts/").status_code == 302
    assert here.get("/contacts/").status_code == 200


@pytest.mark.django_db
def test_a_wrong_old_password_is_shown_and_nothing_changes(client, charlie):
    client.force_login(charlie)

    response = client.post(
        "/password/", {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    assert can_log_in("charlie", PASSWORD)


@pytest.mark.django_db
def test_the_navigation_links_to_change_password(client, charlie):
    client.force_login(charlie)

    html = client.get("/").content.decode()

    assert '<a href="/password/"' in html


@pytest.mark.parametrize("path", ["/password/", "/password/done/"])
def test_anonymous_visitors_are_sent_to_log_in_to_change_a_password(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


# Logging out


@pytest.mark.django_db
def test_get_logout_shows_a_page_with_a_log_out_button(client, bob):
    client.force_login(bob)

    response = client.get("/logout/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Log out</h1>" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<form method="post" action="/logout/">' in html
    assert client.get("/contacts/").status_code == 200  # looking at the page logs nobody out


@pytest.mark.django_db
def test_post_logout_logs_out_and_goes_to_the_login_page(client, bob):
    client.force_login(bob)

    response = client.post("/logout/")

    assert response.status_code == 302
    assert response.url == "/login/"
    assert client.get("/contacts/").status_code == 302


@pytest.mark.django_db
def test_logout_refuses_a_post_without_csrf_token(bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)

    assert browser.post("/logout/").status_code == 403
    assert browser.get("/contacts/").status_code == 200


def test_get_logout_when_not_logged_in_goes_to_the_login_page(client):
    response = client.get("/logout/")

    assert response.status_code == 302
    assert response.url == "/login/"
