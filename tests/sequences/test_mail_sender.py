"""The SMTP dialogue itself, against a real aiosmtpd server: pipelined where offered, byte-exact either way."""

import smtplib

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
    assert [email["To"] for email in smtp_sink.messages] == ["ada@example.com", "ada@example.com"]


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
