#!/usr/bin/env python
"""Analytics benchmark: the analytics page, its CSV exports and the lift API on a large account's data.

It creates (if missing) and migrates its own PostgreSQL database, loads ~90 days of a shop's data with psycopg COPY
(not the ORM): 3 sequences (cart 3 steps, download 2, lapsed 2), 4 segments, 2-3 copy variants a step, a running
timing experiment with 2 arms on the cart's first email, --contacts contacts, their enrolments, --messages messages
(sent, withheld for the 10% holdout, skipped, failed, cancelled after an order, a few still scheduled), the email
events they got back (opens, 10% of them by privacy proxies, clicks, orders credited by last touch, unsubscribes,
bounces, complaints) and --events behavioural events (page and track calls with JSON properties and context).
It then builds the rollups with `rebuild_rollups()`, times one `refresh_rollups(now=...)` as the minute-by-minute
beat runs it, starts gunicorn (2 sync workers) on 127.0.0.1, logs a viewer in through the login form, creates an
API token, and times the analytics page (several filters and the htmx partial), CSV exports and the lift API for
every metric x group_by.

    .venv/bin/python bench/dashboard.py                      # 1,000,000 messages, 10,000,000 events, 200,000 contacts
    .venv/bin/python bench/dashboard.py --reuse              # keep the data already loaded (and its rollups)
    .venv/bin/python bench/dashboard.py --messages 100000 --events 1000000 --contacts 20000 --requests 20

Times are taken by the client on loopback (HTTP on 127.0.0.1 included) and, inside the gunicorn worker, by a thin
WSGI wrapper (`bench.dashboard:timed_application`) that adds a `Server-Timing` header: app time, and the time and
number of the SQL queries. The dashboard reads only the rollups: the behavioural events table is there for a
realistic database size (cache, disk), it does not enter any analytics query.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/triggerapp_bench_dashboard"
GOAL_MS = 300.0
DAYS = 90
USERNAME, PASSWORD = "bench-viewer", "bench-viewer-password-" + "x" * 12
LOADED_TABLES = [
    "sequences_contact",
    "sequences_enrolment",
    "sequences_message",
    "sequences_emailevent",
    "sequences_event",
]
RESET_TABLES = [
    *LOADED_TABLES,
    "sequences_experimentarm",
    "sequences_experiment",
    "sequences_copyvariant",
    "sequences_step",
    "sequences_sequence_segments",
    "sequences_sequence",
    "sequences_segment",
    "sequences_writekey",
    "analytics_dailystats",
    "analytics_sendtimestats",
    "analytics_rollupstate",
]

# --- The account: segments, sequences, steps, variants, the experiment -------------------------------------------

# name, expected lift note, open rate, conversion rate of the holdout, conversion lift of the emails
SEGMENTS = [
    ("High intent", "+38% open rate", 0.32, 0.060, 0.30),
    ("Browsers", "", 0.22, 0.020, 0.15),
    ("New visitors", "+29% conversion", 0.26, 0.015, 0.25),
    ("Lapsed customers", "+12% reactivation", 0.18, 0.010, 0.12),
]
# name, trigger, funnel stage, share of enrolments, segments (index, weight), steps (name, hours after previous,
# variant names)
SEQUENCES = [
    (
        "Abandoned cart",
        "cart_abandoned",
        "decision",
        0.5,
        [(0, 0.5), (1, 0.3), (2, 0.2)],
        [
            ("Reminder", 1, ["Product block", "Plain reminder", "Default"]),
            ("Social proof", 24, ["Reviews", "Default"]),
            ("Last chance", 48, ["Discount", "Default"]),
        ],
    ),
    (
        "Content download follow-up",
        "content_downloaded",
        "consideration",
        0.25,
        [(2, 0.5), (1, 0.5)],
        [("Thanks for reading", 2, ["Guide series", "Default"]), ("Next steps", 72, ["Case study", "Default"])],
    ),
    (
        "Lapsed customer win-back",
        "lapsed",
        "retention",
        0.25,
        [(3, 1.0)],
        [("We miss you", 0, ["New arrivals", "Bestsellers", "Default"]), ("Come back", 96, ["Discount", "Default"])],
    ),
]
TIME_ZONES = [  # (zone, UTC offset in hours, weight): offsets are approximate, enough for local send hours
    ("Europe/London", 0, 5),
    ("Europe/Paris", 1, 2),
    ("Europe/Berlin", 1, 2),
    ("America/New_York", -5, 2),
    ("America/Los_Angeles", -8, 1),
    ("Australia/Sydney", 10, 1),
]
FIRST_NAMES = ["Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Arthur", "Sofia", "Lucas"]
LAST_NAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Davies", "Patel", "Garcia", "Muller", "Rossi"]
SHOP = "https://shop.example.com"


def make_account(now: datetime) -> dict:
    """The small tables, through the ORM (a few dozen rows). Returns the ids the loaders need."""
    from sequences.models import (
        Account,
        CopyVariant,
        Experiment,
        ExperimentArm,
        Segment,
        Sequence,
        Step,
        WriteKey,
    )

    Account.current()
    source = WriteKey.objects.create(name="Bench dashboard")
    segments = [
        Segment.objects.create(name=name, expected_lift=note, position=index)
        for index, (name, note, *_rates) in enumerate(SEGMENTS)
    ]
    sequences = []
    for name, trigger, stage, share, seq_segments, steps in SEQUENCES:
        sequence = Sequence.objects.create(
            name=name, entry_trigger=trigger, funnel_stage=stage, status="active", holdout_percent=10
        )
        sequence.segments.set([segments[index] for index, _ in seq_segments])
        step_rows = []
        for position, (step_name, hours, variants) in enumerate(steps):
            step = Step.objects.create(
                sequence=sequence,
                position=position,
                name=step_name,
                delay_from="trigger" if position == 0 else "previous",
                delay_min_minutes=hours * 60,
                delay_max_minutes=hours * 60 + 30,
            )
            variant_rows = [
                CopyVariant.objects.create(
                    step=step,
                    name=variant,
                    is_default=variant == "Default",
                    priority=len(variants) - index,
                    subject=f"{step_name}: {variant}",
                    body="Hello {{ first_name }}",
                    cta_text="Open",
                    cta_url=SHOP,
                )
                for index, variant in enumerate(variants)
            ]
            step_rows.append({"id": step.pk, "hours": hours, "variants": [(v.pk, v.name) for v in variant_rows]})
        sequences.append(
            {"id": sequence.pk, "share": share, "segments": seq_segments, "steps": step_rows, "name": name}
        )
    cart_first = Step.objects.get(pk=sequences[0]["steps"][0]["id"])
    experiment = Experiment.objects.create(
        step=cart_first, name="Send at once or in the evening", kind="timing", started_at=now - timedelta(days=DAYS)
    )
    at_once = ExperimentArm.objects.create(experiment=experiment, name="At once", is_baseline=True, timing="at_once")
    window = ExperimentArm.objects.create(
        experiment=experiment, name="Evening window", timing="window", preferred_start="18:00", preferred_end="21:00"
    )
    return {
        "source": source.pk,
        "segments": [s.pk for s in segments],
        "sequences": sequences,
        "arms": (at_once.pk, window.pk),
    }


# --- COPY helpers ------------------------------------------------------------------------------------------------


def ts(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(seconds))


def copy_text(value: str) -> str:
    """A text value for COPY's text format (our values never hold tabs or newlines; backslashes are doubled)."""
    return value.replace("\\", "\\\\")


def js(value) -> str:
    return copy_text(json.dumps(value, separators=(",", ":")))


class Copier:
    """COPY of text-format lines into one table: streamed in chunks, or with `spool` written to a temporary file
    first and copied on close (one connection runs one COPY at a time, and sends fill three tables at once)."""

    def __init__(self, cursor, table: str, columns: list[str], *, spool: bool = False, chunk: int = 4 << 20):
        self.cursor, self.statement = cursor, f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        self.spool = tempfile.TemporaryFile("w+b") if spool else None  # noqa: SIM115 (closed by close())
        self.context = None if spool else cursor.copy(self.statement)
        self.copy = None if spool else self.context.__enter__()
        self.parts: list[str] = []
        self.size = 0
        self.chunk = chunk
        self.rows = 0

    def row(self, line: str) -> None:
        self.parts.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            data = "".join(self.parts).encode()
            if self.spool:
                self.spool.write(data)
            else:
                self.copy.write(data)
            self.parts, self.size = [], 0

    def close(self) -> None:
        self.flush()
        if self.spool:
            self.spool.seek(0)
            with self.cursor.copy(self.statement) as copy:
                while data := self.spool.read(self.chunk):
                    copy.write(data)
            self.spool.close()
        else:
            self.context.__exit__(None, None, None)


@contextlib.contextmanager
def without_indexes(connection, tables: list[str]):
    """Drop the secondary indexes, unique and foreign-key constraints of these tables during the load and
    recreate exactly the same ones afterwards (bulk-load practice: one sort per index, one join per foreign key,
    instead of a B-tree insertion and a trigger per row). Runs inside the caller's transaction."""
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC",
        [tables],
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('u', 'p'))",
        [tables],
    ).fetchall()
    for table, name, _definition in constraints:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        connection.execute(f"DROP INDEX {name}")
    yield
    started = time.perf_counter()
    connection.execute("SET maintenance_work_mem = '512MB'")
    for _name, definition in indexes:
        connection.execute(definition)
    for table, name, definition in reversed(constraints):  # unique ones first, then the foreign keys
        connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    print(
        f"  indexes and constraints rebuilt ({len(indexes)} indexes, {len(constraints)} constraints): "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )


# --- The data ----------------------------------------------------------------------------------------------------


def load_contacts(cursor, count: int, rng: random.Random, start: float, end: float) -> list[tuple[str, int]]:
    """Contacts 1..count; returns each one's (time zone, UTC offset) by index (id - 1)."""
    zones = rng.choices(TIME_ZONES, weights=[z[2] for z in TIME_ZONES], k=count)
    copier = Copier(
        cursor,
        "sequences_contact",
        [
            "id",
            "user_id",
            "email",
            "first_name",
            "last_name",
            "time_zone",
            "lifecycle_stage",
            "traits",
            "subscription_status",
            "created_at",
            "last_seen_at",
            "session_id",
            "categories_seen",
            "intent_facts",
            "intent_score",
            "intent_tier",
        ],
    )
    for index in range(count):
        pk = index + 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = start - rng.random() * 180 * 86400
        seen = start + rng.random() * (end - start)
        score = rng.random()
        traits = js({"plan": rng.choice(["free", "member", "vip"]), "country": zones[index][0].split("/")[0]})
        copier.row(
            f"{pk}\tcus_{pk:07d}\t{first.lower()}.{last.lower()}.{pk}@example.com\t{first}\t{last}\t{zones[index][0]}"
            f"\t{rng.choice(['lead', 'customer', 'subscriber'])}\t{traits}\tsubscribed\t{ts(created)}\t{ts(seen)}"
            f'\t\t["Knitwear"]\t{{}}\t{score:.3f}\t{"high" if score > 0.7 else "medium" if score > 0.3 else "low"}\n'
        )
    copier.close()
    return [(zone, offset) for zone, offset, _weight in zones]


def load_sends(
    cursor, account: dict, zones: list, target_messages: int, rng: random.Random, now: float
) -> tuple[int, int, int, dict]:
    """Enrolments, their messages and the email events that came back. Returns (enrolments, messages, email
    events, message statuses)."""
    start = now - DAYS * 86400
    enrolments = Copier(
        cursor,
        "sequences_enrolment",
        [
            "id",
            "sequence_version",
            "key",
            "held_out",
            "status",
            "exit_reason",
            "enrolled_at",
            "exited_at",
            "score",
            "tier",
            "contact_id",
            "segment_id",
            "sequence_id",
        ],
        spool=True,
    )
    messages = Copier(
        cursor,
        "sequences_message",
        [
            "id",
            "status",
            "send_at",
            "priority",
            "timing_reasons",
            "decisions",
            "reason",
            "attempts",
            "claimed_at",
            "sent_at",
            "subject",
            "variant",
            "links",
            "message_id_header",
            "created_at",
            "contact_id",
            "enrolment_id",
            "step_id",
            "followed_up",
            "copy_trace",
            "copy_variant_id",
            "local_hour",
            "recent_sends",
            "experiment_arm_id",
        ],
        spool=True,
    )
    events = Copier(
        cursor,
        "sequences_emailevent",
        ["id", "kind", "occurred_at", "url", "revenue", "machine_open", "details", "message_id"],
        spool=True,
    )
    sequences, segment_ids = account["sequences"], account["segments"]
    at_once, window = account["arms"]
    shares = [s["share"] for s in sequences]
    statuses: dict[str, int] = {}
    links = js([f"{SHOP}/cart", f"{SHOP}/help"])
    enrolment_pk = message_pk = event_pk = 0
    random_ = rng.random
    while message_pk < target_messages:
        sequence = rng.choices(sequences, weights=shares)[0]
        segment_index = rng.choices([i for i, _ in sequence["segments"]], [w for _, w in sequence["segments"]])[0]
        _name, _note, open_rate, control_conversion, conversion_lift = SEGMENTS[segment_index]
        contact = rng.randrange(len(zones)) + 1
        offset = zones[contact - 1][1]
        enrolment_pk += 1
        held_out = random_() < 0.10
        enrolled = start + random_() * DAYS * 86400
        arm = window if (contact * 2654435761) % 100 < 50 else at_once  # a stable split by contact
        # The sends: step 0 after its delay (the evening window moves it to 18:00-21:00 local), later ones after
        # the previous one.
        plan = []
        send = enrolled
        for position, step in enumerate(sequence["steps"]):
            send += step["hours"] * 3600 + random_() * 1800
            if position == 0 and sequence is sequences[0] and arm == window:
                local = (send / 3600 + offset) % 24
                if not 18 <= local < 21:
                    send += ((18 - local) % 24 + random_() * 3) * 3600
            plan.append((step, send))
        # An order (conversion), credited to the last email sent or withheld before it (last touch).
        rate = control_conversion * (1 if held_out else 1 + conversion_lift)
        order_at, credited = None, None
        if random_() < rate:
            credited = rng.randrange(len(plan))
            order_at = plan[credited][1] + (0.5 + random_() * 30) * 3600
            if order_at > now or (credited + 1 < len(plan) and order_at > plan[credited + 1][1]):
                order_at, credited = None, None
        exited = order_at is not None and not held_out
        status = "completed" if held_out or plan[-1][1] < now else "active"
        if exited:
            status = "exited"
        enrolments.row(
            f"{enrolment_pk}\t1\tbench:{enrolment_pk}\t{'t' if held_out else 'f'}\t{status}"
            f"\t{'an order' if exited else ''}\t{ts(enrolled)}\t{ts(order_at) if exited else chr(92) + 'N'}"
            f"\t{random_():.3f}\thigh\t{contact}\t{segment_ids[segment_index]}\t{sequence['id']}\n"
        )
        recent = 0
        for position, (step, send) in enumerate(plan):
            if exited and position > credited:
                state = "cancelled"
            elif held_out:
                state = "withheld"
            elif send > now:
                state = "scheduled"
            else:
                draw = random_()
                state = "skipped" if draw < 0.04 else "failed" if draw < 0.05 else "sent"
            if state == "scheduled" and exited:
                state = "cancelled"
            statuses[state] = statuses.get(state, 0) + 1
            message_pk += 1
            variant_id, variant = step["variants"][int(random_() * len(step["variants"]))]
            step_arm = arm if position == 0 and sequence is sequences[0] else None
            sent = state == "sent"
            local_hour = int((send / 3600 + offset) % 24)
            # Emails in the 48 h before: often 0, sometimes a run of them.
            recent = min(recent + rng.randint(0, 2), 5) if random_() < 0.3 else rng.choice((0, 0, 0, 1, 1, 2, 3))
            messages.row(
                f"{message_pk}\t{state}\t{ts(send)}\t{random_():.3f}\t[]\t[]"
                f"\t{'cap: 48 h' if state == 'skipped' else 'smtp 550' if state == 'failed' else ''}"
                f"\t{1 if sent or state == 'failed' else 0}\t{ts(send) if sent else chr(92) + 'N'}"
                f"\t{ts(send + 2) if sent else chr(92) + 'N'}\t{step['id']}: {variant}\t{variant}"
                f"\t{links}\t<{message_pk}@bench.example.com>\t{ts(enrolled)}\t{contact}\t{enrolment_pk}"
                f"\t{step['id']}\t{'t' if state != 'scheduled' else 'f'}\t[]\t{variant_id}"
                f"\t{local_hour if state in ('sent', 'withheld') else chr(92) + 'N'}"
                f"\t{recent if sent else chr(92) + 'N'}\t{step_arm or chr(92) + 'N'}\n"
            )
            if sent:
                # What came back for a sent email: bounce, or opens (a privacy proxy in 10% of them), clicks,
                # unsubscribes, complaints.
                if random_() < 0.005:
                    event_pk += 1
                    events.row(f"{event_pk}\tbounce\t{ts(send + 60)}\t\t\\N\tf\t{{}}\t{message_pk}\n")
                    continue
                lifted = open_rate * (1.15 if step_arm == window else 1.0) * (1 - 0.05 * min(recent, 3))
                if random_() < lifted:
                    if random_() < 0.10:
                        event_pk += 1
                        events.row(f"{event_pk}\topen\t{ts(send + 5)}\t\t\\N\tt\t{{}}\t{message_pk}\n")
                    else:
                        for _ in range(1 + (random_() < 0.3) + (random_() < 0.1)):
                            event_pk += 1
                            opened_at = ts(min(send + random_() * 36 * 3600, now))
                            events.row(f"{event_pk}\topen\t{opened_at}\t\t\\N\tf\t{{}}\t{message_pk}\n")
                        if random_() < 0.15:
                            event_pk += 1
                            clicked_at = ts(min(send + random_() * 40 * 3600, now))
                            events.row(f"{event_pk}\tclick\t{clicked_at}\t{SHOP}/cart\t\\N\tf\t{{}}\t{message_pk}\n")
                if random_() < 0.003:
                    event_pk += 1
                    events.row(f"{event_pk}\tunsubscribe\t{ts(min(send + 3600, now))}\t\t\\N\tf\t{{}}\t{message_pk}\n")
                elif random_() < 0.0003:
                    event_pk += 1
                    events.row(f"{event_pk}\tcomplaint\t{ts(min(send + 3600, now))}\t\t\\N\tf\t{{}}\t{message_pk}\n")
            if credited == position and order_at is not None and state in ("sent", "withheld"):
                event_pk += 1
                revenue = 20 + random_() * 180
                events.row(
                    f"{event_pk}\tconversion\t{ts(order_at)}\t\t{revenue:.2f}\tf"
                    f'\t{{"order_id": "ord_{event_pk}"}}\t{message_pk}\n'
                )
    enrolments.close()
    messages.close()
    events.close()
    return enrolment_pk, message_pk, event_pk, statuses


EVENT_COLUMNS = ["id", "type", "name", "properties", "context", "occurred_at", "received_at", "message_id"]
EVENT_COLUMNS += ["session_id", "contact_id", "source_id"]
TRACK_NAMES = [
    ("Product Viewed", 0.45),
    ("Product Added", 0.2),
    ("Cart Viewed", 0.12),
    ("Checkout Started", 0.08),
    ("Order Completed", 0.03),
    ("Content Downloaded", 0.07),
    ("Form Submitted", 0.05),
]
PAGES = [
    ("/", "Northfield: knitwear and more"),
    ("/collections/knitwear", "Knitwear"),
    ("/collections/shirts", "Shirts"),
    ("/collections/footwear", "Footwear"),
    ("/cart", "Your cart"),
    ("/checkout", "Checkout"),
    ("/guides/size-guide", "Size guide"),
    ("/blog/care-for-wool", "How to care for wool"),
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]


def event_pools(rng: random.Random) -> tuple[list[str], list[str]]:
    """Pre-encoded JSON for properties (per event kind and product) and contexts (page, agent, ip, zone)."""
    products = [
        {
            "product_id": f"prod_{n:04d}",
            "sku": f"SKU-{n:04d}",
            "name": f"{colour} {item}",
            "category": category,
            "price": round(19 + (n * 7.3) % 160, 2),
            "currency": "GBP",
            "url": f"{SHOP}/products/{n}",
        }
        for n, (category, item, colour) in enumerate(
            (c, i, col)
            for c, items in [("Knitwear", ["Jumper", "Scarf", "Beanie"]), ("Shirts", ["Oxford", "Linen"])]
            for i in items
            for col in ["Navy", "Oatmeal", "Forest", "Rust"]
        )
    ]
    properties = []
    for name, weight in TRACK_NAMES:
        for product in products:
            if name in ("Product Viewed", "Product Added"):
                value = product
            elif name in ("Cart Viewed", "Checkout Started"):
                value = {"cart_id": f"cart_{rng.randrange(10**6)}", "value": product["price"], "products": [product]}
            elif name == "Order Completed":
                value = {"order_id": f"ord_{rng.randrange(10**6)}", "total": product["price"], "products": [product]}
            elif name == "Content Downloaded":
                value = {"content_id": "size-guide", "title": "Size guide", "format": "pdf"}
            else:
                value = {"form_id": "newsletter", "form_name": "Newsletter sign-up"}
            properties.extend([f"track\t{name}\t{js(value)}"] * max(1, round(weight * 40)))
    for path, title in PAGES:
        properties.extend([f"page\t{title}\t{js({'path': path, 'title': title, 'url': SHOP + path})}"] * 150)
    contexts = []
    for _ in range(2000):
        path, title = rng.choice(PAGES)
        contexts.append(
            js(
                {
                    "page": {"path": path, "title": title, "url": SHOP + path, "referrer": "https://www.google.com/"},
                    "userAgent": rng.choice(USER_AGENTS),
                    "ip": f"81.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "timezone": rng.choice(TIME_ZONES)[0],
                    "locale": rng.choice(["en-GB", "en-US", "fr-FR", "de-DE"]),
                    "library": {"name": "analytics.js", "version": "next-1.70.0"},
                }
            )
        )
    return properties, contexts


def load_events(cursor, count: int, contacts: int, source: int, rng: random.Random, now: float, limit: float) -> int:
    """Behavioural events; stops early (and says so) once `limit` seconds have gone by."""
    properties, contexts = event_pools(rng)
    copier = Copier(
        cursor,
        "sequences_event",
        EVENT_COLUMNS,
    )
    start, span = now - DAYS * 86400, DAYS * 86400
    random_, n_props, n_ctx = rng.random, len(properties), len(contexts)
    started = time.perf_counter()
    loaded = 0
    for pk in range(1, count + 1):
        contact = int(random_() * contacts) + 1
        moment = start + random_() * span
        at = ts(moment)
        copier.row(
            f"{pk}\t{properties[int(random_() * n_props)]}\t{contexts[int(random_() * n_ctx)]}\t{at}\t{at}"
            f"\tev-{pk:010d}\ts-{contact}-{int(moment // 1800)}\t{contact}\t{source}\n"
        )
        loaded = pk
        if pk % 1_000_000 == 0:
            elapsed = time.perf_counter() - started
            print(f"  {pk:,} events in {elapsed:.0f} s ({pk / elapsed:,.0f}/s)", flush=True)
            if elapsed > limit and pk < count:
                print(f"  events time limit ({limit:.0f} s) reached: stopping at {pk:,} of {count:,}", flush=True)
                break
    copier.close()
    return loaded


def counts(connection) -> dict[str, int]:
    """Exact row counts of the loaded tables."""
    query = "SELECT count(*) FROM {}"
    return {table: connection.execute(query.format(table)).fetchone()[0] for table in LOADED_TABLES}


def load(args, connection) -> None:
    from django.db import connection as django_connection

    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to empty {name!r}: not a bench database")
    rng = random.Random(args.seed)
    now = time.time()
    connection.execute(f"TRUNCATE {', '.join(RESET_TABLES)} RESTART IDENTITY CASCADE")
    django_connection.close()
    account = make_account(datetime.fromtimestamp(now, UTC))
    started = time.perf_counter()
    with connection.transaction(), without_indexes(connection, LOADED_TABLES), connection.cursor() as cursor:
        step = time.perf_counter()
        zones = load_contacts(cursor, args.contacts, rng, now - DAYS * 86400, now)
        print(f"  {args.contacts:,} contacts: {time.perf_counter() - step:.1f} s", flush=True)
        step = time.perf_counter()
        enrolled, sent, email_events, statuses = load_sends(cursor, account, zones, args.messages, rng, now)
        shares = ", ".join(f"{k} {100 * v / sent:.1f}%" for k, v in sorted(statuses.items(), key=lambda kv: -kv[1]))
        print(
            f"  {enrolled:,} enrolments, {sent:,} messages ({shares}), {email_events:,} email events: "
            f"{time.perf_counter() - step:.1f} s",
            flush=True,
        )
        step = time.perf_counter()
        events = load_events(cursor, args.events, args.contacts, account["source"], rng, now, args.events_time_limit)
        print(f"  {events:,} behavioural events: {time.perf_counter() - step:.1f} s", flush=True)
    for table in LOADED_TABLES:
        connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: S608
        )
    step = time.perf_counter()
    connection.execute(f"VACUUM ANALYZE {', '.join(LOADED_TABLES)}")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - step:.1f} s", flush=True)
    print(f"load time: {time.perf_counter() - started:.1f} s (COPY, index builds and VACUUM ANALYZE)", flush=True)


# --- Rollups -----------------------------------------------------------------------------------------------------


def rollups(args, connection) -> None:
    from django.utils import timezone

    from analytics.models import DailyStats, SendTimeStats
    from analytics.rollups import rebuild_rollups, refresh_rollups

    if args.reuse and DailyStats.objects.exists() and not args.rebuild:
        print(f"rollups: reused ({DailyStats.objects.count():,} daily rows; --rebuild to rebuild)")
    else:
        started = time.perf_counter()
        partitions = rebuild_rollups()
        seconds = time.perf_counter() - started
        print(
            f"rebuild_rollups(): {seconds:.1f} s for {partitions} partitions (day x sequence): "
            f"{DailyStats.objects.count():,} DailyStats rows, {SendTimeStats.objects.count():,} SendTimeStats rows",
            flush=True,
        )
        connection.execute("ANALYZE analytics_dailystats, analytics_sendtimestats")
    # One beat run: a minute's worth of new email events (opens, a click, an order) on recent messages first.
    recent = connection.execute(
        "SELECT id FROM sequences_message WHERE status = 'sent' AND send_at > now() - interval '3 days' "
        "ORDER BY id DESC LIMIT 200"
    ).fetchall()
    picked = random.Random(args.seed).sample([row[0] for row in recent], min(8, len(recent)))
    with connection.transaction():
        for index, message_id in enumerate(picked):
            kind = "conversion" if index == 0 else "click" if index == 1 else "open"
            connection.execute(
                "INSERT INTO sequences_emailevent (kind, occurred_at, url, revenue, machine_open, details, message_id)"
                " VALUES (%s, now(), '', %s, false, '{}', %s)",
                [kind, 49.0 if kind == "conversion" else None, message_id],
            )
    started = time.perf_counter()
    partitions = refresh_rollups(now=timezone.now())
    seconds = time.perf_counter() - started
    print(
        f"refresh_rollups(now=...) (one beat run, {len(picked)} new email events): {seconds:.1f} s, "
        f"{partitions} partitions recomputed",
        flush=True,
    )


# --- The server and its timing wrapper ---------------------------------------------------------------------------

_application = None


def timed_application(environ, start_response):
    """triggerapp's WSGI app with a Server-Timing header: time in the app, and the SQL queries' count and time."""
    global _application
    if _application is None:
        from triggerapp.wsgi import application

        _application = application
    from django.db import connection

    sql = [0, 0.0]

    def count_sql(execute, query, params, many, context):
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql[0] += 1
            sql[1] += time.perf_counter() - started

    captured = []
    started = time.perf_counter()
    with connection.execute_wrapper(count_sql):
        response = _application(environ, lambda status, headers, exc_info=None: captured.append((status, headers)))
        try:
            body = b"".join(response)
        finally:
            if hasattr(response, "close"):
                response.close()
    app = 1000 * (time.perf_counter() - started)
    status, headers = captured[0]
    timing = f'app;dur={app:.1f}, db;dur={1000 * sql[1]:.1f};desc="{sql[0]} queries"'
    start_response(status, [*headers, ("Server-Timing", timing)])
    return [body]


class Server:
    """gunicorn (sync workers) on the bench database, in its own process group, always stopped."""

    def __init__(self, database_url: str, workers: int):
        with contextlib.closing(__import__("socket").socket()) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = Path(tempfile.mkstemp(prefix="triggerapp-bench-dashboard-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48)[:50],
            "DJANGO_DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "triggerapp.settings",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)])),
        }
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "bench.dashboard:timed_application", "-w", str(self.workers)]
        command += ["-k", "sync", "-b", f"127.0.0.1:{self.port}", "--timeout", "120", "--log-level", "warning"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if request(self.port, "GET", "/login/")[0] == 200:
                    return
            time.sleep(0.3)
        raise SystemExit("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def errors(self) -> int:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("Traceback")


def request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """One request on a new connection (sync workers close it). Returns (status, headers, body, seconds)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, response.headers, data, time.perf_counter() - started
    finally:
        connection.close()


def viewer_credentials(port: int) -> tuple[str, str]:
    """(cookie header of a logged-in viewer, API token). The viewer logs in through the login form."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from triggerapp.roles import VIEWER, set_role

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    set_role(user, VIEWER)
    token, _ = Token.objects.get_or_create(user=user)
    status, headers, body, _ = request(port, "GET", "/login/")
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
    csrf_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = urlencode({"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": csrf_field}).encode()
    status, headers, body, _ = request(
        port,
        "POST",
        "/login/",
        {"Cookie": f"csrftoken={csrf_cookie}", "Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    session = re.search(r"sessionid=([^;]+)", ", ".join(headers.get_all("Set-Cookie") or []))
    if status != 302 or not session:
        raise SystemExit(f"login failed: {status} {body[:300]!r}")
    return f"sessionid={session.group(1)}; csrftoken={csrf_cookie}", token.key


# --- Measuring ---------------------------------------------------------------------------------------------------


def endpoints(cookie: str, token: str) -> list[tuple[str, str, dict]]:
    from sequences.models import Segment, Sequence

    cart = Sequence.objects.get(name=SEQUENCES[0][0]).pk
    segment = Segment.objects.get(name=SEGMENTS[0][0]).pk
    page = {"Cookie": cookie}
    partial = {**page, "HX-Request": "true", "HX-Target": "charts", "HX-Current-URL": "http://127.0.0.1/analytics/"}
    api = {"Authorization": f"Token {token}"}
    found = [
        ("page period=7", "/analytics/?period=7", page),
        ("page period=30 (default)", "/analytics/", page),
        ("page period=90", "/analytics/?period=90", page),
        ("page period=all", "/analytics/?period=all", page),
        ("page period=30 sequence=cart", f"/analytics/?period=30&sequence={cart}", page),
        ("page period=90 segment=high intent", f"/analytics/?period=90&segment={segment}", page),
        ("page htmx partial period=90 +machine opens", "/analytics/?period=90&machine_opens=on", partial),
        ("csv conversion-lift period=90", "/analytics/export/conversion-lift.csv?period=90", page),
        ("csv trend period=all", "/analytics/export/trend.csv?period=all", page),
    ]
    for metric in ("conversion", "open", "click"):
        for group_by in ("segment", "sequence", "step", "variant"):
            found.append(
                (f"api lift {metric} by {group_by}", f"/api/v1/analytics/lift/?{metric=!s}&{group_by=!s}", api)
            )
    return found


def server_timing(headers) -> tuple[float, float, int]:
    value = headers.get("Server-Timing", "")
    app = re.search(r"app;dur=([\d.]+)", value)
    db = re.search(r"db;dur=([\d.]+);desc=\"(\d+) queries\"", value)
    if not (app and db):
        return math.nan, math.nan, 0
    return float(app.group(1)), float(db.group(1)), int(db.group(2))


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure(port: int, targets, requests: int, warmup: int, concurrency: int) -> tuple[dict, list[str]]:
    """Each endpoint in turn: warm-up requests, then `requests` timed ones from `concurrency` threads."""
    results: dict[str, dict] = {}
    failures: list[str] = []
    for label, path, headers in targets:
        for _ in range(warmup):
            request(port, "GET", path, headers)
        samples: list[tuple[float, float, float, int, int]] = []
        lock = threading.Lock()
        remaining = iter(range(requests))

        def worker(path=path, headers=headers, label=label, samples=samples, lock=lock, remaining=remaining):
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                status, response_headers, body, seconds = request(port, "GET", path, headers)
                app, db, queries = server_timing(response_headers)
                with lock:
                    samples.append((1000 * seconds, app, db, queries, len(body)))
                    if status != 200:
                        failures.append(f"{label}: HTTP {status} {body[:200]!r}")

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results[label] = {
            "client": sorted(s[0] for s in samples),
            "app": sorted(s[1] for s in samples),
            "db": sorted(s[2] for s in samples),
            "queries": statistics.median(s[3] for s in samples),
            "bytes": statistics.median(s[4] for s in samples),
        }
    return results, failures


def report(results: dict, failures: list[str], requests: int, concurrency: int) -> bool:
    print(
        f"\n{requests} timed requests per endpoint after warm-up, {concurrency} at a time; client = measured by the "
        "client on loopback (HTTP on 127.0.0.1 included); app/db = Server-Timing from inside the gunicorn worker"
    )
    header = f"{'endpoint':44} {'p50':>7} {'p95':>7} {'max':>7} | {'app p50':>7} {'app p95':>7} | {'db p50':>6} "
    print(header + f"{'queries':>7} {'KB':>6}")
    every_client, every_app, worst = [], [], ("", 0.0)
    for label, r in results.items():
        c, a, d = r["client"], r["app"], r["db"]
        every_client += c
        every_app += a
        p95 = percentile(c, 0.95)
        if p95 > worst[1]:
            worst = (label, p95)
        print(
            f"{label:44} {percentile(c, 0.5):7.1f} {p95:7.1f} {c[-1]:7.1f} | {percentile(a, 0.5):7.1f} "
            f"{percentile(a, 0.95):7.1f} | {percentile(d, 0.5):6.1f} {r['queries']:7.0f} {r['bytes'] / 1024:6.1f}"
        )
    every_client.sort()
    every_app.sort()
    print(
        f"{'overall (' + str(len(every_client)) + ' requests)':44} {percentile(every_client, 0.5):7.1f} "
        f"{percentile(every_client, 0.95):7.1f} {every_client[-1]:7.1f} | {percentile(every_app, 0.5):7.1f} "
        f"{percentile(every_app, 0.95):7.1f} |   (ms)"
    )
    if failures:
        print(f"{len(failures)} failed requests, first: {failures[0]}")
    met = not failures and worst[1] < GOAL_MS
    print(
        f"goal: p95 < {GOAL_MS:.0f} ms on every endpoint (client time on loopback) -> {'met' if met else 'NOT met'}"
        f" (slowest p95: {worst[0]}, {worst[1]:.0f} ms; overall p95 {percentile(every_client, 0.95):.0f} ms)"
    )
    return met


# --- Main --------------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000, help="behavioural events (sequences_event)")
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--events-time-limit",
        type=float,
        default=900,
        help="stop loading behavioural events after this many seconds and keep what was loaded (default 900)",
    )
    parser.add_argument("--reuse", action="store_true", help="skip loading when the database already has the data")
    parser.add_argument("--rebuild", action="store_true", help="with --reuse: rebuild the rollups anyway")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per endpoint (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per endpoint first (default 5)")
    parser.add_argument("--concurrency", type=int, default=1, help="client threads (default 1: latency, no queue)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--no-serve", action="store_true", help="load and build the rollups only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import psycopg

    name = urlsplit(args.database_url).path.lstrip("/")
    with psycopg.connect(args.database_url, dbname="postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"creating database {name}")
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        DATABASE_URL=args.database_url,
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or "bench-dashboard-" + "x" * 40,
        DJANGO_SETTINGS_MODULE="triggerapp.settings",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with psycopg.connect(args.database_url, autocommit=True) as connection:
        loaded = counts(connection)
        if args.reuse and loaded["sequences_message"] and loaded["sequences_event"]:
            print("reusing the data already loaded:", ", ".join(f"{t} {n:,}" for t, n in loaded.items()))
        else:
            print(
                f"loading {args.messages:,} messages, {args.events:,} behavioural events, {args.contacts:,} contacts "
                f"over {DAYS} days into {name}...",
                flush=True,
            )
            load(args, connection)
            loaded = counts(connection)
        print("rows:", ", ".join(f"{t} {n:,}" for t, n in loaded.items()))
        size = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"database size: {size}", flush=True)
        rollups(args, connection)
    if args.no_serve:
        return 0
    from django.db import connection as django_connection

    django_connection.close()
    server = Server(args.database_url, args.workers)
    try:
        server.start()
        cookie, token = viewer_credentials(server.port)
        load_average = os.getloadavg()[0]
        print(f"gunicorn: {args.workers} sync workers on 127.0.0.1:{server.port}; load average {load_average:.2f}")
        results, failures = measure(server.port, endpoints(cookie, token), args.requests, args.warmup, args.concurrency)
    finally:
        server.stop()
    met = report(results, failures, args.requests, args.concurrency)
    if server.errors():
        print(f"gunicorn logged {server.errors()} tracebacks: {server.log}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
