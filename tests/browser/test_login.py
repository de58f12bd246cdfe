"""Logging in through the login form."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_admin_logs_in_and_lands_on_the_overview(page: Page, live_server, alice):
    page.goto("/login/")
    expect(page).to_have_title(re.compile(r"^Log in"))

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    who = page.locator("header .who")
    expect(who).to_contain_text("alice")
    expect(who.locator(".badge")).to_have_text("admin")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_wrong_password_shows_an_error_and_stays_on_the_login_page(page: Page, live_server, alice):
    page.goto("/login/")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_label("User name")).to_have_value("alice")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.locator("header.topbar")).to_have_count(0)
