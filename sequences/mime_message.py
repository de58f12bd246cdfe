"""The raw MIME message for an SMTP send, written out directly (~10x faster than Django's modern-API message,
which matters at hundreds of emails a second: bench/send.py).

Every header value here is ours (addresses validated on ingest, the subject an RFC 2047 word), so no
general-purpose generator is needed. Parts go as they are (7bit/8bit, RFC 6152) when the server takes 8-bit
bodies and every line fits SMTP's 998 octets, else as base64: an email as written is a quarter smaller and has a
third as many lines, and a mail server's work is per line (aiosmtpd's 0.94 ms an email in bench/send.py).
"""

from __future__ import annotations

import base64
import re
import secrets
from email.utils import formatdate

MAX_LINE = 998  # octets, without CRLF (RFC 5321 4.5.3.1.6)


def mime_bytes(
    *, from_email: str, to: str, subject: str, headers: dict[str, str], text: str, html: str, eight_bit: bool
) -> bytes:
    """multipart/alternative with UTF-8 text and HTML parts and CRLF line ends. With `eight_bit` (the server
    said 8BITMIME) a part may be sent unencoded: the result is then not ASCII, and the MAIL command needs
    BODY=8BITMIME."""
    boundary = f"=_{secrets.token_hex(12)}"
    head = {
        "From": from_email,
        "To": to,
        "Subject": encoded_header(subject),
        "Date": formatdate(),
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/alternative; boundary="{boundary}"',
        **headers,
    }
    out = [f"{name}: {value}".encode("ascii") for name, value in head.items()] + [b""]
    for mimetype, content, is_html in (("text/plain", text, False), ("text/html", html, True)):
        data = content.encode("utf-8")
        body = unencoded_lines(data, html=is_html) if eight_bit else None
        if body is None:
            encoding, body = "base64", base64_lines(data).encode("ascii")
        else:
            encoding = "7bit" if data.isascii() else "8bit"
        out += [  # the CRLF before the next boundary belongs to the boundary (RFC 2046): no blank line
            f"--{boundary}".encode("ascii"),
            f'Content-Type: {mimetype}; charset="utf-8"'.encode("ascii"),
            f"Content-Transfer-Encoding: {encoding}".encode("ascii"),
            b"",
            body,
        ]
    out += [f"--{boundary}--".encode("ascii"), b""]
    return b"\r\n".join(out)


def unencoded_lines(data: bytes, *, html: bool) -> bytes | None:
    """`data` as CRLF lines of at most 998 octets, or None if it cannot go unencoded.

    HTML lines that are too long are broken at a space between tags, where a line break and a space render
    the same (our layout and the sanitised copy have no <pre> or <textarea>, where they would not; a space
    inside a tag, even in a quoted value holding a ">", is never used). Text is never re-broken: a text line
    that is too long sends the part as base64."""
    if b"\r" in data or b"\0" in data:
        return None
    lines = data.split(b"\n")
    if html and max(map(len, lines)) > MAX_LINE:
        lower = data.lower()
        if b"<pre" in lower or b"<textarea" in lower or b"white-space" in lower:
            return None
        lines = [piece for line in lines for piece in _break_html_line(line)]
    if max(map(len, lines)) > MAX_LINE:
        return None
    return b"\r\n".join(lines)


def short_html_lines(html: str, width: int) -> str:
    """`html` with long lines broken (as below) at about `width` octets. The email layout is broken so when it is
    built, once per shape and brand: an email's lines then fit without any work per email."""
    return "\n".join(
        piece.decode("utf-8") for line in html.encode("utf-8").split(b"\n") for piece in _break_html_line(line, width)
    )


def _break_html_line(line: bytes, width: int = MAX_LINE) -> list[bytes]:
    """`line` cut at spaces in text (outside every tag) into pieces of at most `width` octets, as far as it can
    be."""
    # The stretches of text between tags, found once; a break is the last space of the last stretch in reach.
    texts, position = [], 0
    for tag in TAG_SPAN.finditer(line):
        if tag.start() > position:
            texts.append((position, tag.start()))
        position = tag.end()
    texts.append((position, len(line)))
    pieces, start, index = [], 0, 0
    while len(line) - start > width:
        reach = start + width + 1
        while index + 1 < len(texts) and texts[index + 1][0] < reach:
            index += 1
        cut, back = -1, index
        while cut < 0 and back >= 0 and texts[back][1] > start:
            cut = line.rfind(b" ", max(texts[back][0], start), min(texts[back][1], reach))
            back -= 1
        if cut < 0:
            break  # no place to break: the caller finds the line too long and falls back to base64
        pieces.append(line[start:cut])
        start = cut + 1
    pieces.append(line[start:])
    return pieces


# A tag, its quoted attribute values included (a ">" inside quotes does not end it).
TAG_SPAN = re.compile(rb"<[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>")


def base64_lines(data: bytes) -> str:
    """Base64 in lines of 76 characters joined by CRLF, as base64.encodebytes writes them (which encodes each
    line on its own: a third slower for a whole email)."""
    encoded = base64.b64encode(data).decode("ascii")
    return "\r\n".join([encoded[start : start + 76] for start in range(0, len(encoded), 76)])


def encoded_header(value: str) -> str:
    """An RFC 2047 header value: ASCII as is, otherwise base64 encoded words of at most 42 bytes of UTF-8, cut
    between characters (the standard library's Header does the same, ~20x slower, at every send)."""
    if value.isascii():
        return value
    data, words, start = value.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + 42, len(data))  # 42 bytes -> 56 base64 characters + 12 of framing: lines under 78
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: cut before its character
            end -= 1
        words.append(data[start:end])
        start = end
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)
