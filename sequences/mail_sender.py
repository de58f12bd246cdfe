"""Handing emails to the configured mail backend: raw SMTP when it is Django's SMTP backend, else the backend."""

from __future__ import annotations

import re
import smtplib
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
        self.eight_bit: bool | None = None  # whether the server takes 8-bit bodies (RFC 6152), once connected

    def send(self, assembled) -> None:
        if not self.raw or not (assembled.to.isascii() and assembled.from_email.isascii()):
            # A non-ASCII address needs SMTPUTF8: Django's path handles it.
            self.backend.send_messages([assembled.as_django_email()])
            return
        if self.backend.connection is None:
            self.backend.open()
        connection = self.backend.connection
        if self.eight_bit is None:
            connection.ehlo_or_helo_if_needed()
            self.eight_bit = connection.has_extn("8bitmime")
        try:
            raw = assembled.as_bytes(eight_bit=self.eight_bit)
        except UnicodeEncodeError:  # a non-ASCII header (e.g. an IDN host in PUBLIC_BASE_URL): Django encodes it
            self.backend.send_messages([assembled.as_django_email()])
            return
        try:
            smtp_transaction(connection, self.envelope_from, assembled.to, raw, eight_bit=not raw.isascii())
        except smtplib.SMTPException:
            if connection.sock is None:  # the server closed the connection (421): open a new one next time
                self.reset()
            raise

    def reset(self) -> None:
        """After a connection-level error: drop the connection; the next send opens a new one."""
        with suppress(Exception):
            self.backend.close()
        if self.raw:
            self.backend.connection = None
            self.eight_bit = None

    def close(self) -> None:
        with suppress(Exception):
            self.backend.close()


PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _path(address: str) -> str:
    """An address as the MAIL and RCPT commands take it: smtplib's quoteaddr, without parsing a plain address
    (the parse was ~5% of a send's CPU in bench/send.py's profile)."""
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def smtp_transaction(connection: smtplib.SMTP, sender: str, recipient: str, raw: bytes, *, eight_bit: bool) -> None:
    """smtplib's sendmail for one recipient: the same commands, and the same replies raise the same errors.

    When the server offers PIPELINING (RFC 2920), as Postfix, Exim and the big providers do, MAIL, RCPT and DATA
    go in one write and their three replies are read after it: two round trips an email instead of four.
    """
    connection.ehlo_or_helo_if_needed()
    options = ""
    if connection.does_esmtp:
        if connection.has_extn("size"):
            options += f" SIZE={len(raw)}"
        if eight_bit:
            options += " BODY=8BITMIME"
    mail, rcpt = f"FROM:{_path(sender)}{options}", f"TO:{_path(recipient)}"
    if connection.does_esmtp and connection.has_extn("pipelining"):
        _pipelined(connection, sender, recipient, raw, mail, rcpt)
        return
    code, reply = connection.docmd("mail", mail)
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.docmd("rcpt", rcpt)
    if code not in (250, 251):
        _abandon(connection, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    try:
        code, reply = connection.data(raw)
    except smtplib.SMTPDataError as error:  # DATA itself refused: smtplib raises without resetting
        _abandon(connection, error.smtp_code)
        raise
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _pipelined(connection: smtplib.SMTP, sender: str, recipient: str, raw: bytes, mail: str, rcpt: str) -> None:
    connection.send(f"MAIL {mail}\r\nRCPT {rcpt}\r\nDATA\r\n")
    code, reply = connection.getreply()
    if code != 250:
        _after_refusal(connection, code, replies_owed=2)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.getreply()
    if code not in (250, 251):
        _after_refusal(connection, code, replies_owed=1)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = connection.getreply()
    if code != 354:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    # As smtplib's data(): a leading dot doubled (RFC 5321 4.5.2), then the end-of-data line.
    body = LEADING_DOT.sub(b"..", raw)
    connection.send(body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"))
    code, reply = connection.getreply()
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


def _after_refusal(connection: smtplib.SMTP, code: int, *, replies_owed: int) -> None:
    """MAIL or RCPT of a pipelined group was refused: read the replies still owed, then reset, as the sequential
    dialogue would. Whatever the server does next (hang up, as Exim's `drop` does; answer 421; accept DATA it
    should have refused), the caller raises the refusal itself, so a 5xx stays final and is never retried."""
    try:
        for _ in range(replies_owed):
            if code == 421:
                break
            code, _reply = connection.getreply()
        if code == 354:  # a server that should have refused DATA without a recipient: an empty message, then RSET
            connection.send(b".\r\n")
            code, _reply = connection.getreply()
    except smtplib.SMTPServerDisconnected:  # smtplib has closed the connection; the next email opens a new one
        return
    _abandon(connection, code)


def _abandon(connection: smtplib.SMTP, code: int) -> None:
    """After a refusal: 421 means the server is closing; otherwise reset the transaction for the next email."""
    if code == 421:
        connection.close()
        return
    with suppress(smtplib.SMTPServerDisconnected):
        connection.rset()


def send_test_email(*, to: str, subject: str, html: str, text: str, from_email: str) -> None:
    """A preview mailed to a marketer through the configured backend: marked as a test, links untracked."""
    email = EmailMultiAlternatives(subject=f"[Test] {subject}", body=text, from_email=from_email, to=[to])
    email.attach_alternative(html, "text/html")
    mailers["default"].send_messages([email])
