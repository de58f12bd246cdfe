"""A contact's intent over time: recorded scores, the fading between them, and the tier changes fading causes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from sequences.intent_scoring import HIGH, LOW, MEDIUM
from sequences.intent_timeline import ScorePoint, faded_score, intent_timeline, sparkline_points
from sequences.models import Contact

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)
DEFAULTS = {"half_life_hours": 24, "high": 75, "medium": 50}


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def test_a_high_score_left_alone_fades_to_medium_then_low_at_the_computed_times():
    # 90 halves every 24 h: below 75 after 24 * log2(90/75) = 6.3 h, below 50 after 24 * log2(90/50) = 20.4 h.
    timeline = intent_timeline([ScorePoint(T0, 90, HIGH)], now=hours(48), **DEFAULTS)

    assert [(c.previous, c.tier, c.faded) for c in timeline.changes] == [
        ("", HIGH, False),
        (HIGH, MEDIUM, True),
        (MEDIUM, LOW, True),
    ]
    assert timeline.changes[1].at == pytest.approx(hours(6.313), abs=timedelta(minutes=1))
    assert timeline.changes[2].at == pytest.approx(hours(20.352), abs=timedelta(minutes=1))
    assert timeline.samples[-1] == (hours(48), pytest.approx(22.5))  # two half-lives: a quarter left


def test_an_event_after_the_fade_is_a_change_from_the_faded_tier():
    points = [ScorePoint(T0, 90, HIGH), ScorePoint(hours(30), 88, HIGH)]

    timeline = intent_timeline(points, now=hours(31), **DEFAULTS)

    assert [(c.previous, c.tier) for c in timeline.changes] == [("", HIGH), (HIGH, MEDIUM), (MEDIUM, LOW), (LOW, HIGH)]


def test_no_fade_is_reported_before_it_happens():
    timeline = intent_timeline([ScorePoint(T0, 90, HIGH)], now=hours(5), **DEFAULTS)

    assert [c.tier for c in timeline.changes] == [HIGH]


def test_the_curve_jumps_at_events_and_ends_now():
    points = [ScorePoint(T0, 40, LOW), ScorePoint(hours(2), 80, HIGH)]

    samples = intent_timeline(points, now=hours(26), **DEFAULTS).samples

    assert samples[0] == (T0, 40)
    assert (hours(2), 80) in samples
    assert samples[-1] == (hours(26), pytest.approx(40))
    assert [at for at, _ in samples] == sorted(at for at, _ in samples)


def test_the_sparkline_spans_first_score_to_now_left_to_right():
    samples = [(T0, 100.0), (hours(1), 50.0), (hours(4), 0.0)]

    assert sparkline_points(samples) == "0.0,0.0 50.0,20.0 200.0,40.0"


@given(
    scores=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=8),
    gaps=st.lists(st.floats(min_value=0, max_value=200), min_size=8, max_size=8),
    wait=st.floats(min_value=0, max_value=500),
)
def test_the_last_tier_is_the_tier_of_the_score_now(scores, gaps, wait):
    def tier(score):
        return HIGH if score >= 75 else MEDIUM if score >= 50 else LOW

    points, at = [], T0
    for score, gap in zip(scores, gaps, strict=False):
        points.append(ScorePoint(at, score, tier(score)))
        at += timedelta(hours=gap)
    now = points[-1].at + timedelta(hours=wait)

    timeline = intent_timeline(points, now=now, **DEFAULTS)

    score_now = faded_score(points[-1].score, wait, 24)
    if abs(score_now - 75) > 1e-6 and abs(score_now - 50) > 1e-6:  # not exactly on a threshold
        assert timeline.changes[-1].tier == tier(score_now)
    assert all(0 <= score <= 100 for _, score in timeline.samples)
    assert all(a.previous != a.tier for a in timeline.changes)


@pytest.mark.django_db
def test_the_profile_shows_a_fade_the_events_never_recorded(client, charlie, tracker, stages):
    long_ago = timezone.now() - timedelta(days=3)
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com", "lifecycle_stage": "customer"}},
        {"type": "track", "userId": "u1", "event": "Product Viewed", "properties": {"category": "electronics"}},
        {"type": "track", "userId": "u1", "event": "Checkout Started"},
    ]
    for n, item in enumerate(batch):
        item["timestamp"] = (long_ago + timedelta(minutes=6.5 * n / 2)).isoformat()
    tracker.post("batch", {"batch": batch})
    client.force_login(charlie)

    html = client.get(f"/contacts/{Contact.objects.get(user_id='u1').pk}/").content.decode()

    assert "low</span>" in html.split('id="tier-changes"')[1].split("</ul>")[0]
    assert "(faded)" in html
    assert 'class="sparkline"' in html  # one recorded score is enough: the curve runs on to now
    assert "<dt>Lifecycle stage</dt><dd>Customer</dd>" in html  # the stage's name, not its slug


@pytest.mark.django_db
def test_the_intent_card_refreshes_itself_with_the_live_score(client, charlie, tracker, stages):
    tracker.post("identify", {"userId": "u1", "traits": {"email": "u1@example.com", "lifecycle_stage": "lead"}})
    client.force_login(charlie)
    url = f"/contacts/{Contact.objects.get(user_id='u1').pk}/"
    page = client.get(url).content.decode()
    before = client.get(f"{url}?part=intent", HTTP_HX_REQUEST="true").content.decode()

    tracker.post("track", {"userId": "u1", "event": "Checkout Started"})
    after = client.get(f"{url}?part=intent", HTTP_HX_REQUEST="true").content.decode()

    assert "hx-trigger=\"every 5s [document.visibilityState === 'visible']\"" in page  # not in hidden tabs
    assert after.strip().startswith('<section class="card intent-card" id="intent-card"')
    assert "Sequences" not in after  # only the card, not the page
    assert _score(before) < _score(after)


def _score(html: str) -> float:
    return float(html.split('id="intent-score">')[1].split("<")[0])


@pytest.mark.django_db
def test_a_visit_that_scores_what_the_faded_last_one_did_is_recorded(tracker, stages):
    # Two identical one-page visits a day apart: the same score each time, but in between it had faded by half,
    # so the second is a rise the curve must show (it was left out when only changes of score were kept).
    for days_ago in (1, 0):
        when = (timezone.now() - timedelta(days=days_ago)).isoformat()
        tracker.post("page", {"userId": "u1", "name": "Pricing", "timestamp": when})
    contact = Contact.objects.get(user_id="u1")

    scores = list(contact.score_history.order_by("scored_at").values_list("score", flat=True))

    assert len(scores) == 2
    assert scores[0] == scores[1]


@pytest.mark.django_db
def test_a_poll_after_the_session_ended_sends_the_window_to_login_not_the_card(client):
    response = client.get(
        "/contacts/7/?part=intent", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/contacts/7/"
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/contacts/7/"
    assert response.content == b""
