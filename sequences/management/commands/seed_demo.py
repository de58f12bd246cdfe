"""Demo data: a user per role, a write key, lifecycle stages and a few contacts with sessions.

Idempotent: running it again changes nothing that is already there. Later features add their defaults here.
Events go through the real tracking pipeline (the same code as /v1/batch), not straight into tables.
"""

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from sequences.demo_sequences import load_default_sequences
from sequences.models import Account, Contact, LifecycleStage, WriteKey
from sequences.models.account import DEFAULT_LIFECYCLE_STAGES
from sequences.tracking.ingest import ingest_events
from sequences.tracking.payloads import IncomingEvent
from triggerapp.roles import ADMIN, EDITOR, VIEWER, set_role

DEMO_PASSWORD = "triggerapp-demo"
DEMO_USERS = [("demo", ADMIN), ("editor", EDITOR), ("viewer", VIEWER)]
DEMO_WRITE_KEY = "wk_demo_local_write_key"

PEOPLE = [
    ("u-1001", "ada@example.com", "Ada", "Lovelace", "Europe/London", "customer"),
    ("u-1002", "grace@example.com", "Grace", "Hopper", "America/New_York", "mql"),
    ("u-1003", "alan@example.com", "Alan", "Turing", "Europe/Berlin", "lead"),
    ("u-1004", "katherine@example.com", "Katherine", "Johnson", "America/Los_Angeles", "opportunity"),
    ("u-1005", "linus@example.com", "Linus", "Pauling", "Asia/Tokyo", "lapsed"),
]
# Candidates for the live shopper's time zone, so that the demo's first email is not held for quiet hours.
DAYTIME_ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "Pacific/Auckland",
    "Asia/Dubai",
]
PRODUCTS = [
    ("sku-hp-01", "Noise-cancelling headphones", "electronics", 249.0),
    ("sku-kb-02", "Mechanical keyboard", "electronics", 129.0),
    ("sku-tr-03", "Trail running shoes", "apparel", 119.0),
    ("sku-bk-04", "The Pragmatic Marketer (ebook)", "books", 19.0),
]


class Command(BaseCommand):
    help = "Load demo data (idempotent). Prints the demo logins and the demo write key."

    def handle(self, *args, **options):
        with transaction.atomic():
            Account.current()
            for position, (slug, name) in enumerate(DEFAULT_LIFECYCLE_STAGES):
                LifecycleStage.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})
            self._users()
            source, _ = WriteKey.objects.get_or_create(key=DEMO_WRITE_KEY, defaults={"name": "Demo web shop"})
            load_default_sequences(activate=True)
        if not Contact.objects.filter(user_id=PEOPLE[0][0]).exists():
            ingest_events(source=source, events=self._events())
        self.stdout.write(
            f"Demo logins (password {DEMO_PASSWORD!r}): " + ", ".join(f"{u} ({r})" for u, r in DEMO_USERS)
        )
        self.stdout.write(f"Demo write key: {source.key}")

    def _users(self) -> None:
        User = get_user_model()
        for username, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            set_role(user, role)

    def _events(self) -> list[IncomingEvent]:
        rng = random.Random(42)
        now = timezone.now()
        events: list[IncomingEvent] = []

        def add(kind, name, user_id, anonymous_id, at, properties=None, traits=None, context=None):
            events.append(
                IncomingEvent(
                    type=kind,
                    name=name,
                    user_id=user_id,
                    anonymous_id=anonymous_id,
                    message_id=f"demo-{len(events)}",
                    occurred_at=at,
                    received_at=at,
                    sent_at=at,
                    properties=properties or {},
                    traits=traits or {},
                    context=context or {},
                )
            )

        for n, (user_id, email, first, last, tz, stage) in enumerate(PEOPLE):
            anonymous_id = f"anon-demo-{n}"
            start = now - timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 20))
            page = {"page": {"url": "https://shop.example.com/", "path": "/", "title": "Shop"}, "timezone": tz}
            add("page", "Home", None, anonymous_id, start, context=page)
            for step, (sku, product, category, price) in enumerate(rng.sample(PRODUCTS, 2)):
                at = start + timedelta(minutes=2 + 3 * step)
                product_props = {"product_id": sku, "name": product, "category": category, "price": price}
                add("track", "Product Viewed", None, anonymous_id, at, properties=product_props)
            add(
                "identify",
                "",
                user_id,
                anonymous_id,
                start + timedelta(minutes=8),
                traits={"email": email, "firstName": first, "lastName": last, "lifecycle_stage": stage},
            )
            if n % 2 == 0:
                sku, product, category, price = PRODUCTS[n % len(PRODUCTS)]
                cart = {
                    "cart_id": f"cart-{n}",
                    "product_id": sku,
                    "name": product,
                    "category": category,
                    "price": price,
                }
                add("track", "Product Added", user_id, anonymous_id, start + timedelta(minutes=9), properties=cart)
                add("track", "Checkout Started", user_id, anonymous_id, start + timedelta(minutes=11), properties=cart)
            if n == 3:
                add(
                    "track",
                    "Content Downloaded",
                    user_id,
                    anonymous_id,
                    start + timedelta(minutes=12),
                    properties={"content_id": "guide-2026", "title": "Buyer's guide", "category": "guide"},
                )
        # Two, so that the 10% holdout cannot keep every live email out of the outbox.
        self._live_abandonment(add, now, ("u-1006", "margaret@example.com", "Margaret", "Hamilton"))
        self._live_abandonment(add, now, ("u-1007", "hedy@example.com", "Hedy", "Lamarr"))
        self._near_the_thresholds(add, now)
        return events

    def _near_the_thresholds(self, add, now) -> None:
        """Two visitors of the last half hour whose scores sit just under a tier threshold, so that the scoring
        page's what-if has someone to move on a fresh demo: Sam, a subscriber who reached checkout in a
        4-minute session (about 71, medium: 30/35/25/10 weights make him high), and Olive, an opportunity
        who glanced at one homeware product (about 52, medium: the same weights make her low)."""
        speaker = {"category": "electronics", "name": "Smart speaker", "product_id": "sku-sp-05", "price": 89.0}
        cart = {**speaker, "cart_id": "cart-u-1008"}
        throw = {"category": "home", "name": "Linen throw", "product_id": "sku-lt-06", "price": 59.0}
        visitors = [
            # user id, (first, last, stage), minutes ago, [(seconds in, type, name, properties)]
            ("u-1008", ("Sam", "Okafor", "subscriber"), 24, [
                (0, "page", "Home", None),
                (30, "track", "Product Viewed", speaker),
                (60, "track", "Product Added", cart),
                (240, "track", "Checkout Started", cart),
            ]),
            ("u-1009", ("Olive", "Park", "opportunity"), 31, [
                (0, "page", "Home", None),
                (10, "track", "Product Viewed", throw),
                (100, "page", "Delivery", None),
            ]),
        ]  # fmt: skip
        for user, (first, last, stage), minutes_ago, steps in visitors:
            start, anonymous = now - timedelta(minutes=minutes_ago), f"anon-{user}"
            email = f"{first}.{last}@example.com".lower()
            traits = {"email": email, "firstName": first, "lastName": last, "lifecycle_stage": stage}
            add("identify", "", user, anonymous, start, traits=traits)
            for seconds, kind, name, properties in steps:
                add(kind, name, user, anonymous, start + timedelta(seconds=seconds), properties=properties)

    def _live_abandonment(self, add, now, person: tuple[str, str, str, str]) -> None:
        """A shopper who left a full cart 10 minutes ago, somewhere it is daytime now: the running demo's beat
        finds the abandonment within seconds and the first email reaches the outbox, so every page has
        something to show on first start."""
        user, email, first, last = person
        zone = next((z for z in DAYTIME_ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19), DAYTIME_ZONES[0])
        start, cart = now - timedelta(minutes=17), {"cart_id": f"cart-{user}", "category": "electronics"}
        anonymous = f"anon-{user}"
        context = {"timezone": zone, "page": {"url": "https://shop.example.com/", "path": "/"}}
        add("page", "Home", None, anonymous, start, context=context)
        traits = {"email": email, "firstName": first, "lastName": last, "lifecycle_stage": "customer"}
        add("identify", "", user, anonymous, start + timedelta(seconds=30), traits=traits)
        headphones = {
            "product_id": "sku-hp-01",
            "name": "Noise-cancelling headphones",
            "category": "electronics",
            "price": 249.0,
        }
        add("track", "Product Viewed", user, anonymous, start + timedelta(minutes=1), properties=headphones)
        add("track", "Product Added", user, anonymous, start + timedelta(minutes=6), properties={**headphones, **cart})
        add("track", "Checkout Started", user, anonymous, start + timedelta(minutes=7), properties=cart)
