"""Trigger occurrences (shell): record what trigger_detection finds, once, and release waiting ones.

Event-driven triggers are recorded during ingest; cart abandonment and page exit by a beat task that looks at
sessions gone quiet; lapsed users by a daily task. A unique (contact, key) makes every occurrence count once,
however the beat runs overlap. A contact without an email address gets its triggers recorded as
"waiting for email"; they fire when an identify gives the address (or merges the visitor into a known contact).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from sequences.bulk_sql import insert_rows
from sequences.email_feedback import EMAIL_EVENT_NAMES
from sequences.intent import active_scoring, current_intent, trigger_rules
from sequences.models import Contact, Event, SessionSummary, TriggerOccurrence, TriggerSettings
from sequences.session_facts import SessionFacts, event_facts
from sequences.trigger_detection import (
    PageView,
    TriggerCandidate,
    TriggerRules,
    lapsed_trigger,
    quiet_session_triggers,
)

BATCH = 500


def record_triggers(found: Iterable[tuple[Contact, TriggerCandidate]], *, now: datetime) -> int:
    rows = []
    for contact, candidate in found:
        has_email = bool(contact.email)
        rows.append(
            {
                "contact_id": contact.pk,
                "type": candidate.type,
                "key": candidate.key[:250],
                "occurred_at": candidate.occurred_at,
                "detected_at": now,
                "status": TriggerOccurrence.Status.FIRED if has_email else TriggerOccurrence.Status.WAITING_FOR_EMAIL,
                "fired_at": now if has_email else None,
                "score": candidate.score if candidate.score is not None else contact.intent_score or 0.0,
                "tier": candidate.tier or contact.intent_tier or "low",
                "facts": dict(candidate.facts),
                "enrolment_checked": False,
            }
        )
    insert_rows(TriggerOccurrence, rows, list(rows[0]) if rows else [], ignore_conflicts=True)
    return len(rows)


# What counts as the person coming back (identify and alias may come from a CRM or a server, not a visit).
VISIT_TYPES = ("page", "screen", "track")
# Nor is an email opened (a mail client may fetch the pixel by itself) or bounced: a click leads to a page view.
NOT_A_VISIT = tuple(EMAIL_EVENT_NAMES.values())


def fire_waiting_triggers(contact_ids: Iterable[int], *, now: datetime) -> int:
    """Triggers that waited for an email address fire once the contact has one (`contact_ids`: contacts that
    have one now). Runs for most ingest batches, so on PostgreSQL it is one statement whose text never changes.

    Except a lapse the contact has since ended: a lapsed visitor who comes back and identifies has been seen
    after the lapse was due, and releasing it then would start a "we miss you" sequence for someone who is on
    the site right now. Such an occurrence is dropped, not fired. Seen means a page, screen or track event: an
    identify or alias alone (a CRM sync, a server-side call) is not the person coming back. The other types
    stay true when the visitor comes back: the download, the form, the long session, the cart left or the page
    exit still happened.
    """
    ids, waiting = list(contact_ids), TriggerOccurrence.Status.WAITING_FOR_EMAIL
    if connection.vendor != "postgresql":
        came_back = Event.objects.filter(
            contact_id=OuterRef("contact_id"), occurred_at__gt=OuterRef("occurred_at"), type__in=VISIT_TYPES
        ).exclude(name__in=NOT_A_VISIT)
        TriggerOccurrence.objects.filter(contact_id__in=ids, status=waiting, type="lapsed").filter(
            Exists(came_back)
        ).delete()
        return TriggerOccurrence.objects.filter(contact_id__in=ids, status=waiting).update(
            status=TriggerOccurrence.Status.FIRED, fired_at=now
        )
    with connection.cursor() as cursor:
        # Both parts see the table as it was before the statement, so the UPDATE leaves the dropped rows out.
        cursor.execute(
            "WITH ended AS ("
            " DELETE FROM sequences_triggeroccurrence t"
            " WHERE t.status = %s AND t.type = 'lapsed' AND t.contact_id = ANY(%b::bigint[])"
            " AND EXISTS (SELECT 1 FROM sequences_event e WHERE e.contact_id = t.contact_id"
            " AND e.occurred_at > t.occurred_at AND e.type = ANY(%s) AND e.name <> ALL(%s)) RETURNING t.id)"
            " UPDATE sequences_triggeroccurrence SET status = %s, fired_at = %s"
            " WHERE status = %s AND contact_id = ANY(%b::bigint[]) AND id NOT IN (SELECT id FROM ended)",
            [waiting, ids, list(VISIT_TYPES), list(NOT_A_VISIT), TriggerOccurrence.Status.FIRED, now, waiting, ids],
        )
        return cursor.rowcount


def detect_quiet_sessions(*, now: datetime) -> int:
    """Cart abandonment and page exit for sessions quiet long enough; returns the number of triggers found."""
    settings = TriggerSettings.current()
    rules = trigger_rules(settings)
    _, config = active_scoring()
    order_names = [name for name, action in settings.event_actions.items() if action == "order_completed"]
    settle_after = max(rules.cart_abandon_minutes, rules.page_exit_minutes)
    total = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: two overlapping beat runs share the work instead of queueing behind each other.
            due = list(
                SessionSummary.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("contact")
                .filter(quiet_checked=False, last_event_at__lte=now - rules.quiet_after)
                .order_by("last_event_at")[:BATCH]
            )
            if not due:
                return total
            ordered = _ordered_cart_ids(due, order_names)
            all_facts = {summary.pk: SessionFacts.from_json(summary.facts) for summary in due}
            pages = _page_views(due, all_facts, rules, now=now)
            found, settled = [], []
            for summary in due:
                facts = all_facts[summary.pk]
                contact = summary.contact
                score = current_intent(contact, config, now=now, explain=False)
                if score is not None:
                    contact.intent_score, contact.intent_tier = score.value, score.tier
                found.extend(
                    (contact, candidate)
                    for candidate in quiet_session_triggers(
                        facts,
                        session_id=summary.session_id,
                        now=now,
                        rules=rules,
                        ordered_cart_ids=ordered.get(summary.contact_id, ()),
                        pages=pages.get((summary.contact_id, summary.session_id), ()),
                    )
                )
                if (now - summary.last_event_at).total_seconds() >= settle_after * 60:
                    settled.append(summary.pk)
            total += record_triggers(found, now=now)
            SessionSummary.objects.filter(pk__in=settled).update(quiet_checked=True)
            if len(settled) < len(due):
                # Some sessions are past the shorter timeout only; look at them again on the next run.
                return total


def _ordered_cart_ids(summaries: list[SessionSummary], order_names: list[str]) -> dict[int, set[str]]:
    """Carts bought in any session since these sessions started (an order may come in a new session)."""
    if not summaries or not order_names:
        return {}
    since = min(s.started_at for s in summaries)
    rows = Event.objects.filter(
        contact_id__in={s.contact_id for s in summaries}, type="track", name__in=order_names, occurred_at__gte=since
    ).values_list("contact_id", "properties")
    ordered: dict[int, set[str]] = {}
    for contact_id, properties in rows:
        for key in ("cart_id", "checkout_id"):
            if isinstance(properties, dict) and properties.get(key):
                ordered.setdefault(contact_id, set()).add(str(properties[key]))
    return ordered


def _page_views(
    summaries: list[SessionSummary], facts: dict[int, SessionFacts], rules: TriggerRules, *, now: datetime
) -> dict[tuple[int, str], list[PageView]]:
    """The page views, in time order, of the sessions that may have left a tracked group by navigating: one
    query per batch, only the paths read (the session facts keep the last page only, and ingest is not to pay
    for what this beat needs)."""
    exit_after = timedelta(minutes=rules.page_exit_minutes)
    wanted = [
        summary
        for summary in summaries
        if rules.page_groups
        and facts[summary.pk].page_views >= 2
        and not facts[summary.pk].converted
        and now - summary.last_event_at >= exit_after
    ]
    if not wanted:
        return {}
    keys = {(summary.contact_id, summary.session_id) for summary in wanted}
    rows = (
        Event.objects.filter(
            contact_id__in={contact_id for contact_id, _ in keys},
            session_id__in={session_id for _, session_id in keys},
            occurred_at__gte=min(summary.started_at for summary in wanted),
            type__in=("page", "screen"),
        )
        .order_by("occurred_at", "pk")
        .values_list(
            "contact_id",
            "session_id",
            "occurred_at",
            "context__page__path",
            "properties__path",
            "context__page__url",
            "properties__url",
        )
    )
    pages: dict[tuple[int, str], list[PageView]] = {}
    for contact_id, session_id, at, page_path, path, page_url, url in rows:
        if (contact_id, session_id) not in keys:
            continue
        # The same reading of a page's path as when the session was folded.
        facts_of_page = event_facts(
            type="page",
            name="",
            properties={"path": path, "url": url},
            context={"page": {"path": page_path, "url": page_url}},
            occurred_at=at,
            event_actions={},
        )
        pages.setdefault((contact_id, session_id), []).append(PageView(at, facts_of_page.page_path))
    return pages


def detect_lapsed_contacts(*, now: datetime) -> int:
    """Contacts silent for the lapsed period, each lapse recorded once (a new visit starts a new one)."""
    rules = trigger_rules(TriggerSettings.current())
    _, config = active_scoring()
    already = TriggerOccurrence.objects.filter(
        contact=OuterRef("pk"), type="lapsed", occurred_at__gt=OuterRef("last_seen_at")
    )
    candidates = (
        Contact.objects.filter(last_seen_at__lte=now - timedelta(days=rules.lapsed_days))
        .annotate(done=Exists(already))
        .filter(done=False)
        .order_by("pk")
    )
    total = 0
    found: list[tuple[Contact, TriggerCandidate]] = []
    for contact in candidates.iterator(chunk_size=BATCH):
        candidate = lapsed_trigger(contact.last_seen_at, now=now, rules=rules)
        if candidate is None:
            continue
        score = current_intent(contact, config, now=now, explain=False)
        if score is not None:
            contact.intent_score, contact.intent_tier = score.value, score.tier
        found.append((contact, candidate))
        if len(found) >= BATCH:
            total += record_triggers(found, now=now)
            found = []
    return total + record_triggers(found, now=now)
