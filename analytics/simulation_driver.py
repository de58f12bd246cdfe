"""Drives the behaviour model through the real app (shell), in-process and on a simulated clock.

Events go to /v1/batch with a write key, the beat's functions run with the simulated `now`, emails go through
the real send path to the configured backend, opens and clicks come back through the signed /t/o/ and /t/c/
links, orders through /v1/batch. time-machine holds the clock for the whole run (tick=False): every
`timezone.now()` in the app reads the simulated time, and nothing waits in real time.

Simulated time moves on a grid of `tick_minutes`; stretches where nothing is due (no event, reply, email or
quiet session) are skipped in one step. Within a tick, replies happen at their own instants, then the tick's
events are posted as one batch (their timestamps keep their instants), then the beat runs.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import time as wallclock
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import time_machine
from django.conf import settings
from django.db.models import Min
from django.http.request import split_domain_port, validate_host
from django.test import Client
from django.utils import timezone

from analytics.simulation import PERSON_AGENT, PROXY_AGENT, BehaviourModel, Person, SentEmail
from analytics.simulation_config import SimulationConfig
from sequences.delivery import claim_due_messages, send_claimed_messages
from sequences.demo_sequences import SEQUENCES, load_default_sequences
from sequences.enrolment import enrol_pending_triggers
from sequences.models import (
    Account,
    Enrolment,
    Experiment,
    ExperimentArm,
    LifecycleStage,
    Message,
    Sequence,
    SessionSummary,
    Step,
    TriggerOccurrence,
    WriteKey,
)
from sequences.models.account import DEFAULT_LIFECYCLE_STAGES
from sequences.tracking_links import click_url, open_url, unsubscribe_url
from sequences.triggers import detect_lapsed_contacts, detect_quiet_sessions

CART_SEQUENCE = "Cart abandonment (3 emails)"
EXPERIMENT_NAME = "Send time (simulator)"
WRITE_KEY_NAME = "Simulator"
BATCH_EVENTS = 300  # well under the 500 KB batch limit (an event here is ~400 bytes)
QUIET_CHECK = timedelta(minutes=5, seconds=1)  # the app's 5-minute quiet-session rule, plus a second
LAPSED_SCAN = timedelta(days=1)  # the beat's schedule for detect_lapsed_contacts


class SimulationError(RuntimeError):
    pass


def prefix_for(seed: int) -> str:
    return f"sim{seed}-"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class EnrolmentTruth:
    segment: str
    control: bool
    probability: float  # the true conversion probability the model used
    anchor: datetime  # the first email's time (sent or withheld): the conversion window starts here


@dataclass
class SimulationRun:
    config: SimulationConfig
    seed: int
    contacts: int
    start: datetime
    end: datetime
    prefix: str
    events_posted: int = 0
    ticks: int = 0
    replies: Counter = field(default_factory=Counter)
    truth: dict[int, EnrolmentTruth] = field(default_factory=dict)  # by enrolment pk
    open_truth: dict[int, float] = field(default_factory=dict)  # by message pk: the true open probability
    seconds: float = 0.0


def prepare_app(config: SimulationConfig) -> WriteKey:
    """Idempotent set-up: stages, the default sequences (active, with the configured holdout), quiet hours, the
    timing experiment on the cart sequence's first step, and a write key for the simulated site."""
    account = Account.current()
    account.quiet_hours_start, account.quiet_hours_end = config.quiet()
    account.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    for position, (slug, name) in enumerate(DEFAULT_LIFECYCLE_STAGES):
        LifecycleStage.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})
    load_default_sequences(activate=True)
    Sequence.objects.filter(name__in=[s["name"] for s in SEQUENCES]).update(
        status=Sequence.Status.ACTIVE, holdout_percent=config.holdout_percent
    )
    timing_experiment(config)
    key = WriteKey.objects.active().filter(name=WRITE_KEY_NAME).first()
    return key or WriteKey.objects.create(name=WRITE_KEY_NAME)


def timing_experiment(config: SimulationConfig) -> Experiment:
    step = Step.objects.filter(sequence__name=CART_SEQUENCE).order_by("position", "pk").first()
    if step is None:
        raise SimulationError(f"the sequence {CART_SEQUENCE!r} has no steps")
    running = Experiment.objects.filter(step=step, status=Experiment.Status.RUNNING).first()
    if running is not None:
        if running.name == EXPERIMENT_NAME:
            return running
        # Never stop a marketer's experiment behind their back.
        raise SimulationError(f"{step} already runs the experiment {running.name!r}; stop it first")
    experiment = Experiment.objects.create(step=step, name=EXPERIMENT_NAME, kind=Experiment.Kind.TIMING)
    start, end = config.window()
    ExperimentArm.objects.create(
        experiment=experiment, name="Send at once", is_baseline=True, weight=50, timing=ExperimentArm.Timing.AT_ONCE
    )
    ExperimentArm.objects.create(
        experiment=experiment,
        name="Engagement window",
        weight=50,
        timing=ExperimentArm.Timing.WINDOW,
        preferred_start=start,
        preferred_end=end,
    )
    return experiment


def _client_host() -> str:
    """A Host header the app accepts (the client is in-process; nothing goes over the network)."""
    public = urlsplit(settings.PUBLIC_BASE_URL).netloc
    for host in (public, "localhost", "127.0.0.1", "testserver"):
        if host and validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
            return host
    raise SimulationError("ALLOWED_HOSTS accepts none of localhost, 127.0.0.1, testserver")


def _path(url: str) -> str:
    return urlsplit(url).path


class SimulationDriver:
    def __init__(self, config: SimulationConfig, *, contacts: int, days: float, seed: int, end: datetime | None = None):
        # Ending at the present keeps the demo's charts current and its live shoppers in the last tick.
        self.end = (end or timezone.now()).replace(second=0, microsecond=0)
        self.start = self.end - timedelta(days=days)
        self.config, self.tick = config, timedelta(minutes=config.tick_minutes)
        self.run = SimulationRun(config, seed, contacts, self.start, self.end, prefix_for(seed))
        self.model = BehaviourModel(config, seed=seed, start=self.start, end=self.end, prefix=self.run.prefix)
        self.client = Client(HTTP_HOST=_client_host())
        self.people: dict[str, Person] = {}
        self.carts: dict[str, float] = {}
        self.serial = itertools.count()  # heap tie-breaker: equal instants keep the order they were planned in
        self.events: list[tuple[datetime, int, dict]] = []
        self.replies: list[tuple[datetime, int, int, object]] = []
        self.pending_first: dict[int, Enrolment] = {}  # treated enrolments whose first email is not settled yet
        self.last_enrolment = 0
        self.quiet_due: datetime | None = None  # when detect_quiet_sessions next has a session to look at
        self.send_due: datetime | None = None  # the earliest scheduled email

    def execute(self) -> SimulationRun:
        started = wallclock.perf_counter()
        with time_machine.travel(self.start, tick=False) as clock:
            key = prepare_app(self.config)
            self.auth = "Basic " + base64.b64encode(f"{key.key}:".encode()).decode()
            self.last_enrolment = Enrolment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            self._plan_people()
            now, next_lapsed = self.start, self.start + LAPSED_SCAN
            while now < self.end:
                until = self._next_tick(now, next_lapsed)
                self._reply_until(clock, until)
                clock.move_to(until)
                now = until
                # The beat's work, each part only when something can be due (an idle call still costs queries).
                found = self._post_due(now)
                if self.quiet_due is not None and self.quiet_due <= now:
                    found += detect_quiet_sessions(now=now)
                if now >= next_lapsed:
                    found += detect_lapsed_contacts(now=now)
                    next_lapsed += LAPSED_SCAN
                enrolled = enrol_pending_triggers(now=now) if found and self._triggers_waiting() else 0
                sent = []
                if enrolled or (self.send_due is not None and self.send_due <= now):
                    sent = self._send_due(now)
                    self._plan_replies(sent)
                # First emails settle when sent or skipped here; a cancellation (order, unsubscribe) is found
                # by the hourly sweep, which only shifts that enrolment's window start by under an hour.
                if enrolled or sent or (self.pending_first and now.minute < self.config.tick_minutes):
                    self._decide_conversions(now)
                self.run.ticks += 1
        self.run.seconds = wallclock.perf_counter() - started
        return self.run

    # --- the simulated site ----------------------------------------------------------------------------------------

    def _plan_people(self) -> None:
        for person in self.model.people(self.run.contacts):
            self.people[person.user_id] = person
            planned, carts = self.model.visits(person)
            self.carts.update(carts)
            self.events.extend((event.at, next(self.serial), event.payload) for event in planned)
        heapq.heapify(self.events)

    def _post_due(self, now: datetime) -> int:
        """Post the events due by now; returns how many (ingest may fire triggers: downloads, identifies)."""
        due = []
        while self.events and self.events[0][0] <= now:
            at, _, payload = heapq.heappop(self.events)
            due.append({**payload, "timestamp": iso(at)})
        for offset in range(0, len(due), BATCH_EVENTS):
            body = {"batch": due[offset : offset + BATCH_EVENTS], "sentAt": iso(now)}
            response = self.client.post(
                "/v1/batch", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=self.auth
            )
            answer = response.json() if response.status_code == 200 else {}
            if response.status_code != 200 or answer.get("rejected"):
                raise SimulationError(f"/v1/batch answered {response.status_code}: {response.content[:300]!r}")
        self.run.events_posted += len(due)
        return len(due)

    @staticmethod
    def _triggers_waiting() -> bool:
        return TriggerOccurrence.objects.filter(status=TriggerOccurrence.Status.FIRED, enrolment_checked=False).exists()

    def _next_tick(self, now: datetime, next_lapsed: datetime) -> datetime:
        """The next instant on the tick grid at or after the earliest thing due; at least one tick ahead."""
        due = [next_lapsed]
        if self.events:
            due.append(self.events[0][0])
        if self.replies:
            due.append(self.replies[0][0])
        quiet = SessionSummary.objects.filter(quiet_checked=False).aggregate(at=Min("last_event_at"))["at"]
        self.quiet_due = quiet + QUIET_CHECK if quiet is not None else None
        self.send_due = Message.objects.filter(status=Message.Status.SCHEDULED).aggregate(at=Min("send_at"))["at"]
        due += [at for at in (self.quiet_due, self.send_due) if at is not None]
        ticks = max(1, -(-(min(due) - now) // self.tick))  # ceiling division of timedeltas
        return min(now + ticks * self.tick, self.end)

    # --- the beat's send, and what recipients do --------------------------------------------------------------

    def _send_due(self, now: datetime) -> list[int]:
        claimed: list[int] = []
        while ids := claim_due_messages(now=now):
            send_claimed_messages(ids, now_fn=lambda: now)
            fresh = set(ids) - set(claimed)
            claimed.extend(fresh)
            if not fresh:  # held again at once (cannot happen with the shipped guards): try next tick
                break
        return claimed

    def _plan_replies(self, ids: list[int]) -> None:
        if not ids:
            return
        sent = Message.objects.filter(
            pk__in=ids, status=Message.Status.SENT, contact__user_id__startswith=self.run.prefix
        ).select_related("contact", "enrolment__sequence", "experiment_arm", "step")
        for message in sent:
            person = self.people.get(message.contact.user_id)
            if person is None:
                continue  # a contact from another run or the demo's own: nobody answers for them
            arm = message.experiment_arm
            email = SentEmail(
                key=f"{person.user_id}:{message.enrolment.sequence.name}:{message.enrolment.key}:{message.step.position}",
                sent_at=message.sent_at,
                local_hour=message.local_hour if message.local_hour is not None else 12,
                window_arm=None if arm is None or not arm.timing else arm.timing == ExperimentArm.Timing.WINDOW,
                links=len(message.links),
            )
            self.run.open_truth[message.pk] = self.model.open_probability(email)
            for reply in self.model.reactions(person, email):
                heapq.heappush(self.replies, (reply.at, next(self.serial), message.pk, reply))

    def _reply_until(self, clock, until: datetime) -> None:
        while self.replies and self.replies[0][0] <= until:
            at, _, message_pk, reply = heapq.heappop(self.replies)
            clock.move_to(at)  # the open and click views stamp timezone.now()
            if reply.kind == "open":
                agent = PROXY_AGENT if reply.machine else PERSON_AGENT
                response = self.client.get(_path(open_url(message_pk)), HTTP_USER_AGENT=agent)
                expected = 200
            elif reply.kind == "click":
                response = self.client.get(_path(click_url(message_pk, reply.link_index)), HTTP_USER_AGENT=PERSON_AGENT)
                expected = 302
            else:
                response = self.client.post(_path(unsubscribe_url(message_pk)), {"List-Unsubscribe": "One-Click"})
                expected = 200
            if response.status_code != expected:
                raise SimulationError(f"{reply.kind} of message {message_pk} answered {response.status_code}")
            self.run.replies["machine open" if reply.machine else reply.kind] += 1

    # --- conversions: the ground truth's effect ---------------------------------------------------------------

    def _decide_conversions(self, now: datetime) -> None:
        """Each enrolment's order is drawn once its first email is settled: withheld (control, at once), sent
        (treated and emailed) or not sent after all (skipped, cancelled, failed: treated, not emailed)."""
        new = list(
            Enrolment.objects.filter(pk__gt=self.last_enrolment, contact__user_id__startswith=self.run.prefix)
            .select_related("contact", "segment", "sequence")
            .order_by("pk")
        )
        if new:
            self.last_enrolment = new[-1].pk
            first: dict[int, dict] = {}
            for row in (
                Message.objects.filter(enrolment__in=new)
                .order_by("step__position", "pk")
                .values("pk", "enrolment_id", "send_at")
            ):
                first.setdefault(row["enrolment_id"], row)
            for enrolment in new:
                row = first.get(enrolment.pk)
                if row is None:
                    continue
                if enrolment.held_out:
                    self._decide(enrolment, emailed=False, anchor=max(row["send_at"], now))
                else:
                    self.pending_first[row["pk"]] = enrolment
        if self.pending_first:
            settled = (
                Message.objects.filter(pk__in=list(self.pending_first))
                .exclude(status__in=[Message.Status.SCHEDULED, Message.Status.SENDING])
                .values_list("pk", "status", "sent_at")
            )
            for pk, status, sent_at in settled:
                enrolment = self.pending_first.pop(pk)
                emailed = status == Message.Status.SENT
                self._decide(enrolment, emailed=emailed, anchor=sent_at if emailed else now)

    def _decide(self, enrolment: Enrolment, *, emailed: bool, anchor: datetime) -> None:
        person = self.people.get(enrolment.contact.user_id or "")
        if person is None:
            return
        cart = None
        if enrolment.key.startswith("cart:"):
            cart_id = enrolment.key.removeprefix("cart:")
            cart = (cart_id, self.carts.get(cart_id, 100.0))
        segment = enrolment.segment.name if enrolment.segment else ""
        outcome = self.model.conversion(
            person,
            key=f"{person.user_id}:{enrolment.sequence.name}:{enrolment.key}",
            segment=segment,
            emailed=emailed,
            anchor=anchor,
            cart=cart,
        )
        self.run.truth[enrolment.pk] = EnrolmentTruth(segment, enrolment.held_out, outcome.probability, anchor)
        for event in outcome.order:
            heapq.heappush(self.events, (event.at, next(self.serial), event.payload))
