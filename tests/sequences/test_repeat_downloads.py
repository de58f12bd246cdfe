"""Repeat downloads: each contact's downloads counted over the scoring model's own window, and the rename of the
old 14-day field carried through stored configurations (migration 0012)."""

import copy
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sequences.models import Contact, ScoringModel
from sequences.scoring_config import DEFAULT_CONFIG_JSON
from sequences.scoring_models import scoring_model_create
from sequences.tracking.ingest import ingest_events
from tests.conftest import incoming

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def download(user_id: str, days_ago: float):
    return incoming(
        "track",
        name="Content Downloaded",
        user_id=user_id,
        occurred_at=NOW - timedelta(days=days_ago),
        properties={"content_type": "guide"},
    )


def recent_downloads(user_id: str) -> int:
    return Contact.objects.get(user_id=user_id).intent_facts["recent_downloads"]


@pytest.fixture
def history(write_key, account, stages):
    """Ann downloaded 25 and 10 days ago; Bob 30 days ago and yesterday."""
    ingest_events(source=write_key, events=[download("ann", 25), download("bob", 30)])
    ingest_events(source=write_key, events=[download("ann", 10), download("bob", 1)])
    return write_key


def test_each_contact_counts_only_its_own_window_in_a_shared_batch(history):
    # Bob's download arrives late (20 days old) in the same batch as Ann's fresh one: Ann's window must not
    # reach back to Bob's, nor Bob's forward to his download of yesterday.
    with CaptureQueriesContext(connection) as queries:
        ingest_events(source=history, events=[download("ann", 0), download("bob", 20)])

    assert recent_downloads("ann") == 2  # 10 days ago and now; not 25 days ago
    assert recent_downloads("bob") == 2  # 30 and 20 days ago; not yesterday, after the event scored
    counting = [q for q in queries.captured_queries if "w (contact_id, since, until)" in q["sql"]]
    assert len(counting) == 1  # one statement for the batch, however many contacts downloaded


def test_the_window_is_the_active_models_setting(history, api_for, charlie):
    config = copy.deepcopy(DEFAULT_CONFIG_JSON)
    config["repeat_download_days"] = 30
    scoring_model_create(config=config)

    ingest_events(source=history, events=[download("ann", 0)])

    assert recent_downloads("ann") == 3  # 25 and 10 days ago, and now
    reasons = [f["reason"] for f in api_for(charlie).get("/api/v1/contacts/ann/").json()["score_factors"]]
    assert "+10 points: event.action = content_downloaded, contact.recent_downloads = 3 (≥ 2)" in reasons


def test_a_contact_stored_under_the_old_field_name_is_still_shown(history, api_for, charlie):
    facts = Contact.objects.get(user_id="ann").intent_facts
    facts.pop("recent_downloads")
    facts["downloads_last_14_days"] = 5  # as a contact scored before the rename has it
    Contact.objects.filter(user_id="ann").update(intent_facts=facts)

    response = api_for(charlie).get("/api/v1/contacts/ann/")

    assert response.status_code == 200
    reasons = [factor["reason"] for factor in response.json()["score_factors"]]
    assert any("contact.recent_downloads = 5" in reason for reason in reasons), reasons  # the old name, read


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)


def test_the_migration_renames_the_field_in_stored_rules_and_back(db):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old_rules = [
        {"name": "Keep", "condition": {"field": "event.action", "op": "eq", "value": "page_view"}, "cap": 30},
        {
            "name": "Repeat",
            "condition": {
                "all": [
                    {"field": "event.action", "op": "eq", "value": "content_downloaded"},
                    {"not": {"any": [{"field": "contact.downloads_last_14_days", "op": "lt", "value": 2}]}},
                ]
            },
            "adjust": 10,
        },
    ]
    new_rules = copy.deepcopy(old_rules)
    new_rules[1]["condition"]["all"][1]["not"]["any"][0]["field"] = "contact.recent_downloads"
    try:
        migrate([("sequences", "0011_event_lean_indexes")])
        config = {**DEFAULT_CONFIG_JSON, "context_rules": old_rules}
        del config["repeat_download_days"]
        ScoringModel.objects.create(version=1, config=config, is_active=True)

        migrate([("sequences", "0012_scoring_recent_downloads")])
        assert ScoringModel.objects.get(version=1).config["context_rules"] == new_rules

        migrate([("sequences", "0011_event_lean_indexes")])
        assert ScoringModel.objects.get(version=1).config["context_rules"] == old_rules
    finally:
        migrate(latest)
