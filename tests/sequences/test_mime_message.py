"""The raw MIME message: what goes unencoded still reads back as written, and no line passes SMTP's limit."""

from email import message_from_bytes, policy

from hypothesis import given
from hypothesis import strategies as st

from sequences.mime_message import MAX_LINE, mime_bytes


def _send(text: str, html: str, *, eight_bit: bool = True):
    raw = mime_bytes(
        from_email="shop@example.com",
        to="ada@example.com",
        subject="Hi",
        headers={"Message-ID": "<m1@example.com>"},
        text=text,
        html=html,
        eight_bit=eight_bit,
    )
    parsed = message_from_bytes(raw, policy=policy.default)
    encodings = [part["Content-Transfer-Encoding"] for part in parsed.iter_parts()]
    return raw, parsed, encodings


def _read(parsed, kind: str) -> str:
    # An unencoded part reads back in SMTP's CRLF lines; the content had no CR of its own.
    return parsed.get_body((kind,)).get_content().replace("\r\n", "\n")


@given(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=3000),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    st.booleans(),
)
def test_any_text_reads_back_exactly_and_every_line_fits_smtp(html, text, eight_bit):
    html, text = html.replace("\r", ""), text.replace("\r", "")

    raw, parsed, _ = _send(text, html, eight_bit=eight_bit)

    assert _read(parsed, "plain") == text
    assert _read(parsed, "html") == html
    assert max(map(len, raw.split(b"\r\n"))) <= MAX_LINE
    assert raw.isascii() or eight_bit


def test_short_lines_go_as_written():
    raw, parsed, encodings = _send("Hi Ada,\n\nyour cart waits.\n", "<p>Hi Ada — your cart</p>")

    assert encodings == ["7bit", "8bit"]
    assert "<p>Hi Ada — your cart</p>".encode() in raw
    assert _read(parsed, "html") == "<p>Hi Ada — your cart</p>"


def test_a_long_html_line_is_broken_between_tags_where_a_break_renders_as_the_space_it_replaces():
    html = "<div>" + "".join(f'<p class="x y">Word {n} and more words</p> ' for n in range(400)) + "</div>"

    raw, parsed, encodings = _send("", html)

    assert encodings[1] == "7bit"
    assert max(map(len, raw.split(b"\r\n"))) <= MAX_LINE
    read = _read(parsed, "html")
    assert read != html
    assert read.replace("\n", " ") == html
    # every break is outside a tag: each line starts and ends with whole tags or text
    assert all(line.count("<") == line.count(">") for line in read.split("\n"))


def test_what_cannot_be_broken_safely_goes_as_base64():
    no_space = '<a href="https://shop.example.com/' + "x" * 2000 + '">Go</a>'
    preformatted = "<pre>" + "word " * 400 + "</pre>"
    long_text_line = "word " * 400

    for text, html in ((long_text_line, "<p>ok</p>"), ("ok", no_space), ("ok", preformatted)):
        _, parsed, encodings = _send(text, html)
        assert "base64" in encodings
        assert (_read(parsed, "plain"), _read(parsed, "html")) == (text, html)


def test_without_8bitmime_everything_is_base64():
    raw, parsed, encodings = _send("Hi", "<p>Ünïcode</p>", eight_bit=False)

    assert encodings == ["base64", "base64"]
    assert raw.isascii()
    assert _read(parsed, "html") == "<p>Ünïcode</p>"


def test_a_break_never_falls_inside_a_tag_even_where_a_quoted_value_holds_a_greater_than_sign():
    image = '<img alt="Sale > 50 percent off everything" src="https://cdn.example.com/summer sale.png">'
    # The 998th octet falls near the end of the image tag, after the ">" in its alt text.
    html = "<p>" + "x" * (MAX_LINE - 8 - len(image) + 10) + "</p> " + image + " <p>after</p>"

    _, parsed, encodings = _send("", html)

    assert encodings[1] == "7bit"
    assert image in _read(parsed, "html")


def test_a_long_paragraph_is_broken_between_its_words_and_stays_unencoded():
    html = "<p>" + "word " * 600 + "end</p>"

    _, parsed, encodings = _send("", html)

    assert encodings[1] == "7bit"
    assert _read(parsed, "html").replace("\n", " ") == html
