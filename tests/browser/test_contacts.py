"""The contacts list's live search and a contact's timeline."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_live_search_narrows_the_table_without_reloading(page: Page, live_server, log_in, charlie, people):
    log_in("charlie")
    page.goto("/contacts/")
    results = page.locator("#results")
    rows = results.locator("tbody tr")
    expect(rows).to_have_count(4)  # three identified contacts and one anonymous visitor
    page.screenshot(path=ARTIFACTS / "contacts-list.png", full_page=True)

    page.evaluate("window.__sameDocument = 'still here'")
    search = page.locator("#contact-search")
    search.press_sequentially("grace.hop")

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace Hopper")
    expect(rows.first).to_contain_text("grace.hopper@example.com")
    expect(rows.first).to_contain_text("u-grace")
    expect(page).to_have_url(f"{live_server.url}/contacts/?q=grace.hop")  # hx-push-url keeps the search linkable
    assert page.evaluate("window.__sameDocument") == "still here", "the search reloaded the whole page"

    search.fill("zzz-no-such-person")
    expect(results.get_by_text("No contact matches “zzz-no-such-person”.")).to_be_visible()
    expect(rows).to_have_count(0)

    search.fill("")
    expect(rows).to_have_count(4)
    assert page.evaluate("window.__sameDocument") == "still here"


def send_batch(live_server, key: str, batch: list[dict]) -> None:
    """POST to /v1/batch as a Segment client does: the write key as the Basic user name, no password."""
    now = timezone.now()
    body = {"batch": batch, "sentAt": now.isoformat()}
    response = requests.post(f"{live_server.url}/v1/batch", json=body, auth=(key, ""), timeout=5)
    assert response.status_code == 200, response.text


def test_contact_timeline_shows_profile_and_sessions_newest_first(
    page: Page, live_server, log_in, charlie, people, write_key
):
    now = timezone.now()

    def at(minutes_ago: int) -> str:
        return (now - timedelta(minutes=minutes_ago)).isoformat()

    def viewed(product: str, minutes_ago: int) -> dict:
        return {
            "type": "track",
            "event": "Product Viewed",
            "userId": "u-ada",
            "properties": {"product": product},
            "context": {"page": {"url": f"https://shop.example/p/{product.lower().replace(' ', '-')}"}},
            "timestamp": at(minutes_ago),
        }

    # Two visits three hours apart: the server splits them into two sessions (30 minute gap).
    send_batch(
        live_server,
        write_key.key,
        [
            viewed("Blue Mug", 180),
            {"type": "track", "event": "Added to Cart", "userId": "u-ada", "timestamp": at(175)},
            viewed("Red Kettle", 30),
            viewed("Teapot", 20),
            {"type": "track", "event": "Checkout Started", "userId": "u-ada", "timestamp": at(10)},
        ],
    )

    log_in("charlie")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.wait_for_url("**/contacts/")
    page.wait_for_load_state("load")  # htmx must be listening before we type
    page.locator("#contact-search").press_sequentially("lovelace")
    results = page.locator("#results")
    expect(results.locator("tbody tr")).to_have_count(1)
    results.get_by_role("link", name="Ada Lovelace").click()

    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
    profile = page.locator("section.profile")
    expect(profile.locator("dt:text-is('User id') + dd")).to_have_text("u-ada")
    expect(profile.locator("dt:text-is('Email') + dd")).to_have_text("ada.lovelace@example.com")

    timeline = page.locator("section.timeline")
    expect(timeline.get_by_role("heading", name="Timeline")).to_contain_text("(6 events)")
    page.screenshot(path=ARTIFACTS / "contact-profile.png", full_page=True)

    items = timeline.locator("ol.events > li").evaluate_all(
        """items => items.map(li => li.classList.contains('session')
            ? ['session', li.getAttribute('title')]
            : ['event', li.querySelector('strong').textContent || li.querySelector('.badge').textContent,
               li.querySelector('time').getAttribute('datetime')])"""
    )
    shape = [("session",) if kind == "session" else (kind, rest[0]) for kind, *rest in items]
    assert shape == [
        ("session",),
        ("event", "Checkout Started"),
        ("event", "Product Viewed"),
        ("event", "Product Viewed"),
        ("session",),
        ("event", "Added to Cart"),
        ("event", "Product Viewed"),
        ("session",),
        ("event", "identify"),
    ], items
    times = [item[2] for item in items if item[0] == "event"]
    assert times == sorted(times, reverse=True), "the timeline is not newest first"
    sessions = [item[1] for item in items if item[0] == "session"]
    assert len(set(sessions)) == len(sessions), "a session is shown twice"


def test_back_button_after_live_searches_restores_the_whole_page(page: Page, live_server, log_in, charlie, people):
    log_in("charlie")
    page.goto("/contacts/")
    # htmx keeps 10 pages in its history cache and each pause in typing pushes one; emptying the cache makes
    # going back to an evicted search deterministic.
    page.evaluate("htmx.config.historyCacheSize = 0; localStorage.removeItem('htmx-history-cache')")
    search = page.locator("#contact-search")
    search.fill("ada")
    expect(page).to_have_url(f"{live_server.url}/contacts/?q=ada")
    search.fill("grace")
    expect(page).to_have_url(f"{live_server.url}/contacts/?q=grace")

    with page.expect_response(lambda response: "q=ada" in response.url):
        page.go_back()

    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible(timeout=1_000)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=1_000)
    expect(page.locator("#contact-search")).to_be_visible(timeout=1_000)
