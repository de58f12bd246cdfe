"""The plain-text part of an email, generated from its HTML (pure).

Mail clients that show text only, and spam filters that compare both parts, expect the same words in both: so
the text is derived from the final HTML rather than written twice. Links become "text (url)"; hidden elements
(the preheader, the open pixel) and style/script contents are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "table", "tr", "ul", "ol", "blockquote", "section", "header", "footer"}
SKIPPED = {"style", "script", "head", "title"}


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.hidden_depth = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        style = (attributes.get("style") or "").replace(" ", "").lower()
        if tag in SKIPPED:
            self.skip_depth += 1
        elif self.hidden_depth or "display:none" in style:
            if tag not in {"br", "img", "hr"}:
                self.hidden_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in BLOCKS or tag == "td":
            self.parts.append("\n\n" if tag in BLOCKS else " ")
        elif tag == "a":
            self.links.append(attributes.get("href"))
        elif tag == "img" and attributes.get("alt"):
            self.parts.append(attributes["alt"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skip_depth = max(self.skip_depth - 1, 0)
        elif self.hidden_depth:
            self.hidden_depth -= 1
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and href.startswith(("http://", "https://")):
                self.parts.append(f" ({href})")
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth and not self.hidden_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    text = "".join(writer.parts)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
