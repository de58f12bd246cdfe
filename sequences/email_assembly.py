"""Email assembly: a copy variant rendered in the sandbox, laid out in the brand's responsive HTML, CSS inlined,
links tracked, open pixel, plain-text part from the HTML, and one-click unsubscribe headers.

Trust boundaries: the copy is marketer-authored (rendered by copy_templates' sandbox, then sanitised with nh3 so
no script, event handler or javascript: link survives); contact and event data are escaped by the sandbox's
autoescaping; the layout is ours (a Django template, never editable from the app).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from html import escape, unescape

import css_inline
import nh3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.template.loader import get_template
from django.utils.safestring import mark_safe

from sequences.copy_template_limits import MAX_SOURCE_CHARS, do_money
from sequences.copy_templates import render_copy_template
from sequences.email_text import html_to_text
from sequences.mime_message import mime_bytes, short_html_lines
from sequences.tracking_links import click_url, open_url

BODY_TAGS = frozenset(
    {"p", "br", "a", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h2", "h3", "blockquote", "img", "span"}
)
OPENING_TAGS = frozenset({"strong", "b", "em", "i", "a", "br", "span"})
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}
URL = re.compile(r"https?://[^\s<>\"')\]]+")
TAG = re.compile(r"<[a-zA-Z/!]")
# Text without these comes out of the sanitiser as it went in (property-tested), so it skips nh3 (~5% of a send).
NOT_PLAIN = re.compile(r"[<>&\r\0\xa0\ufeff]")
ANCHOR = re.compile(r"<a\b([^>]*?)\bhref=\"([^\"]*)\"([^>]*)>")
LAYOUT_WHITESPACE = re.compile(r"[ \t]*\n\s*")
LAYOUT_LINE = 700
INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True, slots=True)
class EmailCopy:
    """A variant's templates (subject, preheader, opening line, body, call to action)."""

    subject: str
    preheader: str = ""
    opening: str = ""
    body: str = ""
    cta_text: str = ""
    cta_url: str = ""


@dataclass(frozen=True, slots=True)
class RenderedCopy:
    subject: str
    preheader: str
    opening_html: str
    body_html: str
    cta_text: str
    cta_url: str


def render_field(source: str, context: dict, *, html: bool) -> str:
    """One copy field. Text without a single "{" has no tag, value or comment: it renders to itself (with the
    template engine's newline rules), so the sandbox is skipped; many fields of most emails are like that."""
    if "{" not in source and len(source) <= MAX_SOURCE_CHARS:
        text = source.replace("\r\n", "\n").replace("\r", "\n")
        return text[:-1] if text.endswith("\n") else text
    return render_copy_template(source, context, html=html)


def render_copy(copy: EmailCopy, context: dict) -> RenderedCopy:
    """Render every field in the sandbox (raises copy_templates.CopyTemplateError on a limit or a broken template)."""
    subject = " ".join(render_field(copy.subject, context, html=False).split())
    opening = render_field(copy.opening, context, html=True)
    body = render_field(copy.body, context, html=True)
    if TAG.search(body):
        body_html = _clean(body, BODY_TAGS)
    else:
        body_html = _paragraphs(body)
        # A link made from a URL keeps the sanitiser: it drops an href it cannot parse (e.g. a port > 65535).
        body_html = _clean(body_html, BODY_TAGS) if NOT_PLAIN.search(body) or URL.search(body) else body_html
    cta_url = render_field(copy.cta_url, context, html=False).strip()
    return RenderedCopy(
        # No line breaks: copy can never split a header in two.
        subject=subject[:300],
        preheader=" ".join(render_field(copy.preheader, context, html=False).split())[:300],
        opening_html=_clean(opening, OPENING_TAGS) if NOT_PLAIN.search(opening) else opening,
        body_html=body_html,
        cta_text=" ".join(render_field(copy.cta_text, context, html=False).split())[:100],
        cta_url=cta_url if cta_url.lower().startswith(("https://", "http://")) else "",
    )


def _paragraphs(text: str) -> str:
    """Plain-text copy (no tags): blank lines make paragraphs, URLs become links (text is already escaped)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(
        "<p>" + URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', p).replace("\n", "<br>") + "</p>"
        for p in paragraphs
    )


def _absolute_urls_only(tag: str, attribute: str, value: str) -> str | None:
    """A relative link or image would point at our own app (in the preview) or nowhere (in the inbox)."""
    if attribute in ("href", "src") and not value.lower().startswith(("https://", "http://", "mailto:")):
        return None
    return value


@cache
def _cleaner(tags: frozenset[str]) -> nh3.Cleaner:
    """A sanitiser built once per tag set: nh3.clean() builds its allow-lists again at every call (half its time)."""
    return nh3.Cleaner(
        tags=set(tags),
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        attribute_filter=_absolute_urls_only,
    )


def _clean(html: str, tags: frozenset[str]) -> str:
    return _cleaner(tags).clean(html)


def product_price(product: dict) -> str:
    """The product's price as the copy language's `money` filter prints it."""
    return do_money(product.get("price"), product.get("currency") or "USD")


# Rules for the copy inside the layout (marketer paragraphs and links). The layout's own <style> includes them
# too; they are applied to each email's copy separately, because the layout itself is inlined once per shape.
COPY_CSS = ".body p { margin: 0 0 14px 0; } a { color: %s; }"
BODY_CSS, OPENING_CSS = "p { margin: 0 0 14px 0; } a { color: %s; }", "a { color: %s; }"  # the same, for fragments
SLOT = re.compile(r"TRIGGERAPPSLOT([a-z_]+)END")
HTML_SLOTS = {"opening", "body"}


def _slot(name: str) -> str:
    return f"TRIGGERAPPSLOT{name}END"


@lru_cache(maxsize=256)
def _skeleton(shape: tuple, brand: tuple) -> tuple[str, ...]:
    """The layout for one shape of email (which optional blocks it has) and brand, CSS inlined, cut at its slots:
    even-numbered parts are HTML, odd-numbered ones the names of the values that go between them.

    Rendering the Django template and inlining its CSS took about half of an email's assembly time; per shape
    and brand it is done once, and each email only fills the slots."""
    has = dict(shape)
    brand_values = dict(brand)
    context = {
        name: _slot(name) if has.get(name) else ""
        for name in ("subject", "preheader", "cta_text", "cta_url", "product_price", "unsubscribe_url")
    }
    product = {key: _slot(f"product_{key}") if has.get(f"product_{key}") else "" for key in PRODUCT_SLOTS}
    html = get_template("email/layout.html").render(
        {
            **context,
            "opening": mark_safe(_slot("opening")) if has.get("opening") else "",  # noqa: S308  (our own token)
            "body": mark_safe(_slot("body")),  # noqa: S308  (our own token)
            "view_in_browser_url": _slot("view_in_browser_url") if has.get("view_in_browser_url") else "",
            "brand": brand_values,
            "postal_address": brand_values.get("postal_address", ""),
            "product": product,
            "copy_css": COPY_CSS % brand_values.get("color", "#1d4ed8"),
        }
    )
    # The template's line breaks and indentation render as one space each (the layout has no <pre>): one space
    # instead makes the email a few dozen lines shorter as sent, and lines of ~700 octets leave room for the
    # slots' values under SMTP's 998 (sequences/mime_message.py).
    return tuple(SLOT.split(short_html_lines(LAYOUT_WHITESPACE.sub(" ", INLINER.inline(html)), LAYOUT_LINE)))


PRODUCT_SLOTS = ("name", "image_url", "url", "variant", "size")


def layout_html(
    rendered: RenderedCopy, *, brand: dict, product: dict, unsubscribe_url: str, view_in_browser_url: str
) -> str:
    """The brand's responsive layout around the copy, CSS inlined (media queries kept for mobile clients)."""
    values = {
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "cta_text": rendered.cta_text if rendered.cta_url else "",
        "cta_url": rendered.cta_url if rendered.cta_text else "",
        "product_price": product_price(product),
        "unsubscribe_url": unsubscribe_url,
        "view_in_browser_url": view_in_browser_url,
        **{f"product_{key}": str(product.get(key) or "") for key in PRODUCT_SLOTS},
    }
    shape = (*sorted((name, bool(value)) for name, value in values.items()), ("opening", bool(rendered.opening_html)))
    parts = _skeleton(shape, tuple(sorted(brand.items())))
    color = brand.get("color") or "#1d4ed8"
    html_values = {
        "opening": css_inline.inline_fragment(rendered.opening_html, OPENING_CSS % color)
        if rendered.opening_html
        else "",
        "body": css_inline.inline_fragment(rendered.body_html, BODY_CSS % color) if rendered.body_html else "",
    }
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part in HTML_SLOTS:
            out.append(html_values[part])
        else:
            # Escaped as an HTML serialiser does, by where the slot sits: inside a tag (an attribute) or in text.
            escape_value = _escape_attribute if _inside_tag(parts, index) else _escape_text
            out.append(escape_value(values[part]))
    return "".join(out)


def _inside_tag(parts: tuple[str, ...], slot_index: int) -> bool:
    """Whether a slot sits inside a tag (an attribute value): the nearest < or > before it says."""
    for literal in parts[slot_index - 1 :: -2]:
        opened, closed = literal.rfind("<"), literal.rfind(">")
        if opened != closed:  # at least one of them is in this part
            return opened > closed
    return False


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


def track_links(html: str, message_pk: int, *, known_links: list[str] | None = None) -> tuple[str, list[str]]:
    """Point every link (except unsubscribe and view-in-browser) at the signed click tracker.

    With `known_links` (a sent email shown again), only those URLs are tracked, by their original index, and no
    open pixel is added; otherwise the open pixel goes in and the list of links is built here.
    """
    links: list[str] = list(known_links) if known_links is not None else []

    def tracked(match: re.Match) -> str:
        before, href, after = match.groups()
        url = unescape(href)
        if "data-untracked" in before + after or not url.lower().startswith(("https://", "http://")):
            return match.group(0)
        if url not in links:
            if known_links is not None:
                return match.group(0)
            links.append(url)
        return f'<a{before}href="{escape(click_url(message_pk, links.index(url)))}"{after}>'

    html = ANCHOR.sub(tracked, html)
    if known_links is not None:
        return html, links
    pixel = f'<img src="{escape(open_url(message_pk))}" width="1" height="1" alt="" style="border:0">'
    return html.replace("</body>", pixel + "</body>", 1), links


@dataclass(frozen=True, slots=True)
class AssembledEmail:
    from_email: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    links: list[str]

    @property
    def message_id_header(self) -> str:
        return self.headers["Message-ID"]

    def as_django_email(self) -> EmailMultiAlternatives:
        """For any Django email backend (django-anymail ESPs, the database outbox)."""
        email = EmailMultiAlternatives(
            subject=self.subject, body=self.text, from_email=self.from_email, to=[self.to], headers=dict(self.headers)
        )
        email.attach_alternative(self.html, "text/html")
        return email

    def as_bytes(self, *, eight_bit: bool = False) -> bytes:
        """The raw MIME message (sequences/mime_message.py); `eight_bit` if the server takes 8BITMIME."""
        return mime_bytes(
            from_email=self.from_email,
            to=self.to,
            subject=self.subject,
            headers=self.headers,
            text=self.text,
            html=self.html,
            eight_bit=eight_bit,
        )


def assemble_email(
    *, message_pk: int, to: str, from_email: str, html: str, subject: str, unsubscribe_url: str
) -> AssembledEmail:
    """The email as sent: tracked links and pixel in the HTML, the text part from that HTML, unsubscribe headers."""
    tracked_html, links = track_links(html, message_pk)
    domain = settings.PUBLIC_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "triggerapp.local"
    return AssembledEmail(
        from_email=from_email,
        to=to,
        subject=subject,
        text=html_to_text(tracked_html),
        html=tracked_html,
        headers={
            "Message-ID": make_msgid(idstring=f"m{message_pk}", domain=domain),
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        links=links,
    )
