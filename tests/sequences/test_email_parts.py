"""Pure parts of email assembly: subjects survive RFC 2047 encoding, the text part says what the HTML says."""

import base64
import re
import sys
from email import message_from_bytes, policy

import pytest
from django.template.loader import get_template
from django.utils.safestring import mark_safe
from hypothesis import given
from hypothesis import strategies as st

from sequences.copy_templates import render_copy_template
from sequences.email_assembly import (
    BODY_TAGS,
    COPY_CSS,
    INLINER,
    LAYOUT_WHITESPACE,
    NOT_PLAIN,
    OPENING_TAGS,
    URL,
    EmailCopy,
    RenderedCopy,
    _clean,
    _paragraphs,
    layout_html,
    product_price,
    render_copy,
    render_field,
)
from sequences.email_text import collapse_whitespace, html_to_text
from sequences.mime_message import base64_lines, encoded_header

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


def _whole_layout(rendered, *, brand, product, unsubscribe_url, view_in_browser_url):
    """The reference: the whole layout rendered by Django's template engine, then every CSS rule inlined and the
    layout's line breaks made spaces (these copies have none of their own)."""
    html = get_template("email/layout.html").render(
        {
            "subject": rendered.subject,
            "preheader": rendered.preheader,
            "opening": mark_safe(rendered.opening_html),  # noqa: S308  (a test's own fragment)
            "body": mark_safe(rendered.body_html),  # noqa: S308
            "cta_text": rendered.cta_text,
            "cta_url": rendered.cta_url,
            "brand": brand,
            "postal_address": brand.get("postal_address", ""),
            "product": product,
            "product_price": product_price(product),
            "unsubscribe_url": unsubscribe_url,
            "view_in_browser_url": view_in_browser_url,
            "copy_css": COPY_CSS % brand["color"],
        }
    )
    return LAYOUT_WHITESPACE.sub(" ", INLINER.inline(html))


BRAND = {
    "name": "Shop & Co",
    "logo_url": "",
    "color": "#112233",
    "website_url": "https://shop.example.com",
    "postal_address": "1 Main St\nSpringfield",
}
PRODUCT = {
    "name": "Head <phones>",
    "image_url": "https://cdn.example.com/p.jpg",
    "url": "https://shop.example.com/p",
    "variant": "Black",
    "size": "",
    "price": 249.5,
    "currency": "EUR",
}


@pytest.mark.parametrize(
    ("copy", "product", "brand"),
    [
        (
            RenderedCopy(
                "Hi",
                "Pre",
                "Hi <strong>Ada</strong>",
                '<p>One</p><p>Two <a href="https://x.example">x</a></p>',
                "Buy",
                "https://x.example/buy",
            ),
            PRODUCT,
            BRAND,
        ),
        (
            RenderedCopy("Hi", "", "", "<p>Only body</p>", "", ""),
            {},
            {**BRAND, "logo_url": "https://cdn.example.com/logo.png", "postal_address": ""},
        ),
        (
            RenderedCopy("Ünïcode & <b>", "x", "", "<ul><li>a</li></ul>", "Go", ""),
            {**PRODUCT, "image_url": "", "url": ""},
            BRAND,
        ),
    ],
)
def test_the_layout_filled_from_its_cached_shape_equals_rendering_the_whole_layout(copy, product, brand):
    links = {"unsubscribe_url": "https://t.example/u/abc/", "view_in_browser_url": "https://t.example/t/v/abc/"}

    # The cached layout's long lines are broken at spaces between tags, which render the same.
    assert layout_html(copy, brand=brand, product=product, **links).replace("\n", " ") == _whole_layout(
        copy, brand=brand, product=product, **links
    )


@given(st.text(st.characters(blacklist_characters="{", blacklist_categories=("Cs",)), max_size=300), st.booleans())
def test_text_without_template_syntax_renders_as_the_sandbox_would(source, html):
    assert render_field(source, {}, html=html) == render_copy_template(source, {}, html=html)


WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(code))]


def test_str_split_and_the_regular_expression_know_the_same_whitespace():
    assert [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()] == WHITESPACE


@given(st.text(st.sampled_from(WHITESPACE) | st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_whitespace_collapses_as_the_regular_expression_did(text):
    assert collapse_whitespace(text) == re.sub(r"\s+", " ", text)


@given(st.binary(max_size=2000))
def test_base64_lines_are_what_the_standard_library_writes(data):
    assert base64_lines(data) == base64.encodebytes(data).decode("ascii").replace("\n", "\r\n").rstrip("\r\n")


plain_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300).filter(
    lambda text: not NOT_PLAIN.search(text)
)
copy_text = st.lists(
    st.sampled_from(
        ["word", " ", "\n", "\n\n", "'", '"', "é", "\t", "\ufeff", "\x01", "\x0c", "\u2028", "https:", "//", ":99999"]
    ),
    max_size=40,
).map("".join)


@given(plain_text)
def test_plain_text_is_what_the_sanitiser_would_make_of_it(text):
    assert _clean(text, OPENING_TAGS) == text


@given((copy_text | plain_text).filter(lambda text: not NOT_PLAIN.search(text) and not URL.search(text)))
def test_paragraphs_of_plain_text_without_links_are_what_the_sanitiser_would_make_of_them(text):
    html = _paragraphs(text)

    assert _clean(html, BODY_TAGS) == html


def test_copy_with_a_link_still_goes_through_the_sanitiser():
    copy = EmailCopy(subject="Hi", body="Back at https://shop.example.com:99999/x soon")

    assert "href" not in render_copy(copy, {}).body_html  # nh3 drops what it cannot parse as a URL
