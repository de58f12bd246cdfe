"""Pure parts of email assembly: subjects survive RFC 2047 encoding, the text part says what the HTML says."""

from email import message_from_bytes, policy

from hypothesis import given
from hypothesis import strategies as st

from sequences.email_assembly import encoded_header
from sequences.email_text import html_to_text

subjects = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200)
    .map(lambda text: " ".join(text.split()))
    .filter(bool)
)


@given(subjects)
def test_any_subject_reads_back_the_same_and_keeps_lines_short(subject):
    header = encoded_header(subject)
    parsed = message_from_bytes(f"Subject: {header}\r\n\r\nbody".encode(), policy=policy.default)

    assert parsed["Subject"] == subject
    if not subject.isascii():
        assert all(len(line) <= 78 for line in f"Subject: {header}".split("\r\n"))


def test_the_text_part_keeps_words_links_and_paragraphs_and_drops_hidden_parts():
    html = (
        "<html><head><style>p { color: red }</style></head><body>"
        '<div style="display:none;max-height:0">Preheader only for the inbox list</div>'
        "<p>Hi Ada,\n   you stopped at <strong>Headphones</strong>.</p>"
        '<p>Finish <a href="https://shop.example.com/cart?a=1&amp;b=2">here</a><br>Thanks</p>'
        "<ul><li>One</li><li>Two</li></ul>"
        '<img src="https://t.example.com/o.gif" width="1" height="1" alt="">'
        "<p>Tom &amp; Jerry &lt;3</p></body></html>"
    )

    assert html_to_text(html) == (
        "Hi Ada, you stopped at Headphones.\n\n"
        "Finish here (https://shop.example.com/cart?a=1&b=2)\nThanks\n\n"
        "- One\n- Two\n\n"
        "Tom & Jerry <3\n"
    )
