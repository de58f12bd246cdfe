#!/usr/bin/env python
"""Delivery benchmark: N due messages through the real path into a local SMTP sink.

It migrates a bench PostgreSQL database, creates a one-email sequence and N contacts with one due message each,
starts an aiosmtpd sink (its own process) and a real Celery worker with beat (Redis broker) on this machine, and
waits until every message is sent. It prints messages/s and how late sends were behind `send_at` (p50/p99), and,
measured in the same run against the same sink, a bare smtplib loop over one connection for scale.

    .venv/bin/python bench/send.py                 # 5,000 messages, worker concurrency 4
    .venv/bin/python bench/send.py --messages 20000 --concurrency 4
    .venv/bin/python bench/send.py --messages 6000 --spread 30   # 200 due a second: lateness of a steady load

Everything stays on 127.0.0.1 and stops by itself (--timeout).
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from multiprocessing import Event, Process, Value
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.getenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/triggerapp_bench_send")
BROKER_URL = "redis://127.0.0.1:6379/13"
GOAL = 500
WORKER_WARMUP = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(*, pid: int | None = None, group: int | None = None, name: str | None = None) -> float:
    """User + system CPU of one process, of a process group, or of every process with a name (Linux /proc),
    with that of their children that have exited: PostgreSQL backends that end during a run are counted in the
    postmaster's (a worker that opened a connection per task once hid most of PostgreSQL's CPU that way)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (pid is not None and int(entry.name) != pid):
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, fields = stat.split("(", 1)[1].rsplit(")", 1)[0], stat.rsplit(")", 1)[1].split()
        if name is not None and command != name:
            continue
        if group is None or int(fields[2]) == group:  # fields[2] is the process group
            total += sum(map(int, fields[11:15])) / ticks  # utime, stime, cutime, cstime
    return total


def run_sink(port: int, received, ready, pipelining: bool = True) -> None:
    """An SMTP server that accepts and counts (the sink a real MTA would be). It offers PIPELINING (RFC 2920) as
    Postfix, Exim and the big providers do; aiosmtpd answers pipelined commands in order but does not say so."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]] if pipelining else responses

        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "LOG_LEVEL": "WARNING",
    }


def django_setup(port: int) -> None:
    os.environ.update(env(port))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggerapp.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def prepare(count: int):
    """Create the sequence and contacts now; return a function that schedules their messages when called."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from sequences.models import Account, Contact, CopyVariant, Enrolment, Event, Message, Sequence, Step, WriteKey

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE sequences_emailevent, sequences_message, sequences_enrolment, sequences_copyvariant, "
            "sequences_step, sequences_event, "
            "sequences_sequence_segments, sequences_sequence, sequences_contact CASCADE"
        )
    account = Account.current()
    account.quiet_hours_start = account.quiet_hours_end = account.quiet_hours_start  # no quiet hours
    account.cap_per_48_hours = account.cap_per_funnel_stage = 1000
    account.save()
    sequence = Sequence.objects.create(name="Bench", entry_trigger="cart_abandoned", status="active", holdout_percent=0)
    step = Step.objects.create(sequence=sequence, position=0, name="Only", delay_from="trigger")
    # Personalised copy as a marketer would write it: a conditional variant, a product block, an if and filters.
    CopyVariant.objects.create(
        step=step,
        name="Electronics",
        priority=1,
        condition={"field": "product.category", "op": "eq", "value": "electronics"},
        subject='{{ first_name|default:"Hey" }}, your {{ product.name }} is ready—don’t let it slip away!',
        preheader="Still in your cart: {{ product.name }} ({{ product.price|money }})",
        opening='Hi {{ first_name|default:"there" }}, you stopped at {{ product.name }}.',
        body=BENCH_BODY,
        cta_text="Claim your discount",
        cta_url="{{ product.url }}",
    )
    CopyVariant.objects.create(
        step=step,
        name="Default",
        is_default=True,
        subject='{{ first_name|default:"Hey" }}, your cart awaits',
        opening='Hi {{ first_name|default:"there" }}, you stopped at {{ product.name|default:"checkout" }}.',
        body=BENCH_BODY,
        cta_text="Complete my order",
        cta_url="https://shop.example.com/cart",
    )
    source, _ = WriteKey.objects.get_or_create(name="bench")
    long_ago = timezone.now() - timedelta(days=1)
    contacts = Contact.objects.bulk_create(
        Contact(user_id=f"bench-{n}", email=f"bench{n}@example.com", first_name=f"Name{n}", last_seen_at=long_ago)
        for n in range(count)
    )
    Event.objects.bulk_create(
        Event(
            source=source,
            contact=c,
            type="track",
            name="Product Added",
            properties={
                "product_id": f"sku-{n % 50}",
                "name": f"Headphones model {n % 50}",
                "category": "electronics" if n % 2 else "audio",
                "price": 149 + n % 100,
                "variant": "Black",
                "image_url": f"https://cdn.example.com/p/{n % 50}.jpg",
                "url": f"https://shop.example.com/p/{n % 50}",
            },
            occurred_at=long_ago,
            received_at=long_ago,
            message_id=f"bench-{c.pk}",
        )
        for n, c in enumerate(contacts)
    )
    enrolments = Enrolment.objects.bulk_create(
        Enrolment(contact=c, sequence=sequence, sequence_version=1, key=f"bench:{c.pk}", enrolled_at=long_ago)
        for c in contacts
    )

    def schedule(spread: float) -> None:
        now = timezone.now()
        Message.objects.bulk_create(
            Message(
                enrolment=e,
                step=step,
                contact_id=e.contact_id,
                send_at=now + timedelta(seconds=spread * n / count),
            )
            for n, e in enumerate(enrolments)
        )

    return schedule


BENCH_BODY = (
    "{% if product.variant %}Your preferred {{ product.variant }} is still available, ready to go.{% endif %}\n\n"
    "Questions? Our team is on live chat now: https://shop.example.com/help"
)


def bare_smtplib(port: int, count: int) -> float:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "bench@example.com", "sink@example.com", "bare"
    message.set_content("Hi, finish here: https://shop.example.com/cart")
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for _ in range(count):
            smtp.send_message(message)
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="Celery worker processes (sending waits on SMTP: 2 per core)"
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--spread",
        type=float,
        default=0,
        help="seconds over which send_at is spread (0: all due at once, which measures throughput; "
        "e.g. 30: a steady schedule, which measures lateness)",
    )
    parser.add_argument(
        "--sink-without-pipelining",
        action="store_true",
        help="the sink does not offer PIPELINING: four round trips an email instead of two",
    )
    args = parser.parse_args()

    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE_URL.rsplit("/", 1)[1]],
        capture_output=True,
        check=False,
    )
    port = free_port()
    received, ready = Value("i", 0), Event()
    sink = Process(target=run_sink, args=(port, received, ready, not args.sink_without_pipelining), daemon=True)
    sink.start()
    ready.wait(10)
    django_setup(port)
    print(f"preparing {args.messages} contacts...", flush=True)
    schedule_messages = prepare(args.messages)
    subprocess.run(["redis-cli", "-n", "13", "FLUSHDB"], capture_output=True, check=False)

    from django.db.models import Count, Max, Min

    from sequences.models import Message

    schedule = Path(tempfile.gettempdir()) / f"triggerapp-bench-beat-{os.getpid()}"
    worker = subprocess.Popen(
        [
            str(REPO / ".venv/bin/celery"),
            "-A",
            "triggerapp",
            "worker",
            "--beat",
            f"--schedule={schedule}",
            f"--concurrency={args.concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env(port),
        start_new_session=True,
    )
    time.sleep(WORKER_WARMUP)  # the worker and beat are up before the first message falls due
    sink_cpu_before, worker_cpu_before = cpu_seconds(pid=sink.pid), cpu_seconds(group=worker.pid)
    postgres_cpu_before = cpu_seconds(name="postgres")
    schedule_messages(args.spread)
    print(f"{args.messages} messages scheduled over {args.spread:g} s", flush=True)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < args.timeout:
            time.sleep(0.5)
            remaining = Message.objects.exclude(status__in=["sent", "failed", "skipped"]).count()
            if remaining == 0:
                break
        else:
            print("timed out", flush=True)
    finally:
        sink_cpu = cpu_seconds(pid=sink.pid) - sink_cpu_before
        worker_cpu = cpu_seconds(group=worker.pid) - worker_cpu_before
        postgres_cpu = cpu_seconds(name="postgres") - postgres_cpu_before
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    sent = Message.objects.filter(status="sent")
    span = sent.aggregate(first=Min("claimed_at"), last=Max("sent_at"))
    lateness = sorted((row["sent_at"] - row["send_at"]).total_seconds() for row in sent.values("sent_at", "send_at"))
    count = len(lateness)
    seconds = (span["last"] - span["first"]).total_seconds() if count else float("nan")
    rate = count / seconds if count else 0.0
    bare = bare_smtplib(port, min(args.messages, 5000))
    print(f"messages sent:        {count} of {args.messages} (SMTP sink received {received.value})")
    others = dict(Message.objects.exclude(status="sent").values_list("status").annotate(n=Count("pk")))
    print(f"other states:         {others or 'none'}")
    print(f"delivery rate:        {rate:,.0f} messages/s over {seconds:.1f} s (first claim to last send)")
    if count:
        print(
            f"lateness behind send_at: p50 {statistics.median(lateness):.2f} s, "
            f"p99 {lateness[min(count - 1, int(count * 0.99))]:.2f} s, max {lateness[-1]:.2f} s"
        )
    print(f"bare smtplib, one connection, same sink: {bare:,.0f} messages/s")
    if count:
        print(
            f"CPU per message:      worker processes {1000 * worker_cpu / count:.2f} ms, "
            f"PostgreSQL {1000 * postgres_cpu / count:.2f} ms, SMTP sink {1000 * sink_cpu / count:.2f} ms "
            "(the sink shares these cores; a real mail server would not)"
        )
    p99 = lateness[min(count - 1, int(count * 0.99))] if count else float("inf")
    if args.spread:
        # A steady schedule: the rate is the schedule's, so judge how late sends were.
        print(f"goal: p99 lateness under 10 s on a steady schedule -> {'met' if p99 < 10 else 'NOT met'}")
    else:
        # Everything due at once: lateness is just queue position / rate, so judge the rate.
        print(f"goal: {GOAL} messages/s when everything is due at once -> {'met' if rate >= GOAL else 'NOT met'}")
    os.kill(sink.pid, signal.SIGTERM)
    sink.join(5)
    return 0 if count == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
