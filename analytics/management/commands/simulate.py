"""`manage.py simulate`: simulated people with known effects, driven through the real app (analytics/simulation*.py)."""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from django.test.utils import override_settings

from analytics.rollups import rebuild_rollups
from analytics.simulation_config import load_config
from analytics.simulation_driver import (
    SimulationDriver,
    SimulationError,
    SimulationRun,
    prefix_for,
)
from analytics.simulation_measures import measure_conversion, measure_opens
from sequences.models import Contact, EmailEvent, Enrolment, Event, Message, TriggerOccurrence

OUTBOX = "sequences.outbox_backend.EmailBackend"
# Backends that deliver nothing anywhere; any other (SMTP, an ESP) is swapped for the outbox during the run.
HARMLESS_BACKENDS = (
    OUTBOX,
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
)


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.0%}"


def describe(check) -> str:
    r = check.result
    upper = "∞" if r.ci_high is None else _pct(r.ci_high)
    p = "n/a" if r.p_value is None else f"{r.p_value:.3f}"
    return (
        f"  {check.label:<42} treated {r.treated.successes}/{r.treated.trials}, "
        f"control {r.control.successes}/{r.control.trials}: lift {_pct(r.lift)} "
        f"(95% CI {_pct(r.ci_low)} to {upper}, p {p})   truth {_pct(check.configured)}"
        + ("" if abs(check.expected - check.configured) < 0.005 else f" ({_pct(check.expected)} for these units)")
    )


def run_counts(run: SimulationRun) -> dict[str, int]:
    """What the app holds about this run's contacts (the demo's own contacts are left out)."""
    prefix = run.prefix
    contacts = Contact.objects.filter(Q(user_id__startswith=prefix) | Q(anonymous_ids__value__startswith=prefix))
    known = Contact.objects.filter(user_id__startswith=prefix)
    enrolments = Enrolment.objects.filter(contact__in=known)
    messages = Counter(dict(Message.objects.filter(contact__in=known).values_list("status").annotate(n=Count("pk"))))
    kinds = Counter(
        dict(EmailEvent.objects.filter(message__contact__in=known).values_list("kind").annotate(n=Count("pk")))
    )
    triggers = Counter(
        dict(TriggerOccurrence.objects.filter(contact__in=known).values_list("type").annotate(n=Count("pk")))
    )
    return {
        "contacts": contacts.distinct().count(),
        "identified": known.count(),
        "scored": known.filter(intent_score__isnull=False).count(),
        "events": Event.objects.filter(contact__in=contacts.distinct()).count(),
        "triggers": sum(triggers.values()),
        **{f"triggers {kind}": n for kind, n in sorted(triggers.items())},
        "enrolments treated": enrolments.filter(held_out=False).count(),
        "enrolments control": enrolments.filter(held_out=True).count(),
        **{f"messages {status}": n for status, n in sorted(messages.items())},
        "opens": kinds["open"],
        "machine opens": EmailEvent.objects.filter(message__contact__in=known, kind="open", machine_open=True).count(),
        "clicks": kinds["click"],
        "unsubscribes": kinds["unsubscribe"],
        "conversions credited": kinds["conversion"],
        "orders": Event.objects.filter(contact__in=known, type="track", name="Order Completed").count(),
    }


class Command(BaseCommand):
    help = "Simulate visitors with known ground-truth effects and drive them through the real app."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=300)
        parser.add_argument("--days", type=float, default=14)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--config", help="JSON file overriding the ground truth (docs/simulator.md)")
        parser.add_argument(
            "--again", action="store_true", help="Run even if this seed's simulated contacts are already there"
        )

    def handle(self, *args, contacts, days, seed, config, again, **options):
        try:
            truth = load_config(config)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CommandError(f"--config: {error}") from error
        if not again and Contact.objects.filter(user_id__startswith=prefix_for(seed)).exists():
            # Re-running `make demo` must not simulate the same people twice.
            self.stdout.write(f"Simulation with seed {seed} already in this database; nothing to do (--again).")
            return
        backend = settings.MAILERS["default"]["BACKEND"]
        swap = backend not in HARMLESS_BACKENDS
        if swap:
            self.stdout.write(f"Simulated emails go to the database outbox, not to {backend}.")
        with override_settings(MAILERS={"default": {"BACKEND": OUTBOX}}) if swap else nullcontext():
            try:
                run = SimulationDriver(truth, contacts=contacts, days=days, seed=seed).execute()
            except SimulationError as error:
                raise CommandError(str(error)) from error
        self.report(run)
        # The rollups' minute-by-minute refresh only looks at recent days; two simulated weeks need a full pass.
        partitions = rebuild_rollups()
        self.stdout.write(f"Analytics rollups rebuilt ({partitions} partitions).")

    def report(self, run) -> None:
        c = run_counts(run)
        out = self.stdout.write
        out(
            f"Simulated {run.contacts} people over {(run.end - run.start).days} days (seed {run.seed}, "
            f"{run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC) in {run.seconds:.1f} s, {run.ticks} ticks."
        )
        triggers = ", ".join(f"{k.removeprefix('triggers ')} {v}" for k, v in c.items() if k.startswith("triggers "))
        messages = ", ".join(f"{k.removeprefix('messages ')} {v}" for k, v in c.items() if k.startswith("messages "))
        out(f"  contacts {c['contacts']} ({c['identified']} identified, {c['scored']} scored), events {c['events']}")
        out(f"  triggers {c['triggers']} ({triggers})")
        out(f"  enrolments {c['enrolments treated']} treated, {c['enrolments control']} control; emails: {messages}")
        out(
            f"  opens {c['opens']} ({c['machine opens']} by privacy proxies), clicks {c['clicks']}, "
            f"unsubscribes {c['unsubscribes']}, orders {c['orders']} ({c['conversions credited']} credited to emails)"
        )
        window = run.config.conversion_window_hours
        out(f"Conversion within {window:g} h of the first email, treated vs control (closed windows only):")
        for check in measure_conversion(run):
            out(describe(check))
        opens = measure_opens(run)
        out(f"Timing experiment on the first cart email, human opens within {run.config.open_horizon_hours:g} h:")
        out(describe(opens) if opens else "  not enough sends in both arms")
