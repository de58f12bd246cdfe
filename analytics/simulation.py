"""The simulator's behaviour model (pure: no Django): people, their visits, and how they answer emails.

Every draw comes from a `random.Random` seeded by (seed, what is drawn, a stable name such as the user id or the
enrolment key), never from a shared stream. So a person's behaviour does not depend on the order the driver asks
in, on database ids, or on the effect sizes: a zero-effect run and a large-effect run with the same seed see the
same people, sessions and uniform draws (common random numbers), and only the probabilities differ.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.simulation_config import ConversionTruth, SimulationConfig

# Relative activity by local hour 0-23: low at night, a lunch bump, the evening peak (19:00-21:00).
HOUR_WEIGHTS = (
    *(0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.4, 1.5, 1.5, 1.6),
    *(2.0, 1.8, 1.5, 1.5, 1.6, 1.9, 2.4, 3.0, 3.2, 2.8, 1.8, 0.8),
)
PRODUCTS = (
    ("sku-hp-01", "Noise-cancelling headphones", "electronics", 249.0),
    ("sku-kb-02", "Mechanical keyboard", "electronics", 129.0),
    ("sku-sp-03", "Smart speaker", "electronics", 99.0),
    ("sku-tr-04", "Trail running shoes", "apparel", 119.0),
    ("sku-jk-05", "Rain jacket", "apparel", 159.0),
    ("sku-lm-06", "Desk lamp", "home", 49.0),
    ("sku-bk-07", "The Pragmatic Marketer", "books", 19.0),
)
STAGES = {
    "shopper": (("customer", 4), ("subscriber", 3), ("lead", 2), ("repeat_customer", 1)),
    "buyer": (("customer", 5), ("repeat_customer", 3), ("subscriber", 2)),
    "researcher": (("lead", 35), ("mql", 35), ("sql", 20), ("opportunity", 10)),
    "browser": (("subscriber", 6), ("lead", 4)),
}
FIRST_NAMES = ("Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Hedy", "Edsger", "Barbara", "Donald")
PERSON_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Thunderbird/128"
PROXY_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Apple-Mail-Privacy"  # see email_tracking.MACHINE_AGENTS
LAPSED_QUIET_DAYS = 8  # a lapser's silence before the run ends must outlast the app's 7-day lapse rule


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    anonymous_id: str
    email: str
    first_name: str
    time_zone: str
    lifecycle_stage: str
    persona: str
    identifies: bool
    proxy: bool  # their mail app fetches images through a privacy proxy
    arrives: datetime
    leaves: datetime  # no visits after this (the end of the run, or a lapser's last day)


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    at: datetime
    payload: dict  # a Segment message without its timestamp (the driver adds it)


@dataclass(frozen=True, slots=True)
class SentEmail:
    """What the model needs to know about an email that went out."""

    key: str  # stable name: the same email in a rerun gets the same draws
    sent_at: datetime
    local_hour: int
    window_arm: bool | None  # in the timing experiment: the engagement-window arm or not; None: no experiment
    links: int


@dataclass(frozen=True, slots=True)
class Reaction:
    at: datetime
    kind: str  # "open", "click" or "unsubscribe"
    machine: bool = False
    link_index: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    probability: float  # the true conversion probability for this enrolment
    order: tuple[PlannedEvent, ...]  # empty when the person does not order


def _rng(seed: int, *parts: object) -> random.Random:
    # A string seed goes through SHA-512: stable across runs and Python versions, independent per name.
    return random.Random(":".join(str(p) for p in (seed, *parts)))  # noqa: S311 (a simulation, not a secret)


def _weighted(rng: random.Random, weights: dict[str, float] | tuple) -> str:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


def _delay(rng: random.Random, mean_hours: float, cap_hours: float, floor_minutes: float) -> timedelta:
    """Exponential with the given mean, at least floor_minutes, at most cap_hours (a person acts soon or never)."""
    hours = min(rng.expovariate(1 / mean_hours) if mean_hours > 0 else 0.0, cap_hours)
    return timedelta(hours=max(hours, floor_minutes / 60))


class BehaviourModel:
    def __init__(self, config: SimulationConfig, *, seed: int, start: datetime, end: datetime, prefix: str):
        self.config, self.seed, self.start, self.end, self.prefix = config, seed, start, end, prefix

    # --- people and their visits ----------------------------------------------------------------------------------

    def people(self, count: int) -> list[Person]:
        return [self._person(n) for n in range(count)]

    def _person(self, n: int) -> Person:
        c, rng = self.config, _rng(self.seed, "person", n)
        persona = _weighted(rng, c.personas)
        days = (self.end - self.start).total_seconds() / 86400
        lapses = rng.random() < c.lapse_share and days > LAPSED_QUIET_DAYS + 1
        if lapses:
            arrives = self.start + timedelta(days=rng.uniform(0, days - LAPSED_QUIET_DAYS - 1))
            leaves = arrives + timedelta(days=rng.uniform(0, 1.5))
        else:
            # New visitors keep arriving; late arrivals still get a day to act.
            arrives = self.start + timedelta(days=rng.uniform(0, max(days - 1, 0)))
            leaves = self.end
        user_id = f"{self.prefix}{n:05d}"
        return Person(
            user_id=user_id,
            anonymous_id=f"{self.prefix}anon-{n:05d}",
            email=f"{user_id}@example.com",  # a reserved domain: nothing simulated can reach a real inbox
            first_name=rng.choice(FIRST_NAMES),
            time_zone=_weighted(rng, c.time_zones),
            lifecycle_stage=_weighted(rng, STAGES[persona]),
            persona=persona,
            identifies=rng.random() < c.identify_share,
            proxy=rng.random() < c.proxy_share,
            arrives=arrives,
            leaves=leaves,
        )

    def visits(self, person: Person) -> tuple[list[PlannedEvent], dict[str, float]]:
        """A person's organic events over the run, and their carts (cart id -> value) for later orders."""
        rng = _rng(self.seed, "visits", person.user_id)
        zone = ZoneInfo(person.time_zone)
        active_days = max((person.leaves - person.arrives).total_seconds() / 86400, 0.0)
        returns = self._poisson(rng, self.config.sessions_per_day * active_days)
        first = self._session_start(rng, person.arrives, person.arrives + timedelta(days=1), zone)
        starts = sorted([first, *(self._session_start(rng, first, person.leaves, zone) for _ in range(returns))])
        special = rng.randrange(len(starts))  # the session with the persona's defining act
        events: list[PlannedEvent] = []
        carts: dict[str, float] = {}
        for index, start in enumerate(starts):
            if start >= self.end:
                continue
            session = _Session(person, start, rng, len(events), known=person.identifies and index > 0)
            session.page("Home", "/")
            if index == 0 and person.identifies:
                session.identify()
            kind = person.persona if index == special else "browser"
            if kind in ("shopper", "buyer"):
                cart_id, value = session.cart(high=rng.random() < self.config.high_intent_share, index=index)
                if kind == "buyer":
                    session.order(cart_id, value)
                else:
                    carts[cart_id] = value
            elif kind == "researcher":
                session.browse(rng.randint(0, 2))
                session.download(index)
            else:
                session.browse(rng.randint(1, 4))
            events.extend(e for e in session.events if e.at < self.end)
        return events, carts

    def _session_start(self, rng: random.Random, earliest: datetime, latest: datetime, zone: ZoneInfo) -> datetime:
        """A start between the two instants, at a local hour drawn from the daily rhythm."""
        if latest <= earliest:
            return earliest
        day = earliest + timedelta(seconds=rng.uniform(0, (latest - earliest).total_seconds()))
        local = day.astimezone(zone)
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        moment = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60)).astimezone(UTC)
        # Keep the drawn local hour by moving a whole day when the hour fell outside the span.
        if moment < earliest:
            moment += timedelta(days=1)
        elif moment > latest:
            moment -= timedelta(days=1)
        return min(max(moment, earliest), latest)

    @staticmethod
    def _poisson(rng: random.Random, mean: float) -> int:
        # Knuth's method: means here are small (a few visits).
        limit, count, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count

    # --- answers to the app ----------------------------------------------------------------------------------------

    def open_probability(self, email: SentEmail) -> float:
        c = self.config
        boosted = email.window_arm if email.window_arm is not None else c.in_window(email.local_hour)
        return c.open_rate * (c.window_open_multiplier if boosted else 1.0)

    def reactions(self, person: Person, email: SentEmail) -> list[Reaction]:
        c, rng = self.config, _rng(self.seed, "email", email.key)
        # Draw everything first, in a fixed order, so effect sizes change outcomes but never the draws.
        u_open, u_click, u_unsubscribe = rng.random(), rng.random(), rng.random()
        open_delay = _delay(rng, c.open_delay_hours, c.open_horizon_hours, floor_minutes=3)
        click_delay = timedelta(seconds=rng.uniform(10, 300))
        proxy_delay = timedelta(seconds=rng.uniform(1, 30))
        link = rng.randrange(email.links) if email.links else 0
        found: list[Reaction] = []
        if person.proxy:
            found.append(Reaction(email.sent_at + proxy_delay, "open", machine=True))
        if u_open >= self.open_probability(email):
            return found
        opened_at = email.sent_at + open_delay
        if not person.proxy:  # behind the proxy a person's open is served from its cache: invisible
            found.append(Reaction(opened_at, "open"))
        if email.links and u_click < c.click_given_open:
            found.append(Reaction(opened_at + click_delay, "click", link_index=link))
        elif u_unsubscribe < c.unsubscribe_given_open:
            found.append(Reaction(opened_at + click_delay, "unsubscribe"))
        return found

    def conversion(
        self, person: Person, *, key: str, segment: str, emailed: bool, anchor: datetime, cart: tuple[str, float] | None
    ) -> Outcome:
        """Whether an enrolment ends in an order, and when: after its first email (sent or withheld)."""
        c = self.config
        truth = c.conversion.get(segment, ConversionTruth(0.0, 0.0))
        probability = truth.emailed if emailed else truth.baseline
        rng = _rng(self.seed, "order", key)
        u = rng.random()
        at = anchor + _delay(rng, c.conversion_delay_hours, c.conversion_window_hours, floor_minutes=10)
        revenue = cart[1] if cart else round(rng.uniform(40, 300), 2)
        if u >= probability:
            return Outcome(probability, ())
        session = _Session(person, at - timedelta(minutes=2), rng, 0, known=True, tag=f"order-{key}")
        session.page("Cart", "/cart")
        session.order(cart[0] if cart else None, revenue, order_id=f"order-{key}")
        return Outcome(probability, tuple(session.events))


class _Session:
    """Builds one visit's Segment messages with realistic gaps between them."""

    def __init__(self, person: Person, start: datetime, rng: random.Random, serial: int, *, known: bool, tag="v"):
        self.person, self.at, self.rng = person, start, rng
        self.serial, self.tag, self.known = serial, tag, known
        self.events: list[PlannedEvent] = []

    def _add(self, payload: dict, gap_seconds: float = 0.0) -> None:
        self.at += timedelta(seconds=gap_seconds)
        p = self.person
        ids = {"anonymousId": p.anonymous_id}
        if self.known:  # after their identify, sites send the user id with every event (Segment's clients do)
            ids["userId"] = p.user_id
        message_id = f"{p.user_id}-{self.tag}-{self.serial + len(self.events)}"
        context = {"timezone": p.time_zone, **payload.pop("context", {})}
        self.events.append(PlannedEvent(self.at, {**ids, **payload, "messageId": message_id, "context": context}))

    def page(self, name: str, path: str) -> None:
        self._add({"type": "page", "name": name, "context": {"page": {"path": path}}})

    def identify(self) -> None:
        self.known = True
        p = self.person
        traits = {"email": p.email, "firstName": p.first_name, "lifecycle_stage": p.lifecycle_stage}
        self._add({"type": "identify", "userId": p.user_id, "traits": traits}, self.rng.uniform(10, 40))

    def _product(self, sku, name, category, price, gap: float) -> None:
        properties = {"product_id": sku, "name": name, "category": category, "price": price}
        self._add({"type": "track", "event": "Product Viewed", "properties": properties}, gap)

    def browse(self, views: int) -> None:
        for product in self.rng.sample(PRODUCTS, views):
            self._product(*product, gap=self.rng.uniform(30, 150))

    def cart(self, *, high: bool, index: int) -> tuple[str, float]:
        """High intent: a long look at electronics, then checkout (the app scores ~90). Otherwise a quick add."""
        pool = [p for p in PRODUCTS if (p[2] == "electronics") == high]
        viewed = self.rng.sample(pool, min(len(pool), self.rng.randint(3, 4) if high else self.rng.randint(1, 2)))
        for product in viewed:
            self._product(*product, gap=self.rng.uniform(100, 150) if high else self.rng.uniform(20, 60))
        sku, name, category, price = viewed[-1]
        cart_id = f"{self.person.user_id}-cart-{index}"
        properties = {"cart_id": cart_id, "product_id": sku, "name": name, "category": category, "price": price}
        self._add({"type": "track", "event": "Product Added", "properties": properties}, self.rng.uniform(20, 60))
        if high:
            checkout = {"cart_id": cart_id, "value": price}
            self._add({"type": "track", "event": "Checkout Started", "properties": checkout}, self.rng.uniform(30, 90))
        return cart_id, price

    def order(self, cart_id: str | None, revenue: float, order_id: str | None = None) -> None:
        properties = {"order_id": order_id or f"{cart_id}-order", "revenue": revenue, "currency": "USD"}
        if cart_id:
            properties["cart_id"] = cart_id
        self._add({"type": "track", "event": "Order Completed", "properties": properties}, self.rng.uniform(60, 120))

    def download(self, index: int) -> None:
        properties = {"content_id": f"guide-{index}", "title": "Buyer's guide", "category": "guide"}
        properties["content_type"] = "whitepaper"
        self._add({"type": "page", "name": "Guides", "context": {"page": {"path": "/guides"}}}, 30)
        self._add({"type": "track", "event": "Content Downloaded", "properties": properties}, self.rng.uniform(30, 90))
