"""Scoring models and trigger settings through the API and the pages: versions, what-if, validation, roles."""

import copy
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from sequences.models import Contact, ScoringModel, TriggerSettings
from sequences.scoring_config import DEFAULT_CONFIG_JSON
from sequences.scoring_forms import ScoringModelForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_contacts(tracker, stages):
    start = timezone.now() - timedelta(minutes=10)
    for n, (stage, minutes) in enumerate([("customer", 6.5), ("lead", 1), ("mql", 3)]):
        tracker.post(
            "identify",
            {
                "userId": f"u{n}",
                "traits": {"email": f"u{n}@example.com", "lifecycle_stage": stage},
                "timestamp": start.isoformat(),
            },
        )
        tracker.post(
            "track",
            {
                "userId": f"u{n}",
                "event": "Product Viewed",
                "properties": {"category": "electronics"},
                "timestamp": start.isoformat(),
            },
        )
        tracker.post(
            "track",
            {
                "userId": f"u{n}",
                "event": "Checkout Started",
                "timestamp": (start + timedelta(minutes=minutes)).isoformat(),
            },
        )


def test_the_api_lists_versions_and_version_1_is_the_shipped_defaults(api_for, charlie):
    body = api_for(charlie).get("/api/v1/scoring-models/").json()

    assert [(m["version"], m["is_active"]) for m in body["results"]] == [(1, True)]
    assert body["results"][0]["config"]["weights"]["time_spent"] == 30


def test_an_editor_saves_a_new_version_and_it_becomes_active(api_for, bob):
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["weights"] = {"time_spent": 40, "action_depth": 25, "category_relevance": 15, "lifecycle_stage": 20}
    api = api_for(bob)
    api.get("/api/v1/scoring-models/")

    response = api.post("/api/v1/scoring-models/", {"config": config, "note": "more weight on time"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["version"] == 2
    assert ScoringModel.objects.active().version == 2
    assert ScoringModel.objects.get(version=1).config["weights"]["time_spent"] == 30  # versions never change


def test_weights_not_totalling_100_are_a_400_naming_the_field(api_for, bob):
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["weights"]["time_spent"] = 50

    response = api_for(bob).post("/api/v1/scoring-models/", {"config": config}, format="json")

    assert response.status_code == 400
    assert "must total 100%" in response.json()["config"][0]
    assert not ScoringModel.objects.filter(version=2).exists()


def test_a_viewer_cannot_save_a_model(api_for, charlie):
    response = api_for(charlie).post("/api/v1/scoring-models/", {"config": DEFAULT_CONFIG_JSON}, format="json")

    assert response.status_code == 403


def test_an_old_version_can_be_made_active_again(api_for, bob):
    api = api_for(bob)
    api.post("/api/v1/scoring-models/", {"config": DEFAULT_CONFIG_JSON}, format="json")

    response = api.post("/api/v1/scoring-models/1/activate/")

    assert response.json()["is_active"] is True
    assert ScoringModel.objects.active().version == 1


def test_what_if_shows_who_would_re_tier(api_for, charlie, scored_contacts):
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["high_threshold"] = 99

    body = api_for(charlie).post("/api/v1/scoring-models/what-if/", {"config": config}, format="json").json()

    assert body["contacts_scored"] == 3
    assert body["changed"] >= 1
    assert {"from": "high", "to": "medium", "contacts": body["changed"]} in body["moves"]


def test_the_api_what_if_can_score_as_of_last_activity(api_for, charlie, tracker, stages):
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    tracker.post("track", {"userId": "old", "event": "Checkout Started", "timestamp": week_ago})
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["medium_threshold"] = 1  # the week-old session, faded to about 0.5, would drop below it

    now = api_for(charlie).post("/api/v1/scoring-models/what-if/", {"config": config}, format="json").json()
    then = (
        api_for(charlie)
        .post("/api/v1/scoring-models/what-if/", {"config": config, "as_of": "last_activity"}, format="json")
        .json()
    )

    assert now["rows"][0]["draft_tier"] == "low"
    assert then["rows"][0]["draft_tier"] in ("medium", "high")  # as it scored the day it happened


def test_trigger_settings_are_read_and_changed_through_the_api(api_for, bob, charlie):
    assert api_for(charlie).get("/api/v1/trigger-settings/").json()["cart_abandon_minutes"] == 5

    response = api_for(bob).patch(
        "/api/v1/trigger-settings/",
        {
            "cart_abandon_minutes": 15,
            "event_actions": {"Basket Viewed": "cart_viewed", "Order Completed": "order_completed"},
        },
        format="json",
    )

    assert response.status_code == 200
    settings = TriggerSettings.current()
    assert (settings.cart_abandon_minutes, settings.event_actions["Basket Viewed"]) == (15, "cart_viewed")


def test_an_unknown_action_in_the_event_mapping_is_refused(api_for, bob):
    response = api_for(bob).patch("/api/v1/trigger-settings/", {"event_actions": {"Foo": "flying"}}, format="json")

    assert response.status_code == 400
    assert "flying" in response.json()["event_actions"][0]
    assert "Foo" not in TriggerSettings.current().event_actions


def test_a_viewer_cannot_change_trigger_settings(api_for, charlie):
    assert api_for(charlie).patch("/api/v1/trigger-settings/", {"lapsed_days": 3}, format="json").status_code == 403


def form_data(**changes):
    data = ScoringModelForm.initial_from(DEFAULT_CONFIG_JSON)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_scoring_page_saves_a_version_from_the_form(client, bob, stages):
    client.force_login(bob)
    client.get("/scoring/")

    response = client.post("/scoring/", form_data(weight_time_spent=35, weight_lifecycle_stage=15, note="test"))

    assert response.status_code == 302
    model = ScoringModel.objects.active()
    assert (model.version, model.note, model.config["weights"]["time_spent"]) == (2, "test", 35)
    assert model.config["context_rules"] == DEFAULT_CONFIG_JSON["context_rules"]


def test_the_scoring_page_refuses_bad_totals_with_the_form_shown_again(client, bob, stages):
    client.force_login(bob)

    response = client.post("/scoring/", form_data(weight_time_spent=40))

    assert response.status_code == 200
    assert "must total 100%, not 110%" in response.content.decode()
    assert ScoringModel.objects.count() == 1


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_the_scoring_page_refuses_a_number_that_is_not_finite(client, bob, stages, value):
    client.force_login(bob)

    response = client.post("/scoring/", form_data(session_time=f"0=0, {value}=100"))

    assert response.status_code == 200
    assert f"“{value}=100” is not seconds=score." in response.content.decode()
    assert ScoringModel.objects.count() == 1


def test_the_api_refuses_a_weight_that_is_not_finite(api_for, bob):
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["half_life_hours"] = float("inf")
    body = json.dumps({"config": config})  # Python writes it as Infinity, which JSON does not have

    response = api_for(bob).post("/api/v1/scoring-models/", body, content_type="application/json")

    assert response.status_code == 400
    assert "Infinity" in response.json()["detail"]
    assert not ScoringModel.objects.filter(version=2).exists()


def test_rules_nested_deeper_than_python_can_read_are_a_form_error_and_a_400(client, api_for, bob, stages):
    deep = "[" * 100_000 + "]" * 100_000
    client.force_login(bob)

    page = client.post("/scoring/", form_data(context_rules=deep))
    api = api_for(bob).post("/api/v1/scoring-models/what-if/", deep, content_type="application/json")

    assert "The context rules could not be read." in page.content.decode()
    assert (api.status_code, api.json()) == (400, {"detail": "JSON parse error - nested too deeply."})
    assert ScoringModel.objects.count() == 1


def test_a_stored_version_with_a_rule_new_versions_may_not_have_still_scores(client, bob, tracker, stages):
    # Saved before context rules were limited to the facts scoring fills: it must keep loading, or ingest stops.
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["context_rules"].append(
        {"name": "Pricey", "condition": {"field": "product.price", "op": "gt", "value": 100}, "adjust": 5}
    )
    ScoringModel.objects.create(version=7, config=config, is_active=True, note="before the limit")

    response = tracker.post("track", {"userId": "u1", "event": "Checkout Started"})
    client.force_login(bob)
    page = client.get("/scoring/")
    refused = client.post("/scoring/", form_data(context_rules=json.dumps(config["context_rules"])))

    assert response.status_code == 200
    assert Contact.objects.get(user_id="u1").intent_score is not None
    assert page.status_code == 200
    assert "product.price is not known when scoring" in refused.content.decode()  # a new version is held to it


def test_what_if_partial_updates_from_the_form(client, charlie, scored_contacts):
    client.force_login(charlie)

    html = client.post("/scoring/what-if/", form_data(high_threshold=99), HTTP_HX_REQUEST="true").content.decode()

    assert html.strip().startswith('<section id="what-if"')
    assert "recently active contacts would change tier" in html


def test_what_if_as_of_last_activity_shows_what_a_draft_does_to_contacts_decay_has_faded(
    client, charlie, tracker, stages
):
    # A week-old deep session: high when it happened, low now under any weights.
    week_ago = timezone.now() - timedelta(days=7)
    for n, event in enumerate(["Product Viewed", "Product Added", "Checkout Started"]):
        tracker.post(
            "track",
            {
                "userId": "old",
                "event": event,
                "properties": {"category": "electronics"},
                "timestamp": (week_ago + timedelta(minutes=3 * n)).isoformat(),
            },
        )
    tracker.post(
        "identify",
        {
            "userId": "old",
            "traits": {"email": "old@example.com", "lifecycle_stage": "customer"},
            "timestamp": (week_ago + timedelta(minutes=7)).isoformat(),
        },
    )
    client.force_login(charlie)
    draft = form_data(high_threshold=95)  # the session scored 93.5 when it happened

    now = client.post("/scoring/what-if/", draft, HTTP_HX_REQUEST="true").content.decode()
    then = client.post(
        "/scoring/what-if/", {**draft, "what_if_as_of": "last_activity"}, HTTP_HX_REQUEST="true"
    ).content.decode()

    assert "<strong>0</strong> of 1 recently active contacts would change tier." in now
    assert (
        "<strong>1</strong> of 1 recently active contacts would change tier, scored as of their last activity." in then
    )
    assert '<option value="last_activity" selected>' in then  # the choice survives the panel's refresh


def test_a_viewer_sees_but_cannot_post_the_scoring_page(client, charlie, stages):
    client.force_login(charlie)

    assert "disabled" in client.get("/scoring/").content.decode()
    assert client.post("/scoring/", form_data()).status_code == 403
    assert client.post("/triggers/", {"lapsed_days": 3}).status_code == 403


def test_trigger_settings_page_names_the_bad_line(client, bob):
    client.force_login(bob)

    response = client.post(
        "/triggers/",
        {
            "event_actions": "Product Viewed = product_viewed\nFoo = flying",
            "cart_abandon_minutes": 5,
            "page_exit_minutes": 5,
            "page_groups": "",
            "long_session_minutes": 6,
            "lapsed_days": 7,
        },
    )

    assert "Line 2: “flying” is not an action" in response.content.decode()
    assert "Foo" not in TriggerSettings.current().event_actions


def test_contacts_list_shows_current_intent(client, charlie, scored_contacts):
    client.force_login(charlie)

    html = client.get("/contacts/").content.decode()

    assert 'class="tier high"' in html


class FieldErrors(HTMLParser):
    """The scoring page's form fields (templates/field.html) as the marketer sees them: label -> error texts."""

    def __init__(self, html: str):
        super().__init__()
        self.errors: dict[str, list[str]] = {}
        self._label: str | None = None
        self._reading: str | None = None  # "label" or "error" while inside one
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "field" in classes:
            self._label = None
        elif tag == "label" or (tag == "small" and "error" in classes):
            self._reading, self._text = ("label" if tag == "label" else "error"), ""

    def handle_endtag(self, tag):
        if tag in ("label", "small") and self._reading:
            if self._reading == "label":
                self._label = self._text.strip()
            elif self._label:
                self.errors.setdefault(self._label, []).append(self._text.strip())
            self._reading = None

    def handle_data(self, data):
        if self._reading:
            self._text += data


def test_configuration_errors_are_shown_next_to_their_field_in_the_forms_words(client, bob, stages):
    client.force_login(bob)

    response = client.post(
        "/scoring/",
        form_data(session_time="0=0, 60=10, 120=5", categories="electronics = 150\nbooks = 50", high_threshold=40),
    )

    html = response.content.decode()
    assert FieldErrors(html).errors == {
        "Session duration": ["Scores must not fall as time grows (60s → 10, 120s → 5)."],
        "Categories": ["electronics: score must be a number from 0 to 100."],
        "Medium intent from": ["The medium threshold must be below the high threshold."],
    }
    assert 'class="errors" role="alert"' not in html  # nothing left over for the top of the form
    assert ScoringModel.objects.count() == 1


def test_the_what_if_panel_lists_errors_under_the_fields_labels(client, charlie, stages):
    client.force_login(charlie)

    html = client.post("/scoring/what-if/", form_data(session_time="0=0, 60=10, 120=5")).content.decode()

    assert "<li>Session duration: Scores must not fall as time grows (60s → 10, 120s → 5).</li>" in html


def test_a_context_rule_on_a_fact_scoring_never_fills_is_refused_by_name(client, api_for, bob, stages):
    rules = [
        *DEFAULT_CONFIG_JSON["context_rules"],
        {"name": "Pricey", "condition": {"all": [{"field": "product.price", "op": "gt", "value": 0}]}, "adjust": 50},
    ]
    client.force_login(bob)

    page = client.post("/scoring/", form_data(context_rules=json.dumps(rules))).content.decode()
    api = api_for(bob).post(
        "/api/v1/scoring-models/", {"config": {**DEFAULT_CONFIG_JSON, "context_rules": rules}}, format="json"
    )

    assert (
        "Rule 3 (Pricey), condition 1: product.price is not known when scoring; use event.*, session.* or contact.*."
    ) in page
    assert api.status_code == 400
    assert api.json()["config"] == [
        "context_rules[2].condition: rule.all[0].field: product.price is not known when scoring;"
        " use event.*, session.* or contact.*."
    ]
    assert ScoringModel.objects.count() == 1


def test_the_rule_builder_offers_only_the_facts_scoring_fills(client, charlie, stages):
    client.force_login(charlie)

    html = client.get("/scoring/").content.decode()

    offered = json.loads(re.search(r'<script id="rule-fields" type="application/json">(.*?)</script>', html).group(1))
    names = [field["name"] for field in offered]
    assert "contact.recent_downloads" in names
    assert "session.duration_seconds" in names
    assert "event.properties.*" in names
    assert [name for name in names if not name.startswith(("event.", "session.", "contact."))] == []


def test_the_repeat_download_window_is_set_on_the_page_and_through_the_api(client, api_for, bob, stages):
    client.force_login(bob)

    assert client.post("/scoring/", form_data(repeat_download_days=30)).status_code == 302
    refused = client.post("/scoring/", form_data(repeat_download_days=0)).content.decode()
    api = api_for(bob).post(
        "/api/v1/scoring-models/", {"config": {**DEFAULT_CONFIG_JSON, "repeat_download_days": 1000}}, format="json"
    )

    assert ScoringModel.objects.active().config["repeat_download_days"] == 30
    assert FieldErrors(refused).errors["Repeat-download window (days)"] == [
        "Ensure this value is greater than or equal to 1."
    ]
    assert api.json()["config"] == ["repeat_download_days: must be a whole number of days from 1 to 365."]
    assert ScoringModel.objects.count() == 2


def test_the_openapi_schema_describes_the_configuration_and_the_event_mapping(api_for, charlie):
    schema = api_for(charlie).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    paths = schema["paths"]

    config = components["ScoringConfig"]
    assert set(config["properties"]) == set(DEFAULT_CONFIG_JSON)
    assert config["properties"]["repeat_download_days"] | {"description": ""} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 365,
        "default": 14,
        "description": "",
    }
    assert "contact.recent_downloads" in components["ContextRule"]["properties"]["condition"]["description"]
    assert "product.price" not in components["ContextRule"]["properties"]["condition"]["description"]
    for holder in ("ScoringModel", "WhatIfRequest"):
        assert components[holder]["properties"]["config"]["allOf"] == [{"$ref": "#/components/schemas/ScoringConfig"}]
    actions = components["TriggerSettings"]["properties"]["event_actions"]
    assert actions["additionalProperties"]["enum"][:2] == ["page_view", "product_viewed"]
    examples = paths["/api/v1/scoring-models/"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples["ShippedDefaults"]["value"]["config"] == DEFAULT_CONFIG_JSON
