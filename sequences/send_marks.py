"""The two marks every email gets, as plain prepared SQL: *started* just before the SMTP hand-over, *sent* once
the mail server accepted it. They run hundreds of times a second, and the ORM's query building and Django's
client-side quoting were a visible share of a send (bench/send.py). Both are conditional on the state, so a
message somebody else moved meanwhile is left alone.

A sent mark is not written on its own: it waits for the next message of the chunk, and goes in the same
statement as that email's started mark, one round trip instead of two (alone if that message is held, skipped or
fails to render, or the chunk ends). The price: if the worker dies in the millisecond or two it takes to render
that next email, an accepted email is left as started, which recovery reports as "outcome unknown" and never
resends, as it does when a worker dies during the SMTP dialogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection

from sequences.models import Message

_STARTED = (
    "UPDATE sequences_message SET smtp_started_at = %s, attempts = attempts + 1, subject = %s, variant = %s, "
    "copy_variant_id = %s, copy_trace = %s, links = %s, message_id_header = %s, local_hour = %s, recent_sends = %s "
    "WHERE id = %s AND status = 'sending'"
)
_SENT = "UPDATE sequences_message SET status = 'sent', sent_at = %s, reason = '' WHERE id = %s AND status = 'sending'"
_SENT_AND_STARTED = (
    f"WITH sent AS ({_SENT} RETURNING 1), started AS ({_STARTED} RETURNING 1) "  # noqa: S608  (our constants)
    "SELECT (SELECT count(*) FROM sent), (SELECT count(*) FROM started)"
)


@dataclass(frozen=True, slots=True)
class StartedMark:
    """What is known about an email just before it is handed over."""

    at: datetime
    subject: str
    variant_name: str
    variant_id: int
    trace: list
    links: list[str]
    message_id_header: str
    local_hour: int
    recent_sends: int

    def params(self) -> list:
        trace = Message._meta.get_field("copy_trace").get_db_prep_save(self.trace, connection)
        links = Message._meta.get_field("links").get_db_prep_save(self.links, connection)
        return [
            self.at,
            self.subject,
            self.variant_name,
            self.variant_id,
            trace,
            links,
            self.message_id_header,
            self.local_hour,
            self.recent_sends,
        ]


class SendMarks:
    """Writes the marks of one chunk of sends; `on_sent(message, sent_at)` is called once a sent mark is stored."""

    def __init__(self, on_sent: Callable[[Message, datetime], None]):
        self.on_sent = on_sent
        self.pending: tuple[Message, datetime] | None = None

    def started(self, pk: int, mark: StartedMark) -> bool:
        """Write the started mark (with the previous email's sent mark, if one waits); False if the message is
        no longer being sent by us."""
        if self.pending is None:
            return _execute(_STARTED, [*mark.params(), pk]) == (1,)
        if connection.vendor != "postgresql":
            self.flush()
            return _execute(_STARTED, [*mark.params(), pk]) == (1,)
        message, sent_at = self.pending
        # If the statement fails (the started half, say), neither half is stored: the sent mark stays waiting, and
        # the chunk's closing flush writes it on its own.
        sent, started = _execute(_SENT_AND_STARTED, [sent_at, message.pk, *mark.params(), pk])
        self.pending = None
        if sent == 1:
            self.on_sent(message, sent_at)
        return started == 1

    def sent(self, message: Message, sent_at: datetime) -> None:
        self.flush()
        self.pending = (message, sent_at)

    def flush(self) -> None:
        """Write a waiting sent mark on its own (the chunk ends, or the next message is not sent)."""
        if self.pending is not None:
            (message, sent_at), self.pending = self.pending, None
            if _execute(_SENT, [sent_at, message.pk]) == (1,):
                self.on_sent(message, sent_at)


ONLY_WHEN_ASKED = 2**31 - 1


def _execute(sql: str, params: list) -> tuple[int, ...]:
    """The row count of an UPDATE as a 1-tuple, or the counts a SELECT returns. With server-side binding (the
    default on PostgreSQL) the statement is prepared once per connection and planned a handful of times
    (pg_stat_statements over bench/send.py: 24 plans in 4,950 executions, against one plan of 89 µs at every
    execution before psycopg was let to prepare it). Without it (behind PgBouncer in transaction mode, which
    cannot keep prepared statements) Django's cursor runs it as any other query."""
    if not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return tuple(cursor.fetchone()) if cursor.description else (cursor.rowcount,)
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's automatic preparing off (None), which makes psycopg ignore prepare=True too: a
        # threshold no query reaches prepares only the statements that ask (without this, none ever was).
        raw.prepare_threshold = ONLY_WHEN_ASKED
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return tuple(cursor.fetchone()) if cursor.description else (cursor.rowcount,)
