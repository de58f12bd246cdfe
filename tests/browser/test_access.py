"""Who may see which page: viewers never reach admin pages, anonymous visitors are sent to log in."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_viewer_has_no_write_keys_link_and_gets_403_on_the_page(page: Page, log_in, charlie):
    log_in("charlie")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Contacts")).to_be_visible()
    expect(nav.get_by_role("link", name="Write keys")).to_have_count(0)
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    expect(page.locator("header .who .badge")).to_have_text("viewer")

    response = page.goto("/settings/write-keys/")

    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed", level=1)).to_be_visible()
    expect(page.get_by_text("This page needs the admin role.")).to_be_visible()
    expect(page.locator("code.secret")).to_have_count(0)


def test_anonymous_visitor_is_sent_to_log_in_and_then_back(page: Page, live_server, bob):
    page.goto("/contacts/")

    expect(page).to_have_url(re.compile(r"/login/\?next=/contacts/$"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_role("heading", name="Contacts")).to_have_count(0)

    page.get_by_label("User name").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/contacts/")
    expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()
