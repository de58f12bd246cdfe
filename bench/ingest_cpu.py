#!/usr/bin/env python
"""CPU cost of ingesting one `/v1/batch` request, in-process: what the ingest path itself spends.

`bench/ingest.py` measures throughput end to end, which on two shared cores depends on whatever else runs. This
script measures the two numbers throughput is made of, and which do not depend much on other load: the CPU time
of the Django process (middleware, decoding, validation, identity resolution, scoring, queries) and of its
PostgreSQL backend (read from /proc), per request of --batch-size events, over --batches requests of the same
realistic shop traffic bench/ingest.py sends (one client, one connection, so no lock waits).

At 10,000 events/s on two cores, everything (web, database, the client) must fit in 20 ms of CPU per 100 events.

    .venv/bin/python bench/ingest_cpu.py                     # 300 measured batches after 100 warm-up ones
    .venv/bin/python bench/ingest_cpu.py --profile 25        # also cProfile the measured batches, top 25 lines
    .venv/bin/python bench/ingest_cpu.py --queue             # TRACKING_QUEUE on: the requests, then the passes

With --queue the requests only validate and queue (as `bench/ingest.py` runs by default), and the measured
batches are then stored by `queue.drain` in this process, as an ingest worker would: the two parts are printed
apart (--profile then profiles the passes).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/triggerapp_bench_cpu"
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300, help="measured requests (default 300)")
    parser.add_argument("--warmup", type=int, default=100, help="requests before the clock (default 100)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile the measured requests; print top N")
    parser.add_argument("--queue", action="store_true", help="TRACKING_QUEUE on; measure the requests and the passes")
    args = parser.parse_args(argv)

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["TRACKING_QUEUE"] = "1" if args.queue else "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggerapp.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    import psycopg

    admin = args.database_url.rsplit("/", 1)[0] + "/postgres"
    name = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from ingest import LoadConfig, build_requests  # bench/ingest.py's traffic, request for request

    from sequences.models import WriteKey

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE sequences_event, sequences_anonymousid, sequences_contact, sequences_rejectedevent,"
            " sequences_queuedbatch CASCADE"
        )
    key = WriteKey.objects.create(name="ingest_cpu bench").key
    config = LoadConfig(
        base_url="",
        write_key=key,
        mode="batch",
        requests=args.batches,
        warmup=args.warmup,
        batch_size=args.batch_size,
        users=args.users,
        processes=1,
        concurrency=1,
        duration=0,
        timeout=60,
        gzip=False,
        seed=args.seed,
        tag=f"c{int(time.time()) % 100000:05d}",
        time_limit=0,
    )
    bodies = [body for _, body, _ in build_requests(config, 0)]
    client = Client(HTTP_HOST="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": "Basic " + __import__("base64").b64encode(f"{key}:".encode()).decode()}

    def post(body: bytes) -> None:
        response = client.post("/v1/batch", body, content_type="application/json", **auth)
        if response.status_code != 200 or b"rejected" in response.content:
            raise SystemExit(f"unexpected answer {response.status_code}: {response.content[:300]!r}")

    from django.conf import settings

    from sequences.tracking import queue

    for body in bodies[: args.warmup]:
        post(body)
    if args.queue:
        queue.drain(settings.TRACKING_QUEUE_PASS_EVENTS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    profile = cProfile.Profile() if args.profile else None
    web, database = [], []
    for body in bodies[args.warmup :]:
        cpu, db = time.process_time(), backend_cpu_seconds(backend)
        if profile and not args.queue:
            profile.enable()
        post(body)
        if profile and not args.queue:
            profile.disable()
        web.append(time.process_time() - cpu)
        database.append(backend_cpu_seconds(backend) - db)
    passes = []
    if args.queue:
        cpu, db = time.process_time(), backend_cpu_seconds(backend)
        if profile:
            profile.enable()
        queue.drain(settings.TRACKING_QUEUE_PASS_EVENTS, on_pass=passes.append)
        if profile:
            profile.disable()
        drain_cpu, drain_db = time.process_time() - cpu, backend_cpu_seconds(backend) - db

    per = args.batch_size
    web_ms = statistics.fmean(web) * 1000
    db_ms = statistics.fmean(database) * 1000
    print(f"batches           {len(web)} measured of {per} events (after {args.warmup} warm-up), {args.users} users")
    print(f"web process CPU   {web_ms:.1f} ms per batch (median {statistics.median(web) * 1000:.1f})")
    print(f"PostgreSQL CPU    {db_ms:.1f} ms per batch (clock ticks of {1000 / TICKS:.0f} ms, averaged)")
    total = web_ms + db_ms
    if args.queue:
        worker_ms, pass_db_ms = drain_cpu * 1000 / len(web), drain_db * 1000 / len(web)
        events = sum(done.result.stored for done in passes)
        print(
            f"passes            {len(passes)} (ingest_worker's drain, in this process): {events} events stored,"
            f" worker {worker_ms:.1f} ms + PostgreSQL {pass_db_ms:.1f} ms per batch"
        )
        total += worker_ms + pass_db_ms
    print(f"total             {total:.1f} ms per batch: at most {2000 / total * per:,.0f} events/s on 2 idle cores")
    print("budget            20 ms per 100 events (10,000 events/s on 2 cores)")
    if profile:
        stats = pstats.Stats(profile)
        stats.strip_dirs().sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
