"""The SMTP dialogue itself, against a real aiosmtpd server: pipelined where offered, byte-exact either way."""

import smtplib
import socket
import threading

import pytest

from sequences.mail_sender import smtp_transaction

# Lines a naive sender would mangle: a lone dot ends the message early, a leading dot is eaten by the server.
TRICKY = (
    b"From: shop@example.com\r\nTo: ada@example.com\r\nSubject: dots\r\n\r\n"
    b"first line\r\n.\r\n.hidden behind a dot\r\n..two dots\r\nlast line\r\n"
)


def _connection(smtp_sink, settings):
    options = settings.MAILERS["default"]["OPTIONS"]
    connection = smtplib.SMTP(options["host"], options["port"], timeout=5)
    connection.ehlo()
    writes = []
    plain_send = connection.send

    def counted(data):
        writes.append(data)
        plain_send(data)

    connection.send = counted
    return connection, writes


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
def test_a_message_arrives_byte_for_byte_with_its_dotted_lines(smtp_sink, settings, pipelining):
    smtp_sink.pipelining = pipelining
    connection, _ = _connection(smtp_sink, settings)
    try:
        smtp_transaction(connection, "shop@example.com", "ada@example.com", TRICKY, eight_bit=False)
        smtp_transaction(connection, "shop@example.com", "bob@example.com", TRICKY + b"no line end", eight_bit=False)
    finally:
        connection.quit()

    (first, _), (second, _) = smtp_sink.raw
    assert first == TRICKY
    assert second == TRICKY + b"no line end\r\n"  # the line end that the end-of-data line needs, as smtplib adds


@pytest.mark.parametrize(("pipelining", "writes_per_email"), [(True, 2), (False, 4)])
def test_where_the_server_offers_pipelining_an_email_takes_two_writes_instead_of_four(
    smtp_sink, settings, pipelining, writes_per_email
):
    smtp_sink.pipelining = pipelining
    connection, writes = _connection(smtp_sink, settings)
    try:
        for number in range(3):
            smtp_transaction(connection, "shop@example.com", f"u{number}@example.com", TRICKY, eight_bit=False)
        emails_written = len(writes)
    finally:
        connection.quit()

    assert len(smtp_sink.messages) == 3
    assert emails_written == 3 * writes_per_email


def test_a_refused_recipient_in_a_pipelined_group_raises_and_leaves_the_connection_ready(smtp_sink, settings):
    smtp_sink.refuse, smtp_sink.refuse_once = {"RCPT": "550 5.1.1 no such mailbox"}, True
    connection, _ = _connection(smtp_sink, settings)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp_transaction(connection, "shop@example.com", "nobody@example.com", TRICKY, eight_bit=False)
        smtp_transaction(connection, "shop@example.com", "ada@example.com", TRICKY, eight_bit=False)
    finally:
        connection.quit()

    assert refused.value.recipients["nobody@example.com"][0] == 550
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.raw[0][0] == TRICKY


class ScriptedServer:
    """A bare SMTP server on loopback that answers each command from a script and hangs up where told, as some
    servers do after a refusal (Exim's `drop`). aiosmtpd cannot be made to do that."""

    def __init__(self, replies: dict[str, str], *, pipelining: bool, hang_up_after: str):
        self.replies, self.pipelining, self.hang_up_after = replies, pipelining, hang_up_after
        self.received: list[str] = []  # the command verbs, in order
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 scripted ESMTP\r\n")
            for line in lines:
                verb = line.split(b":")[0].split()[0].decode().upper()
                self.received.append(verb)
                if verb == "EHLO":
                    offered = b"250-PIPELINING\r\n" if self.pipelining else b""
                    conn.sendall(b"250-scripted\r\n" + offered + b"250 SIZE 10000000\r\n")
                    continue
                conn.sendall(self.replies.get(verb, "250 OK").encode() + b"\r\n")
                if verb == self.hang_up_after:
                    return

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
@pytest.mark.parametrize(
    ("replies", "hang_up_after", "refused", "code"),
    [
        ({"MAIL": "554 5.7.1 go away"}, "MAIL", smtplib.SMTPSenderRefused, 554),
        ({"RCPT": "550 5.1.1 no such mailbox"}, "RCPT", smtplib.SMTPRecipientsRefused, 550),
        ({"MAIL": "550 5.7.1 sender refused", "RCPT": "421 4.3.2 closing"}, "RCPT", smtplib.SMTPSenderRefused, 550),
    ],
    ids=["sender-refused-then-hang-up", "recipient-refused-then-hang-up", "sender-refused-then-421"],
)
def test_a_refusal_is_reported_with_its_own_code_when_the_server_hangs_up_after_it(
    pipelining, replies, hang_up_after, refused, code
):
    server = ScriptedServer(replies, pipelining=pipelining, hang_up_after=hang_up_after)
    connection = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    try:
        with pytest.raises(refused) as raised:
            smtp_transaction(connection, "shop@example.com", "ada@example.com", TRICKY, eight_bit=False)
    finally:
        connection.close()
        server.close()

    error = raised.value
    # The refusal's own code, so a 5xx stays final (delivery.py retries 4xx and lost connections).
    assert (error.smtp_code if refused is smtplib.SMTPSenderRefused else error.recipients["ada@example.com"][0]) == code


def test_a_server_that_takes_data_after_refusing_the_recipient_gets_an_empty_message_then_a_reset():
    # RFC 2920 says DATA must then be refused; a server that answers 354 instead is in the middle of a message.
    server = ScriptedServer(
        {"RCPT": "550 5.1.1 no such mailbox", "DATA": "354 go ahead"}, pipelining=True, hang_up_after="RSET"
    )
    connection = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp_transaction(connection, "shop@example.com", "ada@example.com", TRICKY, eight_bit=False)
    finally:
        connection.close()
        server.close()

    # The message is ended at once, with nothing of the email in it, before the reset.
    assert server.received == ["EHLO", "MAIL", "RCPT", "DATA", ".", "RSET"]
