"""The source document's segments and sequences, as shipped defaults (loaded by seed_demo, editable after)."""

from __future__ import annotations

from datetime import time

from django.db import transaction

from sequences.models import CopyVariant, Segment, Sequence, Step

HOUR = 60
DAY = 24 * HOUR
CART_URL = '{{ cart.url|default:"https://shop.example.com/cart" }}'
CART_OPENING = 'Hi {{ first_name|default:"there" }}, you stopped at {{ product.name|default:"checkout" }}.'
CART_BODY = (
    "{% if product.variant or product.size %}Your preferred {{ product.size|default:product.variant }} is still "
    "available, ready to go.{% else %}Everything you picked is still available, ready to go.{% endif %}\n\n"
    "Questions? Our team is on live chat now."
)

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
                "variants": [
                    {
                        "name": "Electronics, long session",
                        "priority": 1,
                        # The source document's example rule.
                        "condition": {
                            "all": [
                                {"field": "trigger.type", "op": "eq", "value": "cart_abandoned"},
                                {"field": "session.duration_seconds", "op": "gt", "value": 300},
                                {"field": "product.category", "op": "eq", "value": "electronics"},
                            ]
                        },
                        "subject": (
                            '{{ first_name|default:"Hey" }}, your electronics are ready—don’t let them slip away!'
                        ),
                        "preheader": 'Your {{ product.name|default:"pick" }} is still in your cart.',
                        "opening": CART_OPENING,
                        "body": CART_BODY,
                        "cta_text": "Claim your discount",
                        "cta_url": CART_URL,
                    },
                    {
                        "name": "Still thinking (re-engagement)",
                        "priority": 2,
                        "reengagement": True,
                        "subject": 'Still thinking it over, {{ first_name|default:"friend" }}?',
                        "opening": "No pressure: your cart is saved.",
                        "body": "Whenever you are ready, it is one click away.",
                        "cta_text": "Back to my cart",
                        "cta_url": CART_URL,
                    },
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": ('{{ first_name|default:"Hey" }}, your cart awaits—complete the purchase'),
                        "preheader": "Questions? Our team is on live chat now.",
                        "opening": CART_OPENING,
                        "body": CART_BODY,
                        "cta_text": "Claim your discount",
                        "cta_url": CART_URL,
                    },
                ],
            },
            {
                "name": "Empathy and free shipping",
                "delay_from": "previous",
                "delay_min_minutes": 2 * HOUR,
                "delay_max_minutes": 6 * HOUR,
                "preferred_start": time(19, 0),
                "preferred_end": time(21, 0),
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": 'Free shipping on your cart, {{ first_name|default:"friend" }}',
                        "opening": "",
                        "body": "Choosing takes time. We'll ship your order free.",
                        "cta_text": "Get free shipping",
                        "cta_url": "https://shop.example.com/cart?promo=freeship",
                    }
                ],
            },
            {
                "name": "Scarcity",
                "delay_from": "previous",
                "delay_min_minutes": 12 * HOUR,
                "delay_max_minutes": DAY,
                "preferred_start": time(12, 0),
                "preferred_end": time(14, 0),
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": "Only 3 left!",
                        "opening": "",
                        "body": "The items in your cart are selling out.",
                        "cta_text": "Complete my order",
                        "cta_url": "https://shop.example.com/cart",
                    }
                ],
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
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": "We’ve saved your guide—check it now",
                        "opening": (
                            'Hi {{ first_name|default:"there" }}, love how you’re researching '
                            '{{ trigger.content|default:"this topic" }}.'
                        ),
                        "body": "Here is what readers of this guide usually look at next, considering next steps.",
                        "cta_text": "Read the guide",
                        "cta_url": "https://shop.example.com/guides",
                    }
                ],
            },
            {
                "name": "Let's finalize",
                "delay_from": "previous",
                "delay_min_minutes": 2 * DAY,
                "delay_max_minutes": 3 * DAY,
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": 'Ready for the next step, {{ first_name|default:"friend" }}?',
                        "opening": "",
                        "body": "You have done the research; a short demo answers the rest.",
                        "cta_text": "Let’s finalize",
                        "cta_url": "https://shop.example.com/demo",
                    }
                ],
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
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": 'We miss you, {{ first_name|default:"friend" }}',
                        "opening": "",
                        "body": "Here’s a personal offer to welcome you back.",
                        "cta_text": "See my offer",
                        "cta_url": "https://shop.example.com/welcome-back",
                    }
                ],
            },
            {
                "name": "Last call",
                "delay_from": "previous",
                "delay_min_minutes": 3 * DAY,
                "delay_max_minutes": 4 * DAY,
                "preferred_start": time(10, 0),
                "preferred_end": time(12, 0),
                "variants": [
                    {
                        "name": "Default",
                        "is_default": True,
                        "subject": "Your offer ends soon",
                        "opening": "",
                        "body": "Last chance to use your welcome-back offer.",
                        "cta_text": "Use my offer",
                        "cta_url": "https://shop.example.com/welcome-back",
                    }
                ],
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
            for position, step_data in enumerate(steps):
                step_data = dict(step_data)
                variants = step_data.pop("variants")
                step = Step.objects.create(sequence=sequence, position=position, **step_data)
                CopyVariant.objects.bulk_create(CopyVariant(step=step, **variant) for variant in variants)
