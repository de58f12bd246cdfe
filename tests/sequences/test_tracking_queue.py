"""The tracking queue (TRACKING_QUEUE on): requests validate and queue, ingest workers store and score.

The whole tracking API suite runs again here with the queue on and a worker's passes right after every request,
so that the queued path keeps every promise the inline one makes (merges, duplicates, rejections, limits...).
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import ProgrammingError, connection

from sequences.models import Contact, Event, QueuedBatch
from sequences.tracking import queue
from tests.conftest import Tracker, wait_until
from tests.sequences.test_tracking_api import *  # noqa: F403  (re-run with the `tracker` below)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def worker_after_every_request(request, settings, monkeypatch):
    """For the re-run API tests: the queue on, and an ingest worker's passes right after each request queues."""
    if request.node.function.__module__ == __name__:
        return  # this module's own tests run the passes themselves

    def enqueue_then_drain(*args, **kwargs):
        queue.enqueue(*args, **kwargs)
        queue.drain(settings.TRACKING_QUEUE_PASS_EVENTS)

    settings.TRACKING_QUEUE = True
    monkeypatch.setattr("sequences.tracking.views.enqueue", enqueue_then_drain)


@pytest.fixture
def queued(client, write_key, account, settings):
    """A tracker whose posts stay queued until the test runs a pass."""
    settings.TRACKING_QUEUE = True
    return Tracker(client, write_key.key)


def _cart_session(user: str, n: int) -> list[dict]:
    return [
        {"type": "identify", "userId": user, "anonymousId": f"a-{user}", "traits": {"email": f"{user}@example.com"}},
        *(
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": f"a-{user}",
                "userId": user,
                "messageId": f"{user}-view-{i}",
                "properties": {"category": "shoes", "price": 80},
            }
            for i in range(n)
        ),
        {"type": "track", "event": "Product Added", "anonymousId": f"a-{user}", "userId": user},
    ]


def test_a_request_only_queues_and_a_pass_stores_and_scores(queued):
    answer = queued.post("batch", {"batch": _cart_session("ann", 3)})
    assert answer.status_code == 200
    assert answer.json() == {"success": True}
    # accepted and kept, not stored yet
    assert Event.objects.count() == 0
    assert sum(QueuedBatch.objects.values_list("event_count", flat=True)) == 5

    assert queue.drain(1000) == 1
    ann = Contact.objects.get(user_id="ann")
    assert ann.events.count() == 5
    assert ann.email == "ann@example.com"
    assert ann.intent_score > 0
    assert ann.intent_tier
    assert not QueuedBatch.objects.exists()


def test_a_single_call_is_stored_by_its_request_even_with_the_queue_on(queued):
    answer = queued.post("track", {"event": "Product Viewed", "anonymousId": "a-solo", "properties": {"price": 5}})
    assert answer.status_code == 200
    assert not QueuedBatch.objects.exists()
    solo = Contact.objects.get(anonymous_ids__value="a-solo")
    assert solo.events.count() == 1
    assert solo.intent_scored_at is not None


def test_one_pass_stores_many_requests_together(queued, settings):
    settings.TRACKING_QUEUE_PARTITIONS = 1
    for user in ("bo", "cy", "di"):
        assert queued.post("batch", {"batch": _cart_session(user, 2)}).status_code == 200
    passes = []
    assert queue.drain(1000, on_pass=passes.append) == 3
    assert [len(done.batch_ids) for done in passes] == [3]
    assert passes[0].result.stored == 12
    assert Event.objects.count() == 12


def test_a_pass_takes_at_most_max_events_but_always_one_batch(queued, settings):
    settings.TRACKING_QUEUE_PARTITIONS = 1
    for user in ("bo", "cy", "di"):
        queued.post("batch", {"batch": _cart_session(user, 2)})  # 4 events each
    passes = []
    queue.drain(6, on_pass=passes.append)
    assert [len(done.batch_ids) for done in passes] == [1, 1, 1]
    queued.post("batch", {"batch": _cart_session("ed", 10)})
    assert queue.drain(6) == 1  # bigger than a pass: taken alone
    assert Event.objects.count() == 24


def test_a_retried_batch_queued_twice_is_stored_once(queued):
    batch = {"batch": _cart_session("fay", 2)}
    batch["batch"][0]["messageId"] = "fay-identify"
    batch["batch"][-1]["messageId"] = "fay-added"
    assert queued.post("batch", batch).status_code == 200
    assert queued.post("batch", batch).status_code == 200  # the client's retry, before any pass
    queue.drain(1000)
    assert Event.objects.count() == 4
    assert queued.post("batch", batch).status_code == 200  # and after
    queue.drain(1000)
    assert Event.objects.count() == 4


def test_a_person_stays_in_one_partition_whatever_else_the_batch_holds(queued, settings):
    settings.TRACKING_QUEUE_PARTITIONS = 4
    batch = [event for user in ("g1", "g2", "g3", "g4", "g5", "g6") for event in _cart_session(user, 3)]
    queued.post("batch", {"batch": batch})
    rows = list(QueuedBatch.objects.all())
    assert sum(row.event_count for row in rows) == len(batch)
    assert len({row.partition for row in rows}) == len(rows) > 1
    for row in rows:
        people = {event.anonymous_id for event in queue.decode_events(bytes(row.events))}
        assert all(queue.zlib.crc32(a.encode()) % 4 == row.partition for a in people)
    queue.drain(1000)
    assert Event.objects.count() == len(batch)


def test_an_integer_too_big_for_msgpack_is_queued_as_json_and_stored_exactly(queued):
    big = 2**70 + 1
    batch = _cart_session("len", 1)
    batch[1]["properties"]["sku_number"] = big
    queued.post("batch", {"batch": batch})
    assert bytes(QueuedBatch.objects.get().events)[:1] == b"["
    queue.drain(1000)
    viewed = Event.objects.get(contact__user_id="len", name="Product Viewed")
    assert viewed.properties["sku_number"] == big


def test_a_batch_that_cannot_be_stored_is_set_aside_and_the_rest_are_stored(queued, write_key):
    queued.post("batch", {"batch": _cart_session("hal", 1)})
    broken = QueuedBatch.objects.create(
        source=write_key, received_at=QueuedBatch.objects.get().received_at, event_count=1, events=b"[{not json"
    )
    queued.post("batch", {"batch": _cart_session("ivy", 1)})

    queue.drain(1000)

    assert set(Contact.objects.values_list("user_id", flat=True)) == {"hal", "ivy"}
    assert Event.objects.count() == 6
    broken.refresh_from_db()
    assert "JSON" in broken.error or "malformed" in broken.error.lower()
    assert list(QueuedBatch.objects.all()) == [broken], "kept for an operator, nothing else left behind"


def _worker_env() -> dict:
    database = django_settings.DATABASES["default"]
    user, host, port = database["USER"] or "postgres", database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "triggerapp.settings",
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "TRACKING_QUEUE": "1",
        "LOG_LEVEL": "WARNING",
    }


on_postgresql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="a worker process needs the test database (SQLite's is in memory) and wakes on PostgreSQL's NOTIFY",
)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_wakes_on_a_request_and_stops_cleanly(queued, tmp_path):
    connection.close()
    lag_file = tmp_path / "lag.txt"
    worker = subprocess.Popen(
        # polling only every 60 s: within the 20 s below, only a NOTIFY can wake it
        [sys.executable, "manage.py", "ingest_worker", "--poll", "60", "--record-lag", str(lag_file)],
        cwd=REPO,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert queued.post("batch", {"batch": _cart_session("jo", 2)}).status_code == 200
        assert wait_until(lambda: Event.objects.count() == 4, timeout=20)
        assert wait_until(lambda: Contact.objects.get(user_id="jo").intent_score > 0, timeout=5)
        # a second request, once the worker is idle again
        assert wait_until(lambda: lag_file.exists() and lag_file.read_text().strip(), timeout=5)
        checkout = {"type": "track", "event": "Checkout Started", "userId": "jo", "anonymousId": "a-jo"}
        queued.post("batch", {"batch": [checkout]})
        assert wait_until(lambda: Event.objects.count() == 5, timeout=20)
        lags = [float(line) for line in lag_file.read_text().split()]
        assert len(lags) == 2, lags
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0]
    assert worker.returncode == 0, output
    assert not QueuedBatch.objects.exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_ingest_worker_once_empties_the_queue_and_exits(queued):
    queued.post("batch", {"batch": _cart_session("kim", 1)})
    connection.close()
    done = subprocess.run(
        [sys.executable, "manage.py", "ingest_worker", "--once"],
        cwd=REPO,
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert Event.objects.filter(contact__user_id="kim").count() == 3


def test_the_overview_shows_what_is_queued_and_how_old(queued, client, charlie):
    queued.post("batch", {"batch": _cart_session("mo", 2)})
    client.force_login(charlie)

    html = client.get("/").content.decode()

    stat = r'id="tracking-queue"><span class="value">4</span><span class="label">events queued, oldest \d+ s'
    assert re.search(stat, html)
    queue.drain(1000)
    html = client.get("/").content.decode()
    assert re.search(r'id="tracking-queue"><span class="value">0</span><span class="label">events queued<', html)


def test_an_admin_sees_a_set_aside_batch_and_retries_it(queued, client, alice, bob, write_key):
    batch = _cart_session("ned", 1)
    queued.post("batch", {"batch": batch})
    QueuedBatch.objects.update(error="2026-11-30 08:00:00: RuntimeError: scoring model missing")
    assert queue.drain(1000) == 0  # set aside: the workers pass it by

    client.force_login(bob)  # an editor may not
    assert client.post(f"/settings/rejected-events/queued/{QueuedBatch.objects.get().pk}/retry/").status_code == 403
    client.force_login(alice)
    html = client.get("/settings/rejected-events/").content.decode()
    assert "Accepted but not stored" in html
    assert "RuntimeError: scoring model missing" in html
    pk = QueuedBatch.objects.get().pk
    assert client.post(f"/settings/rejected-events/queued/{pk}/retry/").status_code == 302

    assert queue.drain(1000) == 1
    assert Event.objects.filter(contact__user_id="ned").count() == len(batch)
    assert "Accepted but not stored" not in client.get("/settings/rejected-events/").content.decode()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_each_worker_listens_for_its_home_partition_and_adopts_an_orphan(settings):
    """A lone event wakes one worker; a dead worker's partition is taken up at the next refresh."""
    settings.TRACKING_QUEUE_PARTITIONS = 2
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    first, second = queue.Listener(), queue.Listener()
    # one thread per worker: each has a connection of its own, as separate processes would
    with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(1) as two:
        assert one.submit(first.refresh).result() == 0
        assert first.channels == {0, 1}  # alone: it listens for every partition
        assert two.submit(second.refresh).result() == 1
        assert second.channels == {1}
        assert one.submit(first.refresh).result() == 0
        assert first.channels == {0}, "the second worker now holds partition 1"

        one.submit(connections.close_all).result()  # the first worker dies: its lock goes with its connection
        assert two.submit(second.refresh).result() == 1
        assert second.channels == {0, 1}
        two.submit(connections.close_all).result()


def test_lowering_the_partition_count_strands_nothing(queued, settings):
    settings.TRACKING_QUEUE_PARTITIONS = 4
    batch = [event for user in ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8") for event in _cart_session(user, 1)]
    queued.post("batch", {"batch": batch})
    assert QueuedBatch.objects.filter(partition__gte=2).exists()

    settings.TRACKING_QUEUE_PARTITIONS = 2
    queue.drain(2000)

    assert Event.objects.count() == len(batch)
    assert not QueuedBatch.objects.exists()


@on_postgresql
def test_a_database_that_refuses_every_pass_sets_nothing_aside(queued):
    """A migration not yet run, say: not the batches' fault, so they wait, whole, for the next try."""
    queued.post("batch", {"batch": _cart_session("ora", 1)})
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sequences_sessionsummary RENAME TO sequences_sessionsummary_away")
    try:
        with pytest.raises(ProgrammingError):
            queue.drain(2000)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE sequences_sessionsummary_away RENAME TO sequences_sessionsummary")
    assert list(QueuedBatch.objects.values_list("error", flat=True)) == [""]
    assert Event.objects.count() == 0

    queue.drain(2000)
    assert Event.objects.filter(contact__user_id="ora").count() == 3


def test_retry_all_puts_every_set_aside_batch_back(queued, client, alice, charlie):
    for user in ("qa", "qb"):
        queued.post("batch", {"batch": _cart_session(user, 1)})
    QueuedBatch.objects.update(error="2026-11-30 08:00:00: KeyError: 'price'")

    client.force_login(charlie)  # a viewer may not
    assert client.post("/settings/rejected-events/queued/retry/").status_code == 403
    assert QueuedBatch.objects.filter(error="").count() == 0
    client.force_login(alice)
    assert client.post("/settings/rejected-events/queued/retry/").status_code == 302

    assert queue.drain(2000) == 2
    assert Event.objects.count() == 6


def test_beat_stores_events_no_worker_took_but_leaves_fresh_ones_to_the_workers(queued, settings):
    from datetime import timedelta

    from django.utils import timezone

    from sequences.tasks import store_stale_tracking_queue

    settings.TRACKING_QUEUE_FALLBACK_SECONDS = 30
    queued.post("batch", {"batch": _cart_session("rae", 1)})
    assert store_stale_tracking_queue() == 0  # fresh: a worker's job
    assert Event.objects.count() == 0

    QueuedBatch.objects.update(received_at=timezone.now() - timedelta(seconds=31))
    assert store_stale_tracking_queue() == 1
    assert Event.objects.filter(contact__user_id="rae").count() == 3


def test_a_pass_takes_no_more_ids_than_the_lock_budget(queued, settings):
    """Each id in a pass is an advisory lock, and PostgreSQL's lock table is finite."""
    settings.TRACKING_QUEUE_PARTITIONS = 1
    settings.TRACKING_QUEUE_PASS_IDENTITIES = 5
    for user in ("sa", "sb", "sc"):
        queued.post("batch", {"batch": _cart_session(user, 1)})  # 2 ids each (user id, anonymous id)
    assert list(QueuedBatch.objects.values_list("identity_count", flat=True)) == [2, 2, 2]
    passes = []
    queue.drain(2000, on_pass=passes.append)
    assert [len(done.batch_ids) for done in passes] == [2, 1]
    assert Event.objects.count() == 9


def test_a_stopping_worker_finishes_its_pass_and_leaves_the_rest_queued(queued, settings):
    settings.TRACKING_QUEUE_PARTITIONS = 1
    for user in ("ta", "tb"):
        queued.post("batch", {"batch": _cart_session(user, 1)})
    passes = []
    assert queue.drain(3, on_pass=passes.append, should_stop=lambda: len(passes) == 1) == 1
    assert Event.objects.count() == 3
    assert QueuedBatch.objects.count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_connection_dies_while_idle_reconnects_and_carries_on(queued, tmp_path):
    connection.close()
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "ingest_worker", "--poll", "60"],
        cwd=REPO,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"

    def worker_idle() -> bool:  # connected, and waiting for a wake-up
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) " + others + " AND state = 'idle'")
            return cursor.fetchone()[0] == 1

    try:
        assert wait_until(worker_idle, timeout=20)
        time.sleep(0.5)  # past its first look at the queue, into its wait
        # PostgreSQL restarted, a failover, idle_session_timeout...: the idle worker's backend goes away
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) " + others)
            assert cursor.fetchone()[0] == 1
        assert queued.post("batch", {"batch": _cart_session("uma", 1)}).status_code == 200
        assert wait_until(lambda: Event.objects.filter(contact__user_id="uma").count() == 3, timeout=30)
        assert worker.poll() is None, "the worker must survive, not exit"
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0]
    assert worker.returncode == 0, output
    assert "retrying" in output


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_a_backlog_storing_each_event_once(queued, settings, tmp_path):
    settings.TRACKING_QUEUE_PARTITIONS = 2
    connection.close()
    env = {**_worker_env(), "TRACKING_QUEUE_PARTITIONS": "2", "TRACKING_QUEUE_PASS_EVENTS": "30"}
    lags = [tmp_path / f"lag-{n}.txt" for n in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "ingest_worker", "--record-lag", str(lag)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for lag in lags
    ]

    def both_connected() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] == 2

    people = [f"w{n}" for n in range(60)]
    try:
        assert wait_until(both_connected, timeout=30)
        time.sleep(0.5)  # each has taken its home partition and is waiting
        for start in range(0, len(people), 6):  # 10 requests of 6 people each
            batch = [event for user in people[start : start + 6] for event in _cart_session(user, 2)]
            assert queued.post("batch", {"batch": batch}).status_code == 200
        assert wait_until(lambda: not QueuedBatch.objects.exists(), timeout=60)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=20)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    stored_by = [len(lag.read_text().split()) if lag.exists() else 0 for lag in lags]
    groups = [people[start : start + 6] for start in range(0, len(people), 6)]
    queued_rows = sum(len({queue.zlib.crc32(f"a-{user}".encode()) % 2 for user in group}) for group in groups)
    assert sum(stored_by) == queued_rows, "each queued batch stored exactly once"
    assert all(stored_by), f"both workers took part: {stored_by}"
    assert Event.objects.count() == len(people) * 4
    assert Contact.objects.filter(user_id__in=people).count() == len(people)
    assert Event.objects.values("message_id").distinct().count() == Event.objects.count()
