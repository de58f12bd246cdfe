"""Browser fixtures: one headless Chromium per session, a fresh context and page per test.

Tests drive the app served by pytest-django's `live_server` (transactional database). Nothing may load from
outside loopback: every other request is aborted and fails the test.
"""

import os
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from sequences.models import WriteKey
from sequences.tracking.ingest import ingest_events
from tests.conftest import PASSWORD, incoming

# Playwright's sync API runs an event loop in this thread; without this Django's ORM refuses to run in fixtures.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 5_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server, request) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname not in LOOPBACK:
            outside.append(url)
            route.abort()
        else:
            route.continue_()

    context.route(re.compile(r".*"), only_loopback)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
            try:
                page.screenshot(path=ARTIFACTS / f"failed-{name}.png", full_page=True)
            except Exception as error:  # a crashed page must not hide the test's own failure
                print(f"could not save a screenshot: {error}")
        context.close()
    assert not outside, f"the page tried to load from outside loopback: {outside}"


@pytest.fixture
def log_in(page: Page) -> Callable[[str], Page]:
    """Log in through the login form as the given user name (the fixture's PASSWORD) and wait for the overview."""

    def log_in_as(username: str, password: str = PASSWORD) -> Page:
        page.goto("/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
        return page

    return log_in_as


@pytest.fixture
def people(write_key: WriteKey, account) -> dict[str, str]:
    """Three identified contacts and one anonymous visitor, stored through `ingest_events`."""
    now = timezone.now()
    cast = {
        "u-ada": ("ada.lovelace@example.com", "Ada", "Lovelace"),
        "u-grace": ("grace.hopper@example.com", "Grace", "Hopper"),
        "u-alan": ("alan.turing@example.org", "Alan", "Turing"),
    }
    events = [
        incoming(
            "identify",
            user_id=user_id,
            occurred_at=now - timedelta(days=index + 1),
            traits={"email": email, "firstName": first, "lastName": last},
        )
        for index, (user_id, (email, first, last)) in enumerate(cast.items())
    ]
    events.append(incoming("page", name="Home", anonymous_id="anon-visitor-1", occurred_at=now - timedelta(hours=5)))
    result = ingest_events(source=write_key, events=events)
    assert result.stored == len(events)
    return {user_id: email for user_id, (email, _, _) in cast.items()}
