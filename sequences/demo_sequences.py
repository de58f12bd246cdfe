"""The source document's segments and sequences, as shipped defaults (loaded by seed_demo, editable after)."""

from __future__ import annotations

from datetime import time

from django.db import transaction

from sequences.models import Segment, Sequence, Step

HOUR = 60
DAY = 24 * HOUR

SEGMENTS = [
    {
        "name": "High-Intent Abandoners",
        "condition": {
            "all": [
                {"field": "trigger.type", "op": "eq", "value": "cart_abandoned"},
                {"field": "score.tier", "op": "eq", "value": "high"},
            ]
        },
        "delay_min_minutes": 2 * HOUR,
        "delay_max_minutes": 4 * HOUR,
        "expected_lift": "+38% open rate",
        "example_trigger": "Urgent: “We noticed you stopped—here’s your 15% discount”",
    },
    {
        "name": "Mid-Funnel Downloaders",
        "condition": {
            "all": [
                {"field": "trigger.type", "op": "eq", "value": "content_downloaded"},
                {"field": "contact.lifecycle_stage", "op": "in", "value": ["lead", "mql", "sql", "opportunity"]},
            ]
        },
        "delay_min_minutes": 4 * HOUR,
        "delay_max_minutes": 8 * HOUR,
        "expected_lift": "+29% conversion",
        "example_trigger": "“You’re deep in research—here’s how [Product] solves your current pain”",
    },
    {
        "name": "Lapsed Users",
        "condition": {"field": "trigger.type", "op": "eq", "value": "lapsed"},
        # The lapsed trigger itself fires after 7 silent days: 0-5 days after it is 7-12 days after the last visit.
        "delay_min_minutes": 0,
        "delay_max_minutes": 5 * DAY,
        "preferred_start": time(10, 0),
        "preferred_end": time(12, 0),
        "expected_lift": "+22% reactivation",
        "example_trigger": "“We miss you—here’s a personalized re-engagement offer”",
    },
    {
        "name": "Other Abandoners",
        "condition": {"field": "trigger.type", "op": "eq", "value": "cart_abandoned"},
        "delay_min_minutes": 2 * HOUR,
        "delay_max_minutes": 4 * HOUR,
        "notes": "Every cart abandoner who is not high intent.",
    },
]

SEQUENCES = [
    {
        "name": "Cart abandonment (3 emails)",
        "entry_trigger": "cart_abandoned",
        "funnel_stage": "decision",
        "segments": ["High-Intent Abandoners", "Other Abandoners"],
        "steps": [
            {
                "name": "Reminder with live chat",
                "delay_from": "trigger",
                "subject": "{{ first_name }}, your cart awaits—complete the purchase",
                "body": "Hi {{ first_name }}, you stopped at checkout. Questions? Our team is on live chat now:\nhttps://shop.example.com/cart",
                "reengagement_subject": "Still thinking it over, {{ first_name }}?",
                "reengagement_body": "No pressure: your cart is saved.\nhttps://shop.example.com/cart",
            },
            {
                "name": "Empathy and free shipping",
                "delay_from": "previous",
                "delay_min_minutes": 2 * HOUR,
                "delay_max_minutes": 6 * HOUR,
                "preferred_start": time(19, 0),
                "preferred_end": time(21, 0),
                "subject": "Free shipping on your cart, {{ first_name }}",
                "body": "Choosing takes time. We'll ship your order free:\nhttps://shop.example.com/cart?promo=freeship",
            },
            {
                "name": "Scarcity",
                "delay_from": "previous",
                "delay_min_minutes": 12 * HOUR,
                "delay_max_minutes": DAY,
                "preferred_start": time(12, 0),
                "preferred_end": time(14, 0),
                "subject": "Only 3 left!",
                "body": "The items in your cart are selling out.\nhttps://shop.example.com/cart",
            },
        ],
    },
    {
        "name": "Download follow-up",
        "entry_trigger": "content_downloaded",
        "funnel_stage": "consideration",
        "segments": ["Mid-Funnel Downloaders"],
        "steps": [
            {
                "name": "Guide follow-up",
                "delay_from": "segment",
                "subject": "We’ve saved your guide—check it now",
                "body": "Hi {{ first_name }}, love how you’re researching {{ content }}.\nhttps://shop.example.com/guides",
            },
            {
                "name": "Let's finalize",
                "delay_from": "previous",
                "delay_min_minutes": 2 * DAY,
                "delay_max_minutes": 3 * DAY,
                "subject": "Ready for the next step, {{ first_name }}?",
                "body": "Let’s finalize:\nhttps://shop.example.com/demo",
            },
        ],
    },
    {
        "name": "Lapsed win-back",
        "entry_trigger": "lapsed",
        "funnel_stage": "retention",
        "segments": ["Lapsed Users"],
        "steps": [
            {
                "name": "We miss you",
                "delay_from": "segment",
                "subject": "We miss you, {{ first_name }}",
                "body": "Here’s a personal offer to welcome you back:\nhttps://shop.example.com/welcome-back",
            },
            {
                "name": "Last call",
                "delay_from": "previous",
                "delay_min_minutes": 3 * DAY,
                "delay_max_minutes": 4 * DAY,
                "preferred_start": time(10, 0),
                "preferred_end": time(12, 0),
                "subject": "Your offer ends soon",
                "body": "Last chance:\nhttps://shop.example.com/welcome-back",
            },
        ],
    },
]


def load_default_sequences(*, activate: bool = True) -> None:
    """Create the defaults that are missing; never touches ones a marketer already has (idempotent)."""
    with transaction.atomic():
        for position, data in enumerate(SEGMENTS):
            Segment.objects.get_or_create(name=data["name"], defaults={**data, "position": position})
        for data in SEQUENCES:
            data = dict(data)
            steps, segment_names = data.pop("steps"), data.pop("segments")
            sequence, created = Sequence.objects.get_or_create(
                name=data["name"], defaults={**data, "status": "active" if activate else "draft"}
            )
            if not created:
                continue
            sequence.segments.set(Segment.objects.filter(name__in=segment_names))
            Step.objects.bulk_create(Step(sequence=sequence, position=i, **step) for i, step in enumerate(steps))
