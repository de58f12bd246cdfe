"""Handing emails to the configured mail backend: raw SMTP when it is Django's SMTP backend, else the backend."""

from __future__ import annotations

from contextlib import suppress
from email.utils import parseaddr

from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend


class MailSender:
    """Raw SMTP through the configured SMTP backend's connection (fast path), any other backend otherwise."""

    def __init__(self, from_email: str):
        self.backend = mailers["default"]
        self.raw = isinstance(self.backend, SmtpEmailBackend)
        self.envelope_from = parseaddr(from_email)[1] or from_email
        self.from_email = from_email

    def send(self, assembled) -> None:
        raw = None
        if self.raw:
            with suppress(UnicodeEncodeError):  # a non-ASCII address needs SMTPUTF8: Django's path handles it
                raw = assembled.as_bytes()
        if raw is None:
            self.backend.send_messages([assembled.as_django_email()])
            return
        if self.backend.connection is None:
            self.backend.open()
        self.backend.connection.sendmail(self.envelope_from, [assembled.to], raw)

    def reset(self) -> None:
        """After a connection-level error: drop the connection; the next send opens a new one."""
        with suppress(Exception):
            self.backend.close()
        if self.raw:
            self.backend.connection = None

    def close(self) -> None:
        with suppress(Exception):
            self.backend.close()


def send_test_email(*, to: str, subject: str, html: str, text: str, from_email: str) -> None:
    """A preview mailed to a marketer through the configured backend: marked as a test, links untracked."""
    email = EmailMultiAlternatives(subject=f"[Test] {subject}", body=text, from_email=from_email, to=[to])
    email.attach_alternative(html, "text/html")
    mailers["default"].send_messages([email])
