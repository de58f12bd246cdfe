#!/usr/bin/env python
"""Load benchmark of the Segment-compatible tracking API: how many events a second `POST /v1/batch` stores.

By default it runs the whole thing on this machine: it migrates a bench PostgreSQL database (created if missing,
emptied of contacts and events first unless --keep-data), creates a write key with `manage.py create_write_key`,
starts `gunicorn triggerapp.wsgi` (sync workers) on 127.0.0.1, and stops it at the end, whatever happens.
With --url/--write-key it loads a server that is already running (on 127.0.0.1 only) instead.

The load comes from separate client processes (--processes, each with threads holding one HTTP connection apiece,
--concurrency in all). Every request body is generated and encoded before the clock starts: a realistic shop's
traffic (page views, product views, carts, checkouts, orders, downloads, forms and identify calls that link an
anonymous visitor to a customer) spread over --users distinct people, with unique messageIds. The client must not
be the bottleneck: the machine's cores are shared with gunicorn and PostgreSQL, so the CPU each side used is
printed too. Afterwards the events stored for the write key are counted in SQL and compared with the events sent.

    .venv/bin/python bench/ingest.py                      # /v1/batch, 100 events a request
    .venv/bin/python bench/ingest.py --mode track         # one event a request: /v1/track, /v1/page, /v1/identify
    .venv/bin/python bench/ingest.py --profile /tmp/prof  # cProfile every gunicorn worker; prints the top functions
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --write-key wk_... [--database-url ...]

The exit status is 0 only when every request was answered 200 {"success": true} and every event sent was stored.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import gzip
import http.client
import itertools
import json
import math
import multiprocessing
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/triggerapp_bench"
BENCH_BROKER_URL = "redis://127.0.0.1:6379/14"
LOOPBACK = ("127.0.0.1", "localhost")
TARGET_EVENTS_PER_SECOND = 10_000
# Tables emptied before a self-hosted run, so that every run starts from the same state (bench database only).
RESET_TABLES = [
    "sequences_event",
    "sequences_anonymousid",
    "sequences_contact",
    "sequences_rejectedevent",
    "sequences_queuedbatch",
]

try:  # msgspec is an app dependency; fall back on the standard library elsewhere
    import msgspec

    _encode = msgspec.json.encode
except ImportError:  # pragma: no cover

    def _encode(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


# --- A shop's traffic --------------------------------------------------------------------------------------------

SHOP = "https://shop.example.com"
LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
FIRST_NAMES = ["Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Arthur", "Sofia", "Lucas"]
LAST_NAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Davies", "Patel", "Garcia", "Muller", "Rossi"]
TIME_ZONES = [
    "Europe/London",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Tokyo",
]
LOCALES = ["en-GB", "en-GB", "en-US", "fr-FR", "de-DE", "es-ES"]
UA_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
UA_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
USER_AGENTS = [
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {UA_CHROME} Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {UA_SAFARI} Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {UA_SAFARI} Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {UA_CHROME} Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
REFERRERS = ["", "", "https://www.google.com/", "https://www.instagram.com/", "https://www.pinterest.co.uk/"]
CAMPAIGNS = [
    {"name": "winter-sale", "source": "newsletter", "medium": "email"},
    {"name": "brand", "source": "google", "medium": "cpc", "term": "merino scarf"},
    {"name": "retargeting", "source": "instagram", "medium": "social"},
]
CATEGORIES = {
    "Knitwear": ["Merino Jumper", "Cable Knit Cardigan", "Cashmere Scarf", "Lambswool Beanie", "Alpaca Gloves"],
    "Shirts": ["Oxford Shirt", "Linen Shirt", "Flannel Overshirt", "Denim Shirt", "Poplin Shirt"],
    "Trousers": ["Chinos", "Selvedge Jeans", "Wool Trousers", "Cord Trousers", "Drawstring Joggers"],
    "Footwear": ["Leather Boots", "Canvas Trainers", "Suede Loafers", "Wool Slippers", "Hiking Boots"],
    "Accessories": ["Leather Belt", "Canvas Tote", "Silk Tie", "Wool Socks", "Card Holder"],
}
COLOURS = ["Navy", "Oatmeal", "Forest", "Charcoal", "Rust", "Ecru"]
PRODUCTS = [
    {
        "product_id": f"prod_{index:04d}",
        "sku": f"{category[:3].upper()}-{index:04d}",
        "name": f"{colour} {name}",
        "category": category,
        "brand": "Northfield",
        "variant": colour,
        "price": round(19 + (index * 7.3) % 160, 2),
        "currency": "GBP",
        "url": f"{SHOP}/products/{colour.lower()}-{name.lower().replace(' ', '-')}",
        "image_url": f"{SHOP}/images/prod_{index:04d}.jpg",
    }
    for index, (category, name, colour) in enumerate(
        (category, name, colour) for category, names in CATEGORIES.items() for name in names for colour in COLOURS
    )
]
CONTENT = [
    ("size-guide", "Size guide", "pdf"),
    ("care-guide-wool", "How to care for wool", "pdf"),
    ("lookbook-aw", "Autumn/Winter lookbook", "pdf"),
    ("gift-guide", "Gift guide", "pdf"),
]
FORMS = [("newsletter", "Newsletter sign-up"), ("back-in-stock", "Back in stock alert"), ("contact", "Contact us")]
STAGES = ["lead", "customer", "subscriber"]


class Visitor:
    __slots__ = (
        "anonymous_id",
        "campaign",
        "cart",
        "cart_id",
        "checkout_id",
        "email",
        "first_name",
        "identified",
        "identify_at",
        "ip",
        "last_name",
        "locale",
        "seen",
        "time_zone",
        "user_agent",
        "user_id",
    )

    def __init__(self, rng: random.Random, tag: str, number: int):
        self.anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.user_id = f"cus_{tag}{number:07d}"
        self.first_name, self.last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        self.email = f"{self.first_name}.{self.last_name}.{tag}{number}@example.com".lower()
        self.time_zone, self.locale = rng.choice(TIME_ZONES), rng.choice(LOCALES)
        self.user_agent = rng.choice(USER_AGENTS)
        self.ip = f"81.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        # Two visitors in three give their email at some point (a form, a login, a checkout); the rest stay anonymous.
        self.identify_at = rng.randint(0, 12) if rng.random() < 0.65 else -1
        self.identified = False
        self.seen = 0
        self.campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.15 else None
        self.cart_id: str | None = None
        self.cart: list[dict] = []
        self.checkout_id: str | None = None


class ShopTraffic:
    """One client process's share of the shop: visitors `part`, `part + parts`, ... of `users`, interleaved as
    concurrent browsing sessions are, with a clock that runs from `span` seconds ago to now."""

    ACTIVE_SESSIONS = 100

    def __init__(self, *, seed: int, tag: str, part: int, parts: int, users: int, events: int, span: float = 7200.0):
        self.rng = random.Random(seed * 1000 + part)
        self.tag, self.part = tag, part
        self.numbers = list(range(part, users, parts)) or [part]
        self.visitors: dict[int, Visitor] = {}
        self.active = [self.rng.choice(self.numbers) for _ in range(min(self.ACTIVE_SESSIONS, len(self.numbers)))]
        self.clock = time.time() - span
        self.step = span / max(events, 1)
        self.sequence = itertools.count()

    def visitor(self, number: int) -> Visitor:
        visitor = self.visitors.get(number)
        if visitor is None:
            visitor = self.visitors[number] = Visitor(self.rng, self.tag, number)
        return visitor

    def next_event(self) -> dict:
        rng = self.rng
        slot = rng.randrange(len(self.active))
        visitor = self.visitor(self.active[slot])
        if rng.random() < 0.04:  # this session ends; someone else arrives
            self.active[slot] = rng.choice(self.numbers)
        self.clock += rng.expovariate(1.0 / self.step)
        event = self._event(visitor)
        visitor.seen += 1
        event["messageId"] = f"ajs-next-{self.tag}{self.part:02x}-{next(self.sequence):08d}"
        event["timestamp"] = iso(self.clock)
        event["anonymousId"] = visitor.anonymous_id
        if visitor.identified:
            event["userId"] = visitor.user_id
        event["integrations"] = {}
        return event

    def _context(self, visitor: Visitor, path: str, title: str, search: str = "") -> dict:
        context = {
            "library": LIBRARY,
            "userAgent": visitor.user_agent,
            "ip": visitor.ip,
            "locale": visitor.locale,
            "timezone": visitor.time_zone,
            "page": {
                "path": path,
                "referrer": self.rng.choice(REFERRERS),
                "search": search,
                "title": f"{title} | Northfield",
                "url": f"{SHOP}{path}{search}",
            },
        }
        if visitor.campaign:
            context["campaign"] = visitor.campaign
        return context

    def _event(self, visitor: Visitor) -> dict:
        rng = self.rng
        if not visitor.identified and visitor.seen >= visitor.identify_at >= 0:
            return self._identify(visitor)
        roll = rng.random() * 100
        if roll < 42:
            return self._page(visitor)
        if roll < 67:
            product = rng.choice(PRODUCTS)
            return self._track(
                visitor, "Product Viewed", _product(product), product["url"][len(SHOP) :], product["name"]
            )
        if roll < 75:
            product = rng.choice(PRODUCTS)
            if visitor.cart_id is None:
                visitor.cart_id = f"cart_{self.tag}{rng.getrandbits(40):010x}"
            quantity = 1 if rng.random() < 0.85 else 2
            visitor.cart.append({**_product(product), "quantity": quantity})
            properties = {"cart_id": visitor.cart_id, **_product(product), "quantity": quantity}
            return self._track(visitor, "Product Added", properties, product["url"][len(SHOP) :], product["name"])
        if 75 <= roll < 81 and visitor.cart:
            return self._track(visitor, "Cart Viewed", self._cart(visitor), "/cart", "Your basket")
        if 81 <= roll < 85 and visitor.cart:
            visitor.checkout_id = visitor.checkout_id or f"chk_{self.tag}{rng.getrandbits(40):010x}"
            properties = {"checkout_id": visitor.checkout_id, **self._cart(visitor)}
            return self._track(visitor, "Checkout Started", properties, "/checkout", "Checkout")
        if 85 <= roll < 87 and visitor.checkout_id:
            return self._order(visitor)
        if 87 <= roll < 89:
            content_id, title, file_type = rng.choice(CONTENT)
            properties = {
                "content_id": content_id,
                "title": title,
                "file_type": file_type,
                "url": f"{SHOP}/downloads/{content_id}.{file_type}",
            }
            return self._track(visitor, "Content Downloaded", properties, "/guides", "Guides")
        if 89 <= roll < 91:
            form_id, form_name = rng.choice(FORMS)
            if not visitor.identified and visitor.identify_at < 0 and rng.random() < 0.5:
                visitor.identify_at = visitor.seen + 1  # the sign-up is followed by an identify
            properties = {"form_id": form_id, "form_name": form_name, "fields": ["email"]}
            return self._track(visitor, "Form Submitted", properties, "/", "Home")
        if 91 <= roll < 92 and visitor.identified:
            return self._identify(visitor)  # a profile update: a new stage, a newsletter preference
        return self._page(visitor)

    def _page(self, visitor: Visitor) -> dict:
        rng = self.rng
        kind = rng.random()
        search = ""
        if kind < 0.25:
            name, path, title = "Home", "/", "Northfield: knitwear and clothes made to last"
        elif kind < 0.65:
            category = rng.choice(list(CATEGORIES))
            name, path, title = "Category", f"/collections/{category.lower()}", category
            if rng.random() < 0.3:
                search = f"?sort=price&page={rng.randint(1, 4)}"
        elif kind < 0.8:
            name, path, title = "Search", "/search", "Search results"
            search = f"?q={rng.choice(['scarf', 'jumper', 'boots', 'gift', 'wool+socks'])}"
        elif kind < 0.9:
            name, path, title = (
                "Journal",
                f"/journal/{rng.choice(['caring-for-wool', 'our-mills', 'sizing'])}",
                "Journal",
            )
        else:
            name, path, title = "About", "/pages/about", "About us"
        context = self._context(visitor, path, title, search)
        page = context["page"]  # analytics.js repeats the page's url, path, title... as its properties
        return {"type": "page", "name": name, "properties": dict(page), "context": context}

    def _track(self, visitor: Visitor, name: str, properties: dict, path: str, title: str) -> dict:
        return {
            "type": "track",
            "event": name,
            "properties": properties,
            "context": self._context(visitor, path, title),
        }

    def _cart(self, visitor: Visitor) -> dict:
        items = visitor.cart[-5:]
        value = round(sum(item["price"] * item["quantity"] for item in items), 2)
        return {
            "cart_id": visitor.cart_id,
            "value": value,
            "currency": "GBP",
            "products": [
                {key: item[key] for key in ("product_id", "sku", "name", "category", "price", "quantity")}
                for item in items
            ],
        }

    def _order(self, visitor: Visitor) -> dict:
        cart = self._cart(visitor)
        shipping = 0.0 if cart["value"] > 75 else 4.95
        properties = {
            "order_id": f"NF-{self.tag}{self.rng.getrandbits(32):08x}",
            "checkout_id": visitor.checkout_id,
            "cart_id": visitor.cart_id,
            "affiliation": "Northfield web shop",
            "subtotal": cart["value"],
            "shipping": shipping,
            "tax": round(cart["value"] / 6, 2),
            "total": round(cart["value"] + shipping, 2),
            "revenue": cart["value"],
            "currency": "GBP",
            "coupon": "WINTER10" if visitor.campaign else None,
            "products": cart["products"],
        }
        visitor.cart, visitor.cart_id, visitor.checkout_id = [], None, None
        return self._track(visitor, "Order Completed", properties, "/checkout/thank-you", "Thank you")

    def _identify(self, visitor: Visitor) -> dict:
        visitor.identified = True
        traits = {
            "email": visitor.email,
            "firstName": visitor.first_name,
            "lastName": visitor.last_name,
            "timezone": visitor.time_zone,
            "newsletter": self.rng.random() < 0.6,
        }
        if self.rng.random() < 0.3:
            traits["lifecycle_stage"] = self.rng.choice(STAGES)
        return {"type": "identify", "traits": traits, "context": self._context(visitor, "/account", "Your account")}


def _product(product: dict) -> dict:
    return dict(product)


def iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


# --- Request bodies ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    base_url: str
    write_key: str
    mode: str
    requests: int
    warmup: int
    batch_size: int
    users: int
    processes: int
    concurrency: int
    duration: float
    timeout: float
    gzip: bool
    seed: int
    tag: str
    time_limit: float


def share(total: int, part: int, parts: int) -> int:
    """How many of `total` items, dealt round-robin, part `part` of `parts` gets."""
    return total // parts + (1 if part < total % parts else 0)


def build_requests(config: LoadConfig, part: int) -> list[tuple[str, bytes, int]]:
    """(path, body, events) of every request of this client process, warm-up ones first."""
    count = share(config.warmup, part, config.processes) + share(config.requests, part, config.processes)
    per_request = config.batch_size if config.mode == "batch" else 1
    traffic = ShopTraffic(
        seed=config.seed,
        tag=config.tag,
        part=part,
        parts=config.processes,
        users=config.users,
        events=count * per_request,
    )
    rng = random.Random(config.seed * 7919 + part)
    built = []
    for _ in range(count):
        events = [traffic.next_event() for _ in range(per_request)]
        sent_at = iso(traffic.clock + rng.uniform(0.05, 2.0))  # the client flushes a moment after the last event
        if config.mode == "batch":
            path, payload = "/v1/batch", {"batch": events, "sentAt": sent_at}
        else:
            path, payload = f"/v1/{events[0]['type']}", {**events[0], "sentAt": sent_at}
        body = _encode(payload)
        if config.gzip:
            body = gzip.compress(body, compresslevel=6)
        built.append((path, body, len(events)))
    return built


# --- Client processes --------------------------------------------------------------------------------------------


@dataclass
class ConnectionStats:
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    events: int = 0
    events_ok: int = 0  # in requests answered 200 {"success": true}
    bytes_sent: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None


class Client:
    """One HTTP/1.1 connection, kept alive when the server allows it (gunicorn's sync workers close it)."""

    def __init__(self, config: LoadConfig):
        url = urlsplit(config.base_url)
        self.host, self.port = url.hostname, url.port or 80
        self.timeout = config.timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.headers = {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{config.write_key}:".encode()).decode(),
            "User-Agent": "triggerapp-bench/1.0",
        }
        if config.gzip:
            self.headers["Content-Encoding"] = "gzip"

    def post(self, path: str, body: bytes, stats: ConnectionStats) -> bool:
        started = time.perf_counter()
        try:
            self.connection.request("POST", path, body, self.headers)
            response = self.connection.getresponse()
            answer = response.read()
            status = response.status
            if response.will_close:
                self.connection.close()  # http.client reconnects on the next request
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            status, answer = 0, f"{type(error).__name__}: {error}".encode()
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        stats.requests += 1
        key = str(status)
        stats.statuses[key] = stats.statuses.get(key, 0) + 1
        ok = status == 200 and b'"success": true' in answer and b'"rejected"' not in answer
        if not ok:
            stats.errors += 1
            if stats.first_error is None:
                stats.first_error = f"{path} -> {status}: {answer[:2000].decode('utf-8', 'replace')}"
        return ok

    def close(self) -> None:
        self.connection.close()


def _run_connections(config: LoadConfig, connections: int, requests, stop_at: float | None) -> list[ConnectionStats]:
    """Send `requests` over `connections` threads, each taking the next unsent request (until `stop_at`)."""
    counter = itertools.count()  # next() on it is atomic under the GIL
    stats = [ConnectionStats() for _ in range(connections)]

    def loop(mine: ConnectionStats) -> None:
        client = Client(config)
        try:
            while True:
                index = next(counter)
                if index >= len(requests) or (stop_at is not None and time.monotonic() >= stop_at):
                    return
                path, body, events = requests[index]
                if client.post(path, body, mine):
                    mine.events_ok += events
                mine.events += events
                mine.bytes_sent += len(body)
        finally:
            client.close()

    threads = [threading.Thread(target=loop, args=(mine,), daemon=True) for mine in stats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats


def client_process(config: LoadConfig, part: int, ready, start, results) -> None:
    """Generate this process's bodies, warm up, say ready, wait for the start signal, then load and report."""
    try:
        generated_at = time.monotonic()
        requests = build_requests(config, part)
        warmup = share(config.warmup, part, config.processes)
        connections = share(config.concurrency, part, config.processes)
        generation = time.monotonic() - generated_at
        warm = _run_connections(config, max(connections, 1), requests[:warmup], None) if warmup else []
        ready.put((part, generation))
        if not start.wait(timeout=config.time_limit):
            raise TimeoutError("no start signal")
        start_time = time.monotonic()
        stop_at = start_time + config.duration if config.duration > 0 else None
        stats = _run_connections(config, connections, requests[warmup:], stop_at)
        end_time = time.monotonic()
        results.put(
            {
                "part": part,
                "start": start_time,
                "end": end_time,
                "planned": len(requests) - warmup,
                "warmup_requests": sum(s.requests for s in warm),
                "warmup_events": sum(s.events for s in warm),
                "warmup_events_ok": sum(s.events_ok for s in warm),
                "warmup_errors": sum(s.errors for s in warm),
                "warmup_first_error": next((s.first_error for s in warm if s.first_error), None),
                "requests": sum(s.requests for s in stats),
                "events": sum(s.events for s in stats),
                "events_ok": sum(s.events_ok for s in stats),
                "bytes": sum(s.bytes_sent for s in stats),
                "errors": sum(s.errors for s in stats),
                "statuses": _merge_counts(s.statuses for s in [*warm, *stats]),
                "first_error": next((s.first_error for s in stats if s.first_error), None),
                "latencies": [latency for s in stats for latency in s.latencies_ms],
            }
        )
    except BaseException as error:
        results.put({"part": part, "crash": f"{type(error).__name__}: {error}"})
        ready.put((part, None))
        raise


def _merge_counts(counts) -> dict[str, int]:
    merged: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            merged[key] = merged.get(key, 0) + value
    return merged


# --- The server under test ---------------------------------------------------------------------------------------


def _database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def _connect(database_url: str, **overrides):
    import psycopg  # the app's driver; imported late so that --help works anywhere

    return psycopg.connect(database_url, connect_timeout=10, autocommit=True, **overrides)


class BenchServer:
    """gunicorn on a bench database, started in its own process group and always stopped."""

    def __init__(
        self,
        *,
        app_dir: Path,
        database_url: str,
        port: int,
        workers: int,
        profile_dir: Path | None,
        keep_data: bool,
        threads: int = 1,
        ingest_workers: int = 0,
    ):
        self.app_dir, self.database_url, self.workers, self.keep_data = app_dir, database_url, workers, keep_data
        self.threads = threads
        self.ingest_workers: list[subprocess.Popen] = []
        self.ingest_worker_count = ingest_workers
        self.lag_path = Path(tempfile.mkstemp(prefix="triggerapp-bench-lag-", suffix=".txt")[1])
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.profile_dir = profile_dir
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="triggerapp-bench-gunicorn-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48)[:50],
            "CELERY_BROKER_URL": BENCH_BROKER_URL,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "triggerapp.settings",
            "DJANGO_DEBUG": "False",
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Requests queue their events and `manage.py ingest_worker` stores them (sequences/tracking/queue.py).
            "TRACKING_QUEUE": "1" if ingest_workers else "0",
        }
        if profile_dir:
            self.env["BENCH_PROFILE_DIR"] = str(profile_dir)
            # gunicorn imports bench.ingest:profiled_application; the app itself still comes from app_dir (cwd).
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))
        self.write_key = ""

    def prepare(self) -> None:
        name = _database_name(self.database_url)
        with _connect(self.database_url, dbname="postgres") as connection:
            if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                print(f"creating database {name}")
                from psycopg import sql

                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._manage("migrate", "--noinput", quiet=True)
        if not self.keep_data:
            if "bench" not in name:
                raise SystemExit(f"refusing to empty {name!r}: not a bench database (use --keep-data)")
            with _connect(self.database_url) as connection:
                connection.execute(f"TRUNCATE {', '.join(RESET_TABLES)} RESTART IDENTITY CASCADE")
        self.write_key = self._manage("create_write_key", "Bench").strip().splitlines()[-1]

    def analyze(self) -> None:
        """Refresh the planner's statistics after the warm-up, as autovacuum would on a production server.

        Without them (an emptied table, and this machine's PostgreSQL may run with autovacuum off) the planner
        has no idea that one source holds every event, and the ingest's duplicate check (`source_id = ... AND
        message_id IN (...)`) scans all of the source's events instead of probing the unique index.
        """
        with _connect(self.database_url) as connection:
            if connection.execute("SHOW autovacuum").fetchone()[0] != "on":
                print("note: autovacuum is off on this PostgreSQL server; the benchmark analyzes after the warm-up")
            connection.execute(f"VACUUM ANALYZE {', '.join(RESET_TABLES)}")

    def _manage(self, *arguments: str, quiet: bool = False) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=self.app_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
        return "" if quiet else done.stdout

    def start(self) -> None:
        app = "bench.ingest:profiled_application" if self.profile_dir else "triggerapp.wsgi"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "-w",
            str(self.workers),
            *(["-k", "gthread", "--threads", str(self.threads)] if self.threads > 1 else ["-k", "sync"]),
            "-b",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            "--log-level",
            "warning",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.app_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, which stop() kills whole
                preexec_fn=_die_with_parent,  # no client threads exist yet: preexec_fn is safe here
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if _answers_options(self.url):
                return
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def start_ingest_workers(self) -> None:
        for _ in range(self.ingest_worker_count):
            with self.log_path.open("ab") as log:
                self.ingest_workers.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", "ingest_worker", "--record-lag", str(self.lag_path)],
                        cwd=self.app_dir,
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,
                    )
                )

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid) if self.process else []

    def ingest_worker_pids(self) -> list[int]:
        return [process.pid for process in self.ingest_workers]

    def receipt_to_stored_ms(self) -> list[float]:
        """What the ingest workers recorded: for every batch, milliseconds from its receipt to its commit."""
        try:
            return sorted(float(line) for line in self.lag_path.read_text().split())
        except (OSError, ValueError):
            return []

    def forget_lags(self) -> None:
        self.lag_path.write_text("")  # the workers append (O_APPEND): they carry on at the new end

    def stop(self) -> None:
        for worker in self.ingest_workers:
            if worker.poll() is None:
                worker.terminate()  # finishes its pass, then exits
        for worker in self.ingest_workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        self.lag_path.unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the master and every worker
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Workers are in the group too; make sure none outlives the master.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_summary(self) -> str:
        """What the workers logged: deadlock retries in ingest_events, errors. The log is kept only if not clean."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "no gunicorn log"
        retries = text.count("ingest retry")
        deadlocks = text.count("deadlock detected")
        errors = text.count("Traceback") + text.count("Internal Server Error")
        first = next((line for line in text.splitlines() if line.startswith(("django.", "psycopg."))), None)
        if not retries and not errors:
            self.log_path.unlink(missing_ok=True)
            return "gunicorn log: no ingest retries, no errors"
        return (
            f"gunicorn log: {retries} ingest retries ({deadlocks} deadlocks), {errors} errors/tracebacks"
            f" ({self.log_path})" + (f"\nfirst logged error: {first}" if first else "")
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _die_with_parent() -> None:
    """In the gunicorn master, before exec: be sent SIGTERM if this benchmark dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers_options(base_url: str) -> bool:
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
    try:
        connection.request("OPTIONS", "/v1/batch")
        return connection.getresponse().status == 204
    except OSError:
        return False
    finally:
        connection.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _cpu_of(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class BackendSampler(threading.Thread):
    """What this database's connections are doing, sampled from pg_stat_activity every 100 ms while the load runs:
    executing, waiting for a lock (another batch's transaction holds it), idle in a transaction (the worker is
    computing between queries) or idle (between requests). Shows whether the workers serialize on row locks."""

    def __init__(self, database_url: str):
        super().__init__(daemon=True)
        self.database_url = database_url
        self.counts: dict[str, int] = {}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(Exception), _connect(self.database_url) as connection:
            while not self.done.wait(0.1):
                rows = connection.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database()"
                    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchall()
                self.samples += 1
                for state, wait_type, wait_event in rows:
                    if state == "active" and wait_type == "Lock":
                        key = f"waiting for a lock ({wait_event})"
                    elif state == "active" and wait_type in ("IO", "LWLock", "IPC"):
                        key = f"active, waiting for {wait_type} ({wait_event})"
                    elif state == "active":
                        key = "active (executing)"
                    else:
                        key = state or "unknown"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)

    def describe(self) -> list[str]:
        total = sum(self.counts.values())
        if not total:
            return []
        return [
            f"{100 * count / total:5.1f}%  {key}"
            for key, count in sorted(self.counts.items(), key=lambda item: -item[1])
            if 100 * count / total >= 0.5
        ]


class CpuMeter:
    """Who used the cores during the timed phase: the client processes, the gunicorn workers, PostgreSQL (this
    database's backends and the server's background processes) and everything else on the machine, which
    is noise (another test suite, a browser...) that makes the figures pessimistic."""

    def __init__(
        self,
        *,
        client_pids: list[int],
        worker_pids: list[int],
        database_url: str | None,
        ingest_worker_pids: list[int] = (),
    ):
        self.groups = {
            "client": client_pids,
            "gunicorn workers": worker_pids,
            "ingest workers": list(ingest_worker_pids),
        }
        self.database_url = database_url

    def _postgres_pids(self) -> list[int]:
        if self.database_url:
            with contextlib.suppress(Exception), _connect(self.database_url) as connection:
                rows = connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL"
                ).fetchall()
                return [row[0] for row in rows]
        return []

    def start(self) -> None:
        self.groups["postgres"] = self._postgres_pids()
        self.before = {name: _cpu_of(pids) for name, pids in self.groups.items()}
        self.jiffies = _machine_jiffies()

    def stop(self) -> None:
        busy, total = _machine_jiffies()
        self.groups["postgres"] = sorted(set(self.groups["postgres"]) | set(self._postgres_pids()))
        after = {name: _cpu_of(pids) for name, pids in self.groups.items()}
        self.used = {
            name: sum(value - self.before[name].get(pid, 0.0) for pid, value in after[name].items())
            for name in self.groups
        }
        ticks = os.sysconf("SC_CLK_TCK")
        self.machine = (busy - self.jiffies[0]) / ticks
        self.capacity = (total - self.jiffies[1]) / ticks
        self.used["other"] = max(0.0, self.machine - sum(self.used.values()))

    def describe(self) -> str:
        parts = ", ".join(
            f"{name} {seconds:.1f}"
            for name, seconds in self.used.items()
            if seconds or name not in ("gunicorn workers", "ingest workers")
        )
        return f"{self.machine:.1f} of {self.capacity:.1f} core-s busy ({parts})"


# --- Profiling entry point (gunicorn app for --profile) ---------------------------------------------------------

_profiled = None


class _ProfiledApplication:
    """triggerapp's WSGI app under cProfile; each worker dumps its stats every 50 requests and at exit."""

    def __init__(self):
        import cProfile

        from triggerapp.wsgi import application

        self.application = application
        self.profile = cProfile.Profile()
        self.requests = 0
        self.path = Path(os.environ["BENCH_PROFILE_DIR"]) / f"worker-{os.getpid()}.prof"
        atexit.register(self.dump)

    def __call__(self, environ, start_response):
        self.profile.enable()
        try:
            response = self.application(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                if hasattr(response, "close"):
                    response.close()
        finally:
            self.profile.disable()
        self.requests += 1
        if self.requests % 50 == 0:
            self.dump()
        return [body]

    def dump(self) -> None:
        self.profile.dump_stats(self.path)


def profiled_application(environ, start_response):
    global _profiled
    if _profiled is None:
        _profiled = _ProfiledApplication()
    return _profiled(environ, start_response)


def print_profile(profile_dir: Path, requests: int) -> None:
    import pstats

    files = sorted(str(path) for path in profile_dir.glob("worker-*.prof"))
    if not files:
        print(f"no profile in {profile_dir}")
        return
    stats = pstats.Stats(*files)
    stats.strip_dirs()
    print(f"\n=== cProfile of the gunicorn workers ({len(files)} files in {profile_dir}, ~{requests} requests) ===")
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


# --- Counting what was stored ------------------------------------------------------------------------------------


def stored_events(database_url: str, write_key: str) -> tuple[int, int] | None:
    """(events, rejected events) stored for this write key, or None when the database cannot say."""
    try:
        with _connect(database_url) as connection:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM sequences_event e WHERE e.source_id = w.id),"
                " (SELECT count(*) FROM sequences_rejectedevent r WHERE r.source_id = w.id)"
                " FROM sequences_writekey w WHERE w.key = %s",
                [write_key],
            ).fetchone()
    except Exception as error:
        print(f"cannot count stored events in {_database_name(database_url)}: {type(error).__name__}: {error}")
        return None
    if row is None:
        print(f"write key not found in {_database_name(database_url)}: cannot count stored events")
        return None
    return row[0], row[1]


# --- Main --------------------------------------------------------------------------------------------------------


class HardTimeout(Exception):
    pass


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--mode",
        choices=["batch", "track"],
        default="batch",
        help="batch: POST /v1/batch (default); "
        "track: one event per request, to /v1/track, /v1/page or /v1/identify by its type",
    )
    parser.add_argument(
        "--batches",
        type=int,
        help="requests to send (default 2500 in batch mode, "
        "i.e. ~25 s at the 10,000 events/s target; 6000 in track mode)",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="events per batch (default 100)")
    parser.add_argument("--warmup", type=int, help="untimed requests first (default 20 in batch mode, 100 in track)")
    parser.add_argument("--users", type=int, default=5000, help="distinct people (default 5000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--processes", type=int, default=2, help="client processes sharing them (default 2)")
    parser.add_argument(
        "--duration",
        type=float,
        default=30.0,
        help="stop sending new requests after this many seconds (default 30; 0: send them all)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="hard limit on the whole run, server start included (default 300 s)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request socket timeout (default 60 s)")
    parser.add_argument("--gzip", action="store_true", help="send gzip bodies (Content-Encoding: gzip)")
    parser.add_argument("--seed", type=int, help="traffic seed (default random; ids are unique per run either way)")
    parser.add_argument("--url", help="target this running server (127.0.0.1 only) instead of starting one")
    parser.add_argument("--write-key", help="write key for --url")
    parser.add_argument(
        "--database-url",
        default=os.getenv("DATABASE_URL", DEFAULT_DATABASE_URL),
        help="database to migrate, or to count stored events in with --url\n"
        f"(default $DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--no-verify", action="store_true", help="do not count stored events")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=2,
        help="`manage.py ingest_worker` processes, with TRACKING_QUEUE on (default 2); 0: TRACKING_QUEUE off,\n"
        "each request stores and scores its own events",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker (default 1: sync workers; more: gthread workers, which also keep "
        "connections alive, and whose threads compute while another waits on PostgreSQL)",
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=REPO,
        help="checkout to serve (manage.py, gunicorn's cwd), e.g. an export of a commit\n(default: this repository)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="do not empty the bench database's contacts and events first"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the gunicorn workers under cProfile, dump stats into DIR and print the top",
    )
    args = parser.parse_args(argv)
    if args.url:
        url = urlsplit(args.url)
        if url.scheme != "http" or url.hostname not in LOOPBACK:
            parser.error("--url must be http://127.0.0.1:PORT (this benchmark sends traffic to this machine only)")
        if not args.write_key:
            parser.error("--url needs --write-key")
        if args.profile:
            parser.error("--profile needs the benchmark's own server (no --url)")
    if args.batches is None:
        args.batches = 2500 if args.mode == "batch" else 6000
    if args.warmup is None:
        args.warmup = 20 if args.mode == "batch" else 100
    if args.mode == "track":
        args.batch_size = 1
    if args.ingest_workers < 0:
        parser.error("--ingest-workers must be 0 or more")
    for name in ("batches", "batch_size", "users", "concurrency", "processes", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.processes = min(args.processes, args.concurrency)
    return args


def run_load(
    config: LoadConfig,
    deadline: float,
    children: list,
    worker_pids: list[int],
    database_url: str | None,
    before_start=None,
    ingest_worker_pids: list[int] = (),
) -> dict:
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    for part in range(config.processes):
        process = context.Process(target=client_process, args=(config, part, ready, start, results), daemon=True)
        process.start()
        children.append(process)
    generation = []
    for _ in range(config.processes):
        part, seconds = ready.get(timeout=max(1.0, deadline - time.monotonic()))
        if seconds is None:
            raise SystemExit(f"client process {part} failed: {results.get(timeout=5)}")
        generation.append(seconds)
    if before_start:
        before_start()
    print(f"bodies generated and warm-up done (generation {max(generation):.1f} s per process); starting the clock")
    meter = CpuMeter(
        client_pids=[process.pid for process in children],
        worker_pids=worker_pids,
        database_url=database_url,
        ingest_worker_pids=ingest_worker_pids,
    )
    sampler = BackendSampler(database_url) if database_url else None
    meter.start()
    if sampler:
        sampler.start()
    start.set()
    started = time.monotonic()
    parts = [results.get(timeout=max(1.0, deadline - time.monotonic())) for _ in range(config.processes)]
    ended = answered = max((part.get("end", 0.0) for part in parts), default=time.monotonic())
    if ingest_worker_pids and database_url:
        # Queued events count once stored and scored: the clock runs until the ingest workers empty the queue.
        ended = wait_for_empty_queue(database_url, deadline)
    meter.stop()
    if sampler:
        sampler.stop()
    for process in children:
        process.join(timeout=10)
    crashed = [part["crash"] for part in parts if "crash" in part]
    if crashed:
        raise SystemExit(f"client process failed: {crashed[0]}")
    return {
        "parts": parts,
        "wall": ended - started,
        "cpu": meter,
        "backends": sampler,
        "queue_drain": ended - answered if ingest_worker_pids else None,
    }


def wait_for_empty_queue(database_url: str, deadline: float) -> float:
    """When the tracking queue (sequences_queuedbatch) holds nothing more to store: time.monotonic() then."""
    with _connect(database_url) as connection:
        while time.monotonic() < deadline:
            if not connection.execute(
                "SELECT EXISTS (SELECT 1 FROM sequences_queuedbatch WHERE error = '')"
            ).fetchone()[0]:
                return time.monotonic()
            time.sleep(0.005)
    raise HardTimeout("the tracking queue was not emptied before the time limit")


def main(argv=None) -> int:
    args = parse_args(argv)
    deadline = time.monotonic() + args.time_limit

    def on_alarm(signum, frame):
        raise HardTimeout(f"hard time limit of {args.time_limit:.0f} s reached")

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.setitimer(signal.ITIMER_REAL, args.time_limit)
    server: BenchServer | None = None
    children: list = []
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    tag = f"{seed:08x}"[-6:]
    try:
        if args.url:
            base_url, write_key = args.url.rstrip("/"), args.write_key
            where = f"server at {base_url}"
        else:
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for old in args.profile.glob("worker-*.prof"):
                    old.unlink()
            server = BenchServer(
                app_dir=args.app_dir.resolve(),
                database_url=args.database_url,
                port=args.port,
                workers=args.workers,
                profile_dir=args.profile.resolve() if args.profile else None,
                keep_data=args.keep_data,
                threads=args.threads,
                ingest_workers=args.ingest_workers,
            )
            print(f"preparing database {_database_name(args.database_url)} (migrate, write key)...")
            server.prepare()
            server.start()
            server.start_ingest_workers()
            base_url, write_key = server.url, server.write_key
            kind = f"gthread workers of {args.threads} threads" if args.threads > 1 else "sync workers"
            where = f"own gunicorn, {args.workers} {kind}, at {base_url}, serving {args.app_dir.resolve()}"
            where += (
                f"; TRACKING_QUEUE on, {args.ingest_workers} ingest workers store and score"
                if args.ingest_workers
                else "; TRACKING_QUEUE off, each request stores and scores its events"
            )
        before = None if args.no_verify else stored_events(args.database_url, write_key)
        config = LoadConfig(
            base_url=base_url,
            write_key=write_key,
            mode=args.mode,
            requests=args.batches,
            warmup=args.warmup,
            batch_size=args.batch_size,
            users=args.users,
            processes=args.processes,
            concurrency=args.concurrency,
            duration=args.duration,
            timeout=args.timeout,
            gzip=args.gzip,
            seed=seed,
            tag=tag,
            time_limit=args.time_limit,
        )
        worker_pids = server.worker_pids() if server else []
        ingest_pids = server.ingest_worker_pids() if server else []

        def before_start() -> None:
            if ingest_pids:
                wait_for_empty_queue(args.database_url, deadline)  # the warm-up's events
            server.analyze()
            server.forget_lags()

        outcome = run_load(
            config,
            deadline,
            children,
            worker_pids,
            None if args.no_verify else args.database_url,
            before_start=before_start if server else None,
            ingest_worker_pids=ingest_pids,
        )
        outcome["receipt_to_stored"] = server.receipt_to_stored_ms() if server and ingest_pids else None
        after = None if args.no_verify else stored_events(args.database_url, write_key)
        return report(config, where, outcome, before, after)
    except HardTimeout as error:
        print(f"ABORTED: {error}")
        return 3
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for process in children:
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        if server is not None:
            server.stop()
            print(server.log_summary())
            if args.profile:
                print_profile(args.profile, args.batches + args.warmup)


def report(config: LoadConfig, where: str, outcome: dict, before, after) -> int:
    parts = outcome["parts"]
    wall = outcome["wall"]
    requests = sum(p["requests"] for p in parts)
    events = sum(p["events"] for p in parts)
    errors = sum(p["errors"] for p in parts) + sum(p["warmup_errors"] for p in parts)
    planned = sum(p["planned"] for p in parts)
    latencies = sorted(latency for p in parts for latency in p["latencies"])
    warmup_events = sum(p["warmup_events"] for p in parts)
    statuses = _merge_counts(p["statuses"] for p in parts)
    body_mb = sum(p["bytes"] for p in parts) / 1e6
    endpoint = "POST /v1/batch" if config.mode == "batch" else "POST /v1/<type>, one event each"
    print()
    print(
        f"mode              {config.mode} ({endpoint}, {config.batch_size} events/request"
        f"{', gzip' if config.gzip else ''})"
    )
    print(f"server            {where}")
    print(
        f"client            {config.processes} processes, {config.concurrency} connections, {config.users} users,"
        f" seed {config.seed}"
    )
    print(f"warm-up           {sum(p['warmup_requests'] for p in parts)} requests, {warmup_events} events (untimed)")
    if requests < planned:
        print(
            f"note              stopped after --duration {config.duration:.0f} s: {requests} of {planned} requests sent"
        )
    print(f"events            {events}")
    print(f"requests          {requests} ({body_mb / max(requests, 1) * 1000:.1f} KB/request)")
    print(f"wall time         {wall:.2f} s")
    if outcome.get("queue_drain") is not None:
        print(f"queue             emptied {outcome['queue_drain']:.2f} s after the last answer (inside the wall time)")
    print(f"events/s          {events / wall:,.0f}")
    print(f"requests/s        {requests / wall:,.1f}")
    print(
        f"latency ms        p50 {percentile(latencies, 0.50):.1f}   p95 {percentile(latencies, 0.95):.1f}"
        f"   p99 {percentile(latencies, 0.99):.1f}   max {latencies[-1] if latencies else math.nan:.1f}"
    )
    stored_lags = outcome.get("receipt_to_stored")
    if stored_lags:
        print(
            f"receipt→stored ms p50 {percentile(stored_lags, 0.50):.1f}   p95 {percentile(stored_lags, 0.95):.1f}"
            f"   p99 {percentile(stored_lags, 0.99):.1f}   max {stored_lags[-1]:.1f}"
            f"   (ingest workers' record, {len(stored_lags)} batches: received to scored and committed)"
        )
    print(f"statuses          {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}")
    print(f"non-200/failed    {errors}")
    first_error = next(
        (p["warmup_first_error"] or p["first_error"] for p in parts if p["warmup_first_error"] or p["first_error"]),
        None,
    )
    if first_error:
        print(f"first error       {first_error}")
    cpu = outcome["cpu"]
    print(f"cpu               {cpu.describe()}")
    if requests:
        per_request = [
            f"{name} {1000 * cpu.used[name] / requests:.1f}"
            for name in ("gunicorn workers", "ingest workers", "postgres")
            if cpu.used[name] or name != "ingest workers"
        ]
        budget = 1000 * (os.cpu_count() or 1) / (TARGET_EVENTS_PER_SECOND / max(config.batch_size, 1))
        print(
            f"cpu per request   {', '.join(per_request)} ms"
            + (
                f" (all cores at {TARGET_EVENTS_PER_SECOND:,} events/s allow {budget:.0f} ms)"
                if config.mode == "batch"
                else ""
            )
        )
    if cpu.used["other"] > 0.1 * cpu.capacity:
        print("WARNING           other processes used the machine's cores during the run: figures are pessimistic")
    if outcome["backends"] and outcome["backends"].describe():
        print(f"db connections    sampled {outcome['backends'].samples} times from pg_stat_activity:")
        for line in outcome["backends"].describe():
            print(f"                  {line}")
    verified = True
    if before is not None and after is not None:
        stored, rejected = after[0] - before[0], after[1] - before[1]
        sent = events + warmup_events
        accepted = sum(p["events_ok"] + p["warmup_events_ok"] for p in parts)
        verified = stored == sent and rejected == 0
        print(
            f"stored events     {stored} (sent {sent} incl. warm-up, {accepted} of them answered 200;"
            f" rejected {rejected}) {'OK' if verified else 'MISMATCH'}"
        )
    if config.mode == "batch":
        rate = events / wall
        verdict = "reached" if rate >= TARGET_EVENTS_PER_SECOND else "NOT reached"
        print(f"target            {TARGET_EVENTS_PER_SECOND:,} events/s {verdict}")
    return 0 if errors == 0 and verified else 1


if __name__ == "__main__":
    sys.exit(main())
