"""The sequence builder: an editor builds the document's 3-email cart-abandonment sequence (each email's timing
inline with htmx, then its default copy in the copy editor) and activates it; a real abandonment then gets the
first email and the contact's profile shows the plan; a viewer only reads; removing an email asks first."""

import re
from datetime import time, timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from sequences.delivery import claim_due_messages, send_claimed_messages
from sequences.demo_sequences import SEGMENTS
from sequences.enrolment import enrol_pending_triggers
from sequences.models import CopyVariant, Segment, Sequence, Step
from sequences.triggers import detect_quiet_sessions
from tests.browser.conftest import ARTIFACTS
from tests.sequences.test_intent_end_to_end import abandoning_session

pytestmark = pytest.mark.browser

SEQUENCE = "Cart rescue (built in the browser)"

# The document's cart-abandonment sequence, as a marketer types it in: timing in the builder, copy (each email's
# default variant) in the copy editor.
EMAILS = [
    {
        "name": "Reminder with live chat",
        "counted_from": "the trigger",
        "wait": ("0", "0"),
        "window": None,
        "subject": "{{ first_name }}, your cart awaits—complete the purchase",
        "opening": "Hi {{ first_name }}, you stopped at checkout.",
        "body": "Our team is on live chat now.",
        "cta": ("Back to my cart", "https://shop.example.com/cart"),
        "summary": "at once after the trigger",
    },
    {
        "name": "Empathy and free shipping",
        "counted_from": "the previous email",
        "wait": ("2", "6"),
        "window": ("19:00", "21:00"),
        "subject": "Free shipping on your cart, {{ first_name }}",
        "opening": "",
        "body": "Choosing takes time. We'll ship your order free.",
        "cta": ("Get free shipping", "https://shop.example.com/cart?promo=freeship"),
        "summary": "2 h–6 h after the previous email · engagement window 19:00–21:00 local",
    },
    {
        "name": "Scarcity",
        "counted_from": "the previous email",
        "wait": ("12", "24"),
        "window": ("12:00", "14:00"),
        "subject": "Only 3 left!",
        "opening": "",
        "body": "The items in your cart are selling out.",
        "cta": ("Complete my order", "https://shop.example.com/cart"),
        "summary": "12 h–1 day after the previous email · engagement window 12:00–14:00 local",
    },
]
NAMES = [email["name"] for email in EMAILS]


@pytest.fixture
def segments(db):
    """The document's segments (not its sequences: those would enrol the same contacts)."""
    for position, data in enumerate(SEGMENTS):
        Segment.objects.create(position=position, **data)
    return Segment.objects.all()


def titles(page: Page) -> Locator:
    return page.locator("#steps li.step-card .step-when strong")


def step_card(page: Page, name: str) -> Locator:
    return page.locator("#steps li.step-card").filter(has=page.locator(".step-when strong", has_text=name))


def step_editor(page: Page) -> Locator:
    """The inline edit form (the only fieldset inside the steps section)."""
    return page.locator("#steps li.step-card fieldset")


def numbered(names: list[str]) -> list[str]:
    return [f"{number}. {name}" for number, name in enumerate(names, start=1)]


def create_draft(page: Page, name: str = SEQUENCE) -> None:
    """On /sequences/: name, "Starts when" = Cart abandoned, both abandoner segments, no holdout."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sequences").click()
    expect(page.get_by_role("heading", name="Sequences", level=1)).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Starts when").select_option(label="Cart abandoned")
    page.get_by_label("High-Intent Abandoners").check()
    page.get_by_label("Other Abandoners").check()
    page.get_by_label("Holdout (control group) %").fill("0")
    page.get_by_role("button", name="Create draft").click()

    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"“{name}” created as a draft: add its emails, then activate it.")
    expect(page.locator("h1 .status")).to_have_text("Draft")


def needs_copy(numbers) -> list[str]:
    return [f"Email {number} needs a default copy variant (it catches everyone the others miss)." for number in numbers]


def fill_timing(editor: Locator, email: dict) -> None:
    editor.get_by_label("Name", exact=True).fill(email["name"])
    editor.get_by_label("Counted from").select_option(label=email["counted_from"])
    editor.get_by_label("Wait at least (hours)").fill(email["wait"][0])
    editor.get_by_label("and at most (hours)").fill(email["wait"][1])
    start, end = email["window"] or ("", "")
    editor.get_by_label("Engagement window from (local)").fill(start)
    editor.get_by_label("until", exact=True).fill(end)


def expect_timing(editor: Locator, email: dict) -> None:
    """The inline form shows the email's saved timing, and no copy fields: copy lives in the copy editor."""
    expect(editor.get_by_label("Name", exact=True)).to_have_value(email["name"])
    expect(editor.get_by_label("Wait at least (hours)")).to_have_value(email["wait"][0])
    expect(editor.get_by_label("and at most (hours)")).to_have_value(email["wait"][1])
    for label, value in zip(("Engagement window from (local)", "until"), email["window"] or ("", ""), strict=True):
        # A time input may carry seconds ("19:00:00"): it is the same time.
        expect(editor.get_by_label(label, exact=True)).to_have_value(re.compile(rf"^{value}(:00)?$"))
    for copy_field in ("Subject", "Body"):
        expect(editor.get_by_label(copy_field, exact=True)).to_have_count(0)


def add_email(page: Page, email: dict, *, screenshot: str | None = None) -> None:
    """ "+ Add email" opens the new email's inline timing form; fill it in and save it (the copy comes later)."""
    count = titles(page).count()
    page.get_by_role("button", name="+ Add email").click()
    editor = step_editor(page)
    expect(editor.get_by_label("Name", exact=True)).to_have_value(f"Email {count + 1}")
    fill_timing(editor, email)
    if screenshot:
        page.screenshot(path=ARTIFACTS / screenshot, full_page=True)
    editor.get_by_role("button", name="Save email").click()
    expect(editor).to_have_count(0)
    card = step_card(page, email["name"])
    expect(card.locator(".step-when strong")).to_have_text(f"{count + 1}. {email['name']}")
    expect(card.locator(".step-when .muted")).to_have_text(email["summary"])
    expect(card.locator(".step-variants li")).to_have_text(["No copy yet."])
    expect(card.locator(".step-subject")).to_have_count(0)


def as_alex(template: str) -> str:
    """A copy template as the copy editor's initial hypothetical contact (first name Alex) reads it."""
    return template.replace("{{ first_name }}", "Alex")


def write_copy(page: Page, email: dict, name: str = SEQUENCE) -> None:
    """ "Copy & preview" opens the email's copy editor: write its default variant (the live preview follows the
    typing), save it, and go back to the sequence, whose card now lists the variant."""
    step_card(page, email["name"]).get_by_role("link", name="Copy & preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{email['name']} copy and preview")
    # The heading shows before htmx has wired the form's input triggers: typing earlier would preview nothing.
    page.wait_for_load_state("load")
    variants = page.locator("ol.variant-list > li")
    expect(variants).to_have_text(["No variants yet: start with the default."])
    expect(page.locator("#preview")).to_have_text("This email has no default variant yet: save one first.")

    form = page.locator("#variant-form")
    expect(form.get_by_label("Name", exact=True)).to_have_value("Default")
    expect(form.get_by_label("Priority")).to_be_disabled()  # the default is always tried last
    form.get_by_label("Subject", exact=True).fill(email["subject"])
    form.get_by_label("Opening", exact=True).fill(email["opening"])
    form.get_by_label("Body", exact=True).fill(email["body"])
    form.get_by_label("Call to action", exact=True).fill(email["cta"][0])
    form.get_by_label("Call to action URL", exact=True).fill(email["cta"][1])
    preview = page.locator("#preview")
    expect(preview.locator(".winner")).to_have_text("Default")
    expect(preview.locator(".preview-subject")).to_have_text(as_alex(email["subject"]))
    expect(preview.locator("pre.plain-text")).to_contain_text(email["body"])

    form.get_by_role("button", name="Save variant").click()
    expect(page.get_by_role("status")).to_have_text("Variant “Default” saved.")
    expect(variants).to_have_count(1)
    expect(variants.first.get_by_role("link")).to_have_text("Default")
    expect(variants.first.locator(".badge")).to_have_text("default")
    expect(variants.first.locator(".muted")).to_have_text(email["subject"])
    expect(form.get_by_label("Subject", exact=True)).to_have_value(email["subject"])
    expect(form.get_by_label("Body", exact=True)).to_have_value(email["body"])

    page.get_by_role("link", name=f"← {name}").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    card = step_card(page, email["name"])
    expect(card.locator(".step-variants li")).to_have_count(1)
    expect(card.locator(".step-variants .badge")).to_have_text("default")
    expect(card.locator(".step-subject")).to_have_text(email["subject"])


def activate(page: Page, name: str = SEQUENCE) -> None:
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_have_text(f"“{name}” is now active.")
    expect(page.locator("h1 .status")).to_have_text("Active")


def test_editor_builds_the_cart_sequence_inline_and_activates_it(page: Page, log_in, bob, stages, segments):
    log_in("bob")
    create_draft(page)
    expect(page.get_by_role("alert")).to_have_text("Before it can be activated: Add at least one email.")
    expect(page.locator("#steps")).to_contain_text("No emails yet.")

    # Three emails, each added and its timing saved inline, the copy left for later: no full page load.
    page.evaluate("window.__sameDocument = 'builder'")
    for number, email in enumerate(EMAILS):
        add_email(page, email, screenshot="sequence-builder-edit.png" if number == 1 else None)
    expect(titles(page)).to_have_text(numbered(NAMES))
    assert page.evaluate("window.__sameDocument") == "builder", "saving an email reloaded the whole page"
    expect(page.get_by_role("alert")).to_have_text("Before it can be activated: " + " ".join(needs_copy([1, 2, 3])))

    # Not ready: Activate explains why and the sequence stays a draft.
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_have_text("Not activated: " + " ".join(needs_copy([1, 2, 3])))
    expect(page.locator("h1 .status")).to_have_text("Draft")
    expect(titles(page)).to_have_text(numbered(NAMES))

    # Each email's default copy, written in its copy editor; the problem list shrinks with each.
    for number, email in enumerate(EMAILS, start=1):
        write_copy(page, email)
        left = needs_copy(range(number + 1, len(EMAILS) + 1))
        if left:
            expect(page.get_by_role("alert")).to_have_text("Before it can be activated: " + " ".join(left))
        else:
            expect(page.get_by_role("alert")).to_have_count(0)
    expect(titles(page)).to_have_text(numbered(NAMES))

    # The timing forms kept what was typed; saving one again changes nothing and keeps the copy.
    page.evaluate("window.__sameDocument = 'builder'")
    for email in EMAILS:
        card = step_card(page, email["name"])
        card.get_by_role("link", name="Edit timing").click()
        editor = step_editor(page)
        expect_timing(editor, email)
        editor.get_by_role("button", name="Save email").click()
        expect(editor).to_have_count(0)
        expect(card.locator(".step-subject")).to_have_text(email["subject"])
        expect(card.locator(".step-when .muted")).to_have_text(email["summary"])

    # Reorder: Scarcity up, then back down.
    step_card(page, "Scarcity").get_by_role("button", name="Move Scarcity up").click()
    expect(titles(page)).to_have_text(numbered(["Reminder with live chat", "Scarcity", "Empathy and free shipping"]))
    expect(
        step_card(page, "Reminder with live chat").get_by_role("button", name="Move Reminder with live chat up")
    ).to_be_disabled()
    step_card(page, "Scarcity").get_by_role("button", name="Move Scarcity down").click()
    expect(titles(page)).to_have_text(numbered(NAMES))
    expect(step_card(page, "Scarcity").get_by_role("button", name="Move Scarcity down")).to_be_disabled()
    assert page.evaluate("window.__sameDocument") == "builder", "editing or moving an email reloaded the page"

    activate(page)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("button", name="Activate")).to_have_count(0)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(titles(page)).to_have_text(numbered(NAMES))  # what was saved, in the saved order

    page.get_by_role("link", name="← Sequences").click()
    row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=SEQUENCE))
    expect(row.locator("td")).to_have_text(
        [SEQUENCE, "Cart abandoned", "Decision (cart and checkout)", "3", "0", "0", "Active"]
    )


def test_an_abandoned_cart_gets_the_first_email_and_the_profile_shows_what_comes_next(
    page: Page, live_server, log_in, bob, stages, segments, account, write_key, smtp_sink
):
    account.quiet_hours_start = account.quiet_hours_end = time(0, 0)  # no quiet hours: the test runs at any hour
    account.save()
    log_in("bob")
    create_draft(page)
    for email in EMAILS:
        add_email(page, email)
    for email in EMAILS:
        write_copy(page, email)
    activate(page)

    # A visitor abandons a cart on the shop: the session goes to the tracking API as Segment's clients send it.
    session = abandoning_session(
        timezone.now() - timedelta(minutes=20), user_id="u-ada", anonymous_id="anon-ada", email="ada@example.com"
    )
    response = requests.post(f"{live_server.url}/v1/batch", json=session, auth=(write_key.key, ""), timeout=5)
    assert response.status_code == 200, response.text

    # The beat tasks and the delivery worker, in order.
    now = timezone.now()
    assert detect_quiet_sessions(now=now) >= 1
    assert enrol_pending_triggers(now=now) == 1
    ids = claim_due_messages(now=now)
    assert len(ids) == 1
    assert send_claimed_messages(ids, now_fn=timezone.now).sent == 1
    (sent,) = smtp_sink.messages
    assert (sent["To"], sent["Subject"]) == ("ada@example.com", "Ada, your cart awaits—complete the purchase")
    text = sent.get_body(preferencelist=("plain",)).get_content()
    assert "Hi Ada, you stopped at checkout." in text
    assert "Our team is on live chat now." in text

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    outbox = page.locator("section.card").filter(has=page.get_by_role("heading", name="Sent and failed"))
    rows = outbox.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator("td").nth(1)).to_have_text("ada@example.com")
    expect(rows.locator("td").nth(2)).to_have_text(f"{SEQUENCE} · Reminder with live chat")
    expect(rows.locator("td").nth(3)).to_have_text("Ada, your cart awaits—complete the purchase")
    expect(rows.locator("td").nth(5)).to_have_text("Sent")

    rows.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_role("heading", name="Ada", level=1)).to_be_visible()
    plan = page.locator("section.card").filter(has=page.get_by_role("heading", name="Sequences", level=2))
    enrolment = plan.locator("table").first.locator("tbody tr")
    expect(enrolment).to_have_count(1)
    expect(enrolment.locator("td").nth(1)).to_contain_text(SEQUENCE)
    expect(enrolment.locator("td").nth(2)).to_have_text("High-Intent Abandoners")
    expect(enrolment.locator("td").nth(3)).to_have_text("cart:cart-77")
    expect(enrolment.locator("td").nth(4)).to_have_text("Active")

    messages = plan.locator("table.messages-table tbody tr")
    expect(messages).to_have_count(2)
    first = messages.filter(has_text="Reminder with live chat")
    expect(first.locator("td").nth(1)).to_contain_text("Ada, your cart awaits—complete the purchase")
    expect(first.locator("td").nth(2)).to_have_text("Sent")
    expect(first.locator("td").nth(0)).to_contain_text("sent ")
    following = messages.filter(has_text="Empathy and free shipping")
    expect(following.locator("td").nth(2)).to_have_text("Scheduled")
    expect(following.locator("td").nth(3)).to_contain_text("2 h-6 h after")
    expect(following.locator("td").nth(3)).to_contain_text("in the engagement window 19:00-21:00 local")
    expect(messages.filter(has_text="Scarcity")).to_have_count(0)  # scheduled only once the second is sent
    plan.screenshot(path=ARTIFACTS / "contact-profile-sequences.png")


def make_sequence(name: str = SEQUENCE) -> Sequence:
    sequence = Sequence.objects.create(name=name, entry_trigger="cart_abandoned")
    for position, email in enumerate(EMAILS):
        low, high = (int(hours) * 60 for hours in email["wait"])
        start, end = (time.fromisoformat(value) for value in email["window"]) if email["window"] else (None, None)
        step = Step.objects.create(
            sequence=sequence,
            position=position,
            name=email["name"],
            delay_from="trigger" if position == 0 else "previous",
            delay_min_minutes=low,
            delay_max_minutes=high,
            preferred_start=start,
            preferred_end=end,
        )
        CopyVariant.objects.create(
            step=step,
            name="Default",
            is_default=True,
            subject=email["subject"],
            opening=email["opening"],
            body=email["body"],
            cta_text=email["cta"][0],
            cta_url=email["cta"][1],
        )
    return sequence


def test_a_viewer_reads_the_sequence_but_cannot_change_it(page: Page, log_in, charlie):
    make_sequence()
    log_in("charlie")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sequences").click()
    expect(page.get_by_role("button", name="Create draft")).to_have_count(0)
    page.get_by_role("link", name=SEQUENCE).click()

    expect(page.get_by_role("heading", name=SEQUENCE, level=1)).to_be_visible()
    expect(titles(page)).to_have_text(numbered(NAMES))
    for name in ("+ Add email", "Activate", "Pause", "Archive", "Save settings", "Remove"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("button", name="Move Scarcity up")).to_have_count(0)
    for name in ("Edit timing", "+ Add variant"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    settings = page.locator("section.card").filter(has=page.get_by_role("heading", name="Settings"))
    expect(settings.locator("fieldset")).to_have_attribute("disabled", "")
    expect(settings.get_by_label("Name", exact=True)).to_be_disabled()
    expect(settings.get_by_label("Name", exact=True)).to_have_value(SEQUENCE)
    expect(settings.get_by_label("Starts when")).to_be_disabled()
    expect(step_card(page, "Scarcity").locator(".step-subject")).to_have_text("Only 3 left!")

    # "View timing" opens the email's timing read-only.
    step_card(page, "Scarcity").get_by_role("link", name="View timing").click()
    editor = step_editor(page)
    expect(editor).to_have_attribute("disabled", "")
    expect_timing(editor, EMAILS[2])
    expect(editor.get_by_label("Name", exact=True)).to_be_disabled()
    expect(editor.get_by_role("button", name="Save email")).to_have_count(0)
    editor.get_by_role("link", name="Cancel").click()
    expect(editor).to_have_count(0)

    # "Copy & preview" shows the copy read-only.
    step_card(page, "Scarcity").get_by_role("link", name="Copy & preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scarcity copy and preview")
    form = page.locator("#variant-form")
    expect(form.locator("fieldset")).to_have_attribute("disabled", "")
    expect(form.get_by_label("Subject", exact=True)).to_have_value("Only 3 left!")
    expect(form.get_by_label("Subject", exact=True)).to_be_disabled()
    expect(form.get_by_role("button", name="Save variant")).to_have_count(0)


def test_removing_an_email_asks_first_then_it_is_gone(page: Page, log_in, bob):
    make_sequence()
    log_in("bob")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sequences").click()
    page.get_by_role("link", name=SEQUENCE).click()
    expect(titles(page)).to_have_text(numbered(NAMES))
    page.evaluate("window.__sameDocument = 'builder'")
    remove = step_card(page, "Empathy and free shipping").get_by_role("button", name="Remove")

    dialogs: list[str] = []

    def answer(accept: bool):
        def handle(dialog):
            dialogs.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    remove.click()
    assert dialogs == ["Remove Empathy and free shipping? Its scheduled sends are cancelled."]
    expect(titles(page)).to_have_text(numbered(NAMES))

    page.once("dialog", answer(True))
    remove.click()
    expect(titles(page)).to_have_text(numbered(["Reminder with live chat", "Scarcity"]))
    assert len(dialogs) == 2
    assert page.evaluate("window.__sameDocument") == "builder", "removing an email reloaded the page"

    page.reload()
    expect(titles(page)).to_have_text(numbered(["Reminder with live chat", "Scarcity"]))
