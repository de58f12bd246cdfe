"""The intent scoring page (what-if, versions, rule builder) and the trigger settings page, as a marketer uses them."""

import copy
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from sequences.conditions import evaluate
from sequences.intent import active_scoring
from sequences.models import Contact, ScoringModel, TriggerSettings
from sequences.models.trigger_settings import DEFAULT_EVENT_ACTIONS
from sequences.scoring_config import DEFAULT_CONFIG_JSON
from sequences.scoring_models import scoring_model_activate, scoring_model_create
from sequences.tracking.ingest import ingest_events
from tests.browser.conftest import ARTIFACTS, incoming

pytestmark = pytest.mark.browser

SAVE = re.compile(r"^Save as v\d+$")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def shoppers(write_key, account, stages) -> dict[str, int]:
    """Four contacts scored by ingest under the shipped model (v1), each session ending five minutes ago.

    Under v1 (weights 30/25/25/20) and with 10 points moved from lifecycle stage to action depth (30/35/25/10):
      Cara, a customer who abandoned an electronics checkout after 6 minutes: 93.3 high   -> 95.3 high
      Sam, a subscriber who reached checkout in a 4-minute session:          71.8 medium -> 77.8 high
      Olive, an opportunity who glanced at one homeware product:             52.7 medium -> 49.2 low
      Ben, a visitor of unknown stage who read two pages in 30 seconds:      27.9 low    -> 25.4 low
    """
    end = timezone.now() - timedelta(minutes=5)
    people = {
        "u-cara": ("cara.diaz@example.com", "Cara", "Diaz", "customer"),
        "u-sam": ("sam.okafor@example.com", "Sam", "Okafor", "subscriber"),
        "u-olive": ("olive.park@example.com", "Olive", "Park", "opportunity"),
        "u-ben": ("ben.walker@example.com", "Ben", "Walker", None),
    }
    # user id -> (seconds after the session's start, type, event name, properties); the session ends at `end`.
    sessions = {
        "u-cara": [
            (0, "track", "Product Viewed", {"category": "Electronics", "product": "Noise-cancelling headphones"}),
            (120, "track", "Product Viewed", {"category": "Electronics", "product": "Studio monitor"}),
            (200, "track", "Cart Viewed", {"cart_id": "cart-cara"}),
            (360, "track", "Checkout Started", {"cart_id": "cart-cara"}),
        ],
        "u-sam": [
            (0, "page", "Home", {}),
            (30, "track", "Product Viewed", {"category": "Electronics", "product": "Smart speaker"}),
            (60, "track", "Product Added", {"category": "Electronics", "cart_id": "cart-sam"}),
            (240, "track", "Checkout Started", {"cart_id": "cart-sam"}),
        ],
        "u-olive": [
            (0, "page", "Home", {}),
            (10, "track", "Product Viewed", {"category": "Home", "product": "Linen throw"}),
            (100, "page", "Delivery", {}),
        ],
        "u-ben": [(0, "page", "Home", {}), (30, "page", "Blog", {})],
    }
    events = []
    for user_id, steps in sessions.items():
        email, first, last, stage = people[user_id]
        start = end - timedelta(seconds=steps[-1][0])
        traits = {"email": email, "firstName": first, "lastName": last}
        if stage:
            traits["lifecycle_stage"] = stage
        events.append(incoming("identify", user_id=user_id, occurred_at=start, traits=traits))
        events.extend(
            incoming(kind, name=name, user_id=user_id, occurred_at=start + timedelta(seconds=at), properties=props)
            for at, kind, name, props in steps
        )
    result = ingest_events(source=write_key, events=events)
    assert result.stored == len(events)
    contacts = {c.user_id: c for c in Contact.objects.filter(user_id__in=people)}
    tiers = {user_id: contact.intent_tier for user_id, contact in contacts.items()}
    assert tiers == {"u-cara": "high", "u-sam": "medium", "u-olive": "medium", "u-ben": "low"}, tiers
    return {user_id: contact.pk for user_id, contact in contacts.items()}


def what_if_row(page: Page, name: str) -> Locator:
    return page.locator("#what-if table.what-if-rows tbody tr").filter(has=page.get_by_role("link", name=name))


def expect_tiers(row: Locator, now: str, draft: str) -> None:
    expect(row.locator("td").nth(1).locator(".tier")).to_have_text(now)
    expect(row.locator("td").nth(2).locator(".tier")).to_have_text(draft)


def versions(page: Page) -> Locator:
    return page.locator("ol.versions > li")


def test_editor_sees_who_would_change_tier_and_saves_a_new_version(
    page: Page, live_server, log_in, bob, shoppers, artifacts
):
    log_in("bob")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scoring").click()
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v1 active")
    # The rule builder mounts on DOMContentLoaded, after htmx has wired the form: typing before that would be lost.
    expect(page.locator("fieldset.rb-rule")).to_have_count(2)
    what_if = page.locator("#what-if")
    expect(what_if).to_contain_text("0 of 4 recently active contacts would change tier.")
    expect(what_if.locator("table.what-if-rows tbody tr")).to_have_count(4)
    expect(what_if.locator("tr.changed")).to_have_count(0)
    expect_tiers(what_if_row(page, "Sam Okafor"), "medium", "medium")

    page.evaluate("window.__sameDocument = 'still here'")
    # Move 10 points from lifecycle stage to action depth; the weights still total 100.
    page.get_by_label("Lifecycle stage", exact=True).fill("10")
    page.get_by_label("Action depth", exact=True).fill("35")

    expect(what_if).to_contain_text("2 of 4 recently active contacts would change tier.")
    expect(what_if.locator("table.what-if-rows tbody tr.changed")).to_have_count(2)
    sam, olive = what_if_row(page, "Sam Okafor"), what_if_row(page, "Olive Park")
    expect_tiers(sam, "medium", "high")
    expect(sam).to_have_class("changed")
    expect(sam).to_contain_text(re.compile(r"71\.\d medium\s+77\.\d high"))
    expect_tiers(olive, "medium", "low")
    expect_tiers(what_if_row(page, "Cara Diaz"), "high", "high")
    expect_tiers(what_if_row(page, "Ben Walker"), "low", "low")
    moves = what_if.locator("table.moves tbody tr.changed")
    expect(moves).to_have_count(2)
    expect(moves.filter(has_text="high")).to_have_text(re.compile(r"medium\s*high\s*1"))
    expect(moves.filter(has_text="low")).to_have_text(re.compile(r"medium\s*low\s*1"))
    assert page.evaluate("window.__sameDocument") == "still here", "the what-if reloaded the whole page"
    assert ScoringModel.objects.count() == 1, "the what-if saved something"
    page.screenshot(path=artifacts / "scoring-what-if.png", full_page=True)

    page.get_by_label("Note", exact=True).fill("Depth matters more than CRM stage")
    page.get_by_role("button", name="Save as v2").click()

    expect(page.get_by_role("status")).to_contain_text("Scoring model v2 saved and active.")
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v2 active")
    expect(page.get_by_role("button", name="Save as v3")).to_be_visible()
    # v2 stores the form's floats, so the inputs now read "35.0" where v1's read "35" (see the report).
    expect(page.get_by_label("Action depth", exact=True)).to_have_value(re.compile(r"^35(\.0)?$"))
    expect(page.get_by_label("Lifecycle stage", exact=True)).to_have_value(re.compile(r"^10(\.0)?$"))
    expect(versions(page)).to_have_count(2)
    newest, oldest = versions(page).nth(0), versions(page).nth(1)
    expect(newest).to_contain_text("v2")
    expect(newest.locator(".badge")).to_have_text("active")
    expect(newest).to_contain_text("by bob")
    expect(newest).to_contain_text("Depth matters more than CRM stage")
    expect(oldest).to_contain_text("v1")
    expect(oldest.locator(".badge")).to_have_count(0)
    expect(oldest.get_by_role("button", name="make active")).to_be_visible()
    # The draft is now the active model: nobody would change tier, and Sam is high "now".
    expect(what_if).to_contain_text("0 of 4 recently active contacts would change tier.")
    expect_tiers(what_if_row(page, "Sam Okafor"), "high", "high")

    v2 = ScoringModel.objects.get(version=2)
    expected = copy.deepcopy(DEFAULT_CONFIG_JSON)
    expected["weights"].update(action_depth=35, lifecycle_stage=10)
    assert v2.config == expected, "saving changed more than the two weights"
    assert v2.note == "Depth matters more than CRM stage"
    assert v2.created_by == bob

    listing = page.request.get("/api/v1/scoring-models/")
    assert listing.ok, listing.text()
    active = [(m["version"], m["is_active"]) for m in listing.json()["results"]]
    assert active == [(2, True), (1, False)], active

    # Sam's profile is scored with the active model: action depth now weighs 35%, and Sam is high intent.
    page.goto(f"/contacts/{shoppers['u-sam']}/")
    expect(page.get_by_role("heading", name="Sam Okafor", level=1)).to_be_visible()
    expect(page.locator("#intent-tier")).to_have_text("high")
    explain = page.locator("table.explain")
    expect(explain.locator("tr").filter(has_text="Action depth").locator("td").nth(1)).to_have_text("35%")
    expect(explain.locator("tr").filter(has_text="Lifecycle stage").locator("td").nth(1)).to_have_text("10%")


def test_weights_that_do_not_total_100_are_refused(page: Page, live_server, log_in, bob, shoppers, artifacts):
    log_in("bob")
    page.goto("/scoring/")
    what_if = page.locator("#what-if")
    expect(what_if).to_contain_text("0 of 4 recently active contacts would change tier.")

    page.get_by_label("Time spent", exact=True).fill("40")  # 40 + 25 + 25 + 20 = 110

    expect(what_if).to_contain_text("Fix these to see the effect:")
    expect(what_if.locator("ul.errors")).to_contain_text("must total 100%, not 110%")
    expect(what_if.locator("table")).to_have_count(0)

    page.get_by_label("Note", exact=True).fill("Too much time")
    page.get_by_role("button", name="Save as v2").click()

    errors = page.locator("#scoring-form .errors[role=alert]")
    expect(errors).to_contain_text("must total 100%, not 110%")
    page.screenshot(path=artifacts / "scoring-bad-total.png", full_page=True)
    expect(page.get_by_role("status")).to_have_count(0)  # no success message
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v1 active")
    expect(page.get_by_label("Time spent", exact=True)).to_have_value("40")  # the marketer's input is kept
    expect(page.get_by_label("Note", exact=True)).to_have_value("Too much time")
    expect(page.get_by_role("button", name="Save as v2")).to_be_visible()
    expect(versions(page)).to_have_count(1)
    expect(versions(page).first.locator(".badge")).to_have_text("active")
    assert list(ScoringModel.objects.values_list("version", "is_active")) == [(1, True)]

    # Putting the total back to 100 clears the error in the what-if panel.
    page.get_by_label("Time spent", exact=True).fill("30")
    expect(what_if).to_contain_text("0 of 4 recently active contacts would change tier.")


def test_context_rule_added_in_the_rule_builder_is_saved_as_json(
    page: Page, live_server, log_in, bob, shoppers, artifacts
):
    log_in("bob")
    page.goto("/scoring/")
    rules = page.locator("fieldset.rb-rule")
    expect(rules).to_have_count(2)  # the shipped model's two rules
    what_if = page.locator("#what-if")
    expect(what_if).to_contain_text("0 of 4 recently active contacts would change tier.")

    page.get_by_role("button", name="+ Add context rule").click()
    expect(rules).to_have_count(3)
    # A blank rule is not valid yet: the what-if panel says what is missing instead of guessing.
    expect(what_if).to_contain_text("Fix these to see the effect:")
    expect(what_if.locator("ul.errors")).to_contain_text("give the rule a name")
    what_if.screenshot(path=artifacts / "scoring-blank-rule-what-if.png")
    rule = rules.nth(2)
    rule.locator(".rb-name").fill("Stayed longer than a minute")
    rule.get_by_role("button", name="+ condition").click()
    leaf = rule.locator(".rb-leaf")
    expect(leaf).to_have_count(1)
    leaf.get_by_label("Field", exact=True).fill("session.duration_seconds")
    leaf.get_by_label("Operator").select_option(label=">")
    leaf.get_by_label("Value", exact=True).fill("60")
    rule.get_by_label("Adjust points").fill("5")

    # +5 lifts Sam (71.8) over the high threshold; Olive and Cara stay in their tiers, Ben's 30 s visit is too short.
    expect(what_if).to_contain_text("1 of 4 recently active contacts would change tier.")
    expect_tiers(what_if_row(page, "Sam Okafor"), "medium", "high")
    expect_tiers(what_if_row(page, "Ben Walker"), "low", "low")

    page.get_by_label("Note", exact=True).fill("Reward long visits")
    page.get_by_role("button", name="Save as v2").click()
    expect(page.get_by_role("status")).to_contain_text("Scoring model v2 saved and active.")

    saved = ScoringModel.objects.get(version=2).config["context_rules"]
    assert saved[2] == {
        "name": "Stayed longer than a minute",
        "condition": {"all": [{"field": "session.duration_seconds", "op": "gt", "value": 60}]},
        "adjust": 5,
    }
    # The two shipped rules went through the builder unchanged (it writes `adjust: 0` where only a cap was set).
    assert saved[:2] == [{"adjust": 0, **rule} for rule in DEFAULT_CONFIG_JSON["context_rules"]]

    # The reloaded page shows the saved rule in the builder.
    expect(rules).to_have_count(3)
    shown = rules.nth(2)
    expect(shown.locator(".rb-name")).to_have_value("Stayed longer than a minute")
    expect(shown.get_by_label("Field", exact=True)).to_have_value("session.duration_seconds")
    expect(shown.get_by_label("Operator")).to_have_value("gt")
    expect(shown.get_by_label("Value", exact=True)).to_have_value("60")
    expect(shown.get_by_label("Adjust points")).to_have_value("5")
    expect(shown.get_by_label("Cap score at")).to_have_value("")


def test_viewer_sees_the_settings_but_cannot_change_them(page: Page, live_server, log_in, charlie, shoppers):
    log_in("charlie")
    page.goto("/scoring/")
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v1 active")
    expect(page.locator("#what-if")).to_contain_text("0 of 4 recently active contacts would change tier.")
    expect(page.locator("#scoring-form > fieldset")).to_have_attribute("disabled", "")
    for label in ("Time spent", "Action depth", "High intent from", "Session duration", "Categories"):
        expect(page.get_by_label(label, exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="+ Add context rule")).to_be_disabled()
    expect(page.locator("fieldset.rb-rule .rb-name").first).to_be_disabled()
    expect(page.get_by_role("button", name=SAVE)).to_have_count(0)
    expect(page.get_by_label("Note", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="make active")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    expect(page.get_by_role("heading", name="Trigger settings", level=1)).to_be_visible()
    expect(page.get_by_label("Cart abandoned after (minutes idle)")).to_be_disabled()
    expect(page.get_by_label("Cart abandoned after (minutes idle)")).to_have_value("5")
    expect(page.get_by_label("Event actions")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)

    # Posting anyway (a crafted request with a valid CSRF token) is refused.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        "/triggers/", headers={"X-CSRFToken": token}, form={"cart_abandon_minutes": "1", "event_actions": "A = x"}
    )
    assert refused.status == 403
    refused = page.request.post("/scoring/", headers={"X-CSRFToken": token}, form={"note": "sneaky"})
    assert refused.status == 403
    assert ScoringModel.objects.count() == 1
    assert TriggerSettings.current().cart_abandon_minutes == 5


def test_editor_rolls_back_to_an_earlier_version(page: Page, live_server, log_in, bob):
    v1, _ = active_scoring()
    stricter = copy.deepcopy(v1.config)
    stricter.update(high_threshold=80)
    scoring_model_create(config=stricter, note="Stricter high tier", user=bob)

    log_in("bob")
    page.goto("/scoring/")
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v2 active")
    expect(page.get_by_label("High intent from")).to_have_value("80")
    oldest = versions(page).filter(has_text="Shipped defaults")
    oldest.get_by_role("button", name="make active").click()

    expect(page.get_by_role("status")).to_contain_text("Scoring model v1 is active again.")
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v1 active")
    expect(page.get_by_label("High intent from")).to_have_value("75")
    expect(oldest.locator(".badge")).to_have_text("active")
    newest = versions(page).filter(has_text="Stricter high tier")
    expect(newest.locator(".badge")).to_have_count(0)
    expect(newest.get_by_role("button", name="make active")).to_be_visible()
    assert list(ScoringModel.objects.filter(is_active=True).values_list("version", flat=True)) == [1]


def test_save_button_after_a_rollback_names_the_version_it_will_create(page: Page, live_server, log_in, bob):
    v1, _ = active_scoring()
    scoring_model_create(config=v1.config, note="Same again", user=bob)
    scoring_model_activate(model=v1)

    log_in("bob")
    page.goto("/scoring/")
    expect(page.get_by_role("heading", name="Intent scoring", level=1)).to_contain_text("v1 active")
    label = page.get_by_role("button", name=SAVE).inner_text()
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_role("status")).to_contain_text("saved and active")
    created = page.get_by_role("status").inner_text()
    assert label == "Save as v3", f"the button read {label!r}; then the page said {created!r}"


def test_editing_the_rules_keeps_a_negated_condition(page: Page, live_server, log_in, bob):
    v1, _ = active_scoring()
    config = copy.deepcopy(v1.config)
    negated = {
        "name": "Not from the blog",
        "condition": {"not": {"field": "event.properties.content_type", "op": "eq", "value": "blog"}},
        "adjust": 5,
    }
    config["context_rules"] = [negated]
    scoring_model_create(config=config, note="Made through the API", user=bob)

    log_in("bob")
    page.goto("/scoring/")
    rules = page.locator("fieldset.rb-rule")
    expect(rules).to_have_count(1)
    rules.first.locator(".rb-name").fill("Not from the blog (checked)")  # the marketer only renames the rule
    page.get_by_role("button", name="Save as v3").click()
    expect(page.get_by_role("status")).to_contain_text("Scoring model v3 saved and active.")

    (saved,) = ScoringModel.objects.get(version=3).config["context_rules"]
    # The builder shows a bare negation as a "none of" group: the same rule, written its way.
    assert saved["name"] == "Not from the blog (checked)"
    assert saved["condition"] == {"not": {"any": [negated["condition"]["not"]]}}, saved
    for content_type, holds in (("blog", False), ("guide", True)):
        facts = {"event": {"properties": {"content_type": content_type}}}
        assert evaluate(saved["condition"], facts).result is holds


def test_a_condition_on_a_number_like_text_keeps_it_as_text(page: Page, live_server, log_in, bob):
    log_in("bob")
    page.goto("/scoring/")
    page.get_by_role("button", name="+ Add context rule").click()
    rule = page.locator("fieldset.rb-rule").last
    rule.locator(".rb-name").fill("Bestseller viewed")
    rule.get_by_role("button", name="+ condition").click()
    rule.get_by_label("Field", exact=True).fill("event.properties.sku")
    rule.get_by_label("Value", exact=True).fill("00123")
    rule.get_by_label("Adjust points").fill("5")
    page.get_by_role("button", name="Save as v2").click()
    expect(page.get_by_role("status")).to_contain_text("Scoring model v2 saved and active.")

    leaf = ScoringModel.objects.get(version=2).config["context_rules"][-1]["condition"]["all"][0]
    assert leaf == {"field": "event.properties.sku", "op": "eq", "value": "00123"}, leaf


def lines(textarea: Locator) -> set[str]:
    text = textarea.input_value()
    return {line for line in text.splitlines() if line.strip()}


def test_editor_changes_trigger_settings_and_a_bad_mapping_line_is_refused(
    page: Page, live_server, log_in, bob, artifacts
):
    log_in("bob")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    expect(page.get_by_role("heading", name="Trigger settings", level=1)).to_be_visible()
    minutes = page.get_by_label("Cart abandoned after (minutes idle)")
    mapping = page.get_by_label("Event actions")
    expect(minutes).to_have_value("5")
    assert lines(mapping) == {f"{name} = {action}" for name, action in DEFAULT_EVENT_ACTIONS.items()}
    page.screenshot(path=artifacts / "trigger-settings.png", full_page=True)

    minutes.fill("15")
    mapping.fill(mapping.input_value() + "\nBasket Viewed = cart_viewed")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("Trigger settings saved.")
    expect(minutes).to_have_value("15")
    # PostgreSQL's jsonb does not keep the marketer's line order (see the report), so compare the lines as a set.
    assert lines(mapping) == {
        *(f"{name} = {action}" for name, action in DEFAULT_EVENT_ACTIONS.items()),
        "Basket Viewed = cart_viewed",
    }
    settings = TriggerSettings.current()
    assert settings.cart_abandon_minutes == 15
    assert settings.event_actions == {**DEFAULT_EVENT_ACTIONS, "Basket Viewed": "cart_viewed"}

    minutes.fill("20")
    mapping.fill(mapping.input_value() + "\nFoo = flying")  # line 9: not a funnel action
    page.get_by_role("button", name="Save").click()

    error = page.locator(".field.invalid").filter(has=mapping).get_by_role("alert")
    expect(error).to_have_text(re.compile(r"^Line 9: “flying” is not an action; use one of page_view, .*\.$"))
    expect(page.get_by_role("status")).to_have_count(0)
    expect(minutes).to_have_value("20")  # the form keeps what was typed
    expect(mapping).to_have_value(re.compile(r"\nFoo = flying$"))
    settings.refresh_from_db()
    assert settings.cart_abandon_minutes == 15, "a refused form saved the minutes"
    assert "Foo" not in settings.event_actions
