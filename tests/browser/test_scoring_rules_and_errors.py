"""The scoring page's context rules and errors as a marketer meets them: only facts scoring knows are offered,
mistakes are explained in the form's words next to their field, and the repeat-download window is a setting
whose effect the contact's explanation shows."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from sequences.models import Contact, ScoringModel
from sequences.tracking.ingest import ingest_events
from tests.browser.conftest import incoming

pytestmark = pytest.mark.browser


def test_the_rule_builder_offers_only_facts_scoring_knows_and_names_one_it_does_not(
    page: Page, live_server, log_in, bob, stages
):
    log_in("bob")
    page.goto("/scoring/")
    rules = page.locator("fieldset.rb-rule")
    expect(rules).to_have_count(2)

    page.get_by_role("button", name="+ Add context rule").click()
    rule = rules.nth(2)
    rule.locator(".rb-name").fill("Pricey")
    rule.get_by_role("button", name="+ condition").click()
    offered = rule.locator("datalist option").evaluate_all("options => options.map(o => o.value)")
    assert "contact.recent_downloads" in offered
    assert [name for name in offered if not name.startswith(("event.", "session.", "contact."))] == []

    rule.get_by_label("Field", exact=True).fill("product.price")  # typed anyway: it is not on the list
    rule.get_by_label("Operator").select_option(label=">")
    rule.get_by_label("Value", exact=True).fill("0")
    rule.get_by_label("Adjust points").fill("50")

    message = (
        "Rule 3 (Pricey), condition 1: product.price is not known when scoring; use event.*, session.* or contact.*."
    )
    expect(page.locator("#what-if ul.errors")).to_contain_text(f"Context rules: {message}")
    page.get_by_role("button", name="Save as v2").click()
    expect(page.locator("#scoring-form p.error[role=alert]")).to_have_text(message)
    assert ScoringModel.objects.count() == 1


def test_a_falling_time_table_and_a_bad_category_are_explained_next_to_their_fields(
    page: Page, live_server, log_in, bob, stages
):
    log_in("bob")
    page.goto("/scoring/")
    expect(page.locator("fieldset.rb-rule")).to_have_count(2)
    session = page.get_by_label("Session duration")
    categories = page.get_by_label("Categories")

    session.fill("0=0, 60=10, 120=5")
    categories.fill("electronics = 150\nbooks = 50")

    what_if = page.locator("#what-if ul.errors")
    expect(what_if).to_contain_text("Session duration: Scores must not fall as time grows (60s → 10, 120s → 5).")
    expect(what_if).to_contain_text("Categories: electronics: score must be a number from 0 to 100.")
    page.get_by_role("button", name="Save as v2").click()

    def error_of(field):
        return page.locator(".field.invalid").filter(has=field).get_by_role("alert")

    expect(error_of(session)).to_have_text("Scores must not fall as time grows (60s → 10, 120s → 5).")
    expect(error_of(categories)).to_have_text("electronics: score must be a number from 0 to 100.")
    expect(session).to_have_value("0=0, 60=10, 120=5")
    assert ScoringModel.objects.count() == 1


def test_a_longer_repeat_download_window_shows_on_the_contacts_explanation(
    page: Page, live_server, log_in, bob, write_key, stages
):
    now = timezone.now()

    def download(days_ago: float):
        when = now - timedelta(days=days_ago)
        return incoming("track", name="Content Downloaded", user_id="u-rae", occurred_at=when)

    ingest_events(
        source=write_key,
        events=[incoming("identify", user_id="u-rae", traits={"email": "rae@example.com", "firstName": "Rae"})],
    )
    ingest_events(source=write_key, events=[download(20)])

    log_in("bob")
    page.goto("/scoring/")
    expect(page.locator("fieldset.rb-rule")).to_have_count(2)
    window = page.get_by_label("Repeat-download window (days)")
    expect(window).to_have_value("14")
    window.fill("30")
    page.get_by_role("button", name="Save as v2").click()
    expect(page.get_by_role("status")).to_contain_text("Scoring model v2 saved and active.")
    expect(window).to_have_value("30")
    assert ScoringModel.objects.get(version=2).config["repeat_download_days"] == 30

    ingest_events(source=write_key, events=[download(0)])  # the one of 20 days ago is within 30 days

    page.goto(f"/contacts/{Contact.objects.get(user_id='u-rae').pk}/")
    expect(page.locator("table.explain")).to_contain_text(
        "+10 points: event.action = content_downloaded, contact.recent_downloads = 2 (≥ 2)"
    )
