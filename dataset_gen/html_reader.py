"""HTML (and the XHTML chapters of an EPUB) as Markdown, with lxml.html.

What a reader of the page reads is kept, in order: ``h1``–``h6`` become ``#`` headings, ``p``,
``div`` and the other block elements paragraphs, ``ul``/``ol`` tight lists (``- `` / ``1. ``, four
spaces per level), ``table`` pipe tables (``colspan``/``rowspan`` cells filled with empty cells,
so nothing repeats), ``pre`` fenced code blocks (so its ``# comment`` lines are not headings),
``blockquote`` ``> `` lines, ``hr`` a ``---`` rule, ``br`` a line break, inline ``code`` in
backticks. Links, emphasis and spans keep their text only; images are left out.

Left out as not being the content: ``script``, ``style``, ``noscript``, ``template``, ``head`` and
elements marked ``hidden``; ``nav`` and ``role="navigation"``; the page's own ``header`` and
``footer`` (those not inside an ``article``, ``section``, ``main`` or ``aside``, HTML Living
Standard §4.3.8–4.3.9: inside an article they hold its title and byline) and ``role="banner"`` /
``role="contentinfo"``. When the page marks its main content (one ``main`` element or
``role="main"``) only that is read. How many characters were left out is said in a warning.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from .markdown_table import pipe_table

__all__ = ["html_blocks", "parse_html", "read_html"]

_DROP = {"script", "style", "noscript", "template", "head", "nav", "iframe", "object", "svg", "math",
         "button", "select", "input", "textarea", "form", "img", "video", "audio", "canvas", "map"}
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search"}
_SECTIONING = {"article", "section", "main", "aside"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "div", "section", "article", "main", "aside", "header", "footer", "address", "figure",
           "figcaption", "details", "summary", "dl", "dt", "dd", "body", "html", "center", "fieldset",
           "legend", "caption", "hgroup", "dialog", "search", "li", "td", "th", "tr", "tbody", "thead"}
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")
_HEADING_LIKE_RE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$))", re.M)
_BR = "\x00br\x00"


def parse_html(text: str):
    """The ``<html>`` element of ``text`` (a decoded HTML or XHTML document; an XML declaration
    is allowed), parsed leniently by libxml2's HTML parser without network access."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    return lxml.html.document_fromstring(text or "<html></html>", parser=parser)


def _tag(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _boilerplate(el) -> bool:
    """``True`` for an element that is page furniture rather than content (see the module text)."""
    tag = _tag(el)
    if tag in _DROP or el.get("hidden") is not None or (el.get("aria-hidden") or "").lower() == "true":
        return True
    if (el.get("role") or "").lower() in _DROP_ROLES:
        return True
    if tag in ("header", "footer"):
        return not any(_tag(a) in _SECTIONING for a in el.iterancestors())
    return False


def _content_root(html):
    """The element holding the main content: the one ``main``/``role="main"`` when it has text,
    else ``body`` (or the whole document when it has none)."""
    mains = [el for el in html.iter() if _tag(el) == "main" or (el.get("role") or "").lower() == "main"]
    if len(mains) == 1 and (mains[0].text_content() or "").strip():
        return mains[0]
    body = next((el for el in html.iter() if _tag(el) == "body"), None)
    return body if body is not None else html


def _fenced(text: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


class _Converter:
    """Collects the Markdown blocks of one element tree; ``dropped`` counts the characters of
    text left out as boilerplate."""

    def __init__(self, level: int = 0):
        self.out: list[str] = []
        self.inline: list[str] = []
        self.level = level  # list nesting depth of the items being read
        self.dropped = 0

    def flush(self) -> None:
        text = _SPACE_RE.sub(" ", "".join(self.inline)).replace(_BR, "\n")
        text = "\n".join(line.strip() for line in text.split("\n")).strip("\n ")
        if text:
            self.out.append(_HEADING_LIKE_RE.sub(r"\1\\\2", text))
        self.inline = []

    def text(self, value: str | None) -> None:
        if value:
            self.inline.append(value)

    def children(self, el) -> None:
        self.text(el.text)
        for child in el:
            self.walk(child)
            self.text(child.tail)

    def walk(self, el) -> None:
        tag = _tag(el)
        if not tag:  # comment or processing instruction: only its tail counts (read by the caller)
            return
        if _boilerplate(el):
            self.dropped += len(" ".join((el.text_content() or "").split())) if tag not in ("head", "script",
                                                                                             "style") else 0
            return
        if tag in _HEADINGS:
            self.flush()
            title = self.one_line(el)
            if title:
                self.out.append("#" * _HEADINGS[tag] + " " + title)
        elif tag == "pre":
            self.flush()
            code = el.text_content().strip("\n")
            if code.strip():
                language = next((c[9:] for c in (el.get("class") or "").split() if c.startswith("language-")), "")
                if not language:
                    inner = next((c for c in el if _tag(c) == "code"), None)
                    classes = (inner.get("class") or "").split() if inner is not None else []
                    language = next((c[9:] for c in classes if c.startswith("language-")), "")
                self.out.append(_fenced(code, language))
        elif tag in ("ul", "ol"):
            self.flush()
            lines = self.list_lines(el)
            if lines:
                self.out.append("\n".join(lines))
        elif tag == "table":
            self.flush()
            table = self.table(el)
            if table:
                self.out.append(table)
        elif tag == "blockquote":
            self.flush()
            inner = self.sub(el)
            if inner:
                self.out.append("\n".join("> " + line if line else ">" for line in "\n\n".join(inner).split("\n")))
        elif tag == "hr":
            self.flush()
            self.out.append("---")
        elif tag == "br":
            self.inline.append(_BR)
        elif tag == "code":
            code = " ".join(el.text_content().split())
            if code:
                longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
                tick = "`" * (longest + 1)
                pad = " " if code.startswith("`") or code.endswith("`") else ""
                self.inline.append(f"{tick}{pad}{code}{pad}{tick}")
        elif tag in _BLOCKS:
            self.flush()
            self.children(el)
            self.flush()
        else:
            self.children(el)

    def sub(self, el, level: int | None = None) -> list[str]:
        """The blocks of ``el``'s content, read by a fresh converter (its drop count is kept)."""
        conv = _Converter(self.level if level is None else level)
        conv.children(el)
        conv.flush()
        self.dropped += conv.dropped
        return conv.out

    def one_line(self, el) -> str:
        return " ".join(" ".join(self.sub(el)).split())

    def list_lines(self, el) -> list[str]:
        ordered = _tag(el) == "ol"
        number = int(el.get("start")) if (el.get("start") or "").lstrip("-").isdigit() else 1
        indent = "    " * self.level
        lines: list[str] = []
        for li in el:
            if _tag(li) != "li":
                if _tag(li) in ("ul", "ol"):  # a list nested directly in a list (invalid, common)
                    lines.extend(_Converter(self.level + 1).list_lines(li))
                continue
            if _boilerplate(li):
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            blocks = self.sub(li, self.level + 1)
            if not blocks:
                continue
            pad = indent + " " * len(marker)
            first, *rest = blocks
            item = indent + marker + first.replace("\n", "\n" + pad)
            for block in rest:
                nested = block.startswith("    " * (self.level + 1)) and block.lstrip().startswith(("- ", "1"))
                item += "\n" + (block if nested else pad + block.replace("\n", "\n" + pad))
            lines.append(item)
        return lines

    def table(self, el) -> str:
        rows: list[list[str]] = []
        pending: dict[int, int] = {}  # column -> rows still covered by a rowspan above
        for tr in el.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr|./*[local-name()='tr']"):
            row: list[str] = []
            col = 0
            for cell in tr:
                if _tag(cell) not in ("td", "th"):
                    continue
                while pending.get(col, 0) > 0:
                    pending[col] -= 1
                    row.append("")
                    col += 1
                span = max(1, min(_int(cell.get("colspan"), 1), 64))
                down = max(1, min(_int(cell.get("rowspan"), 1), 1000))
                row.append(self.one_line(cell).replace("|", "\\|"))
                row.extend([""] * (span - 1))
                for c in range(col, col + span):
                    if down > 1:
                        pending[c] = down - 1
                col += span
            while pending.get(col, 0) > 0:
                pending[col] -= 1
                row.append("")
                col += 1
            rows.append(row)
        rows = [r for r in rows if any(c.strip() for c in r)]
        if not rows:
            return ""
        return pipe_table(rows)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def html_blocks(html) -> tuple[list[str], int]:
    """``(blocks, dropped)``: the Markdown blocks of the main content of ``html`` (an element
    from :func:`parse_html`) and how many characters of text were left out as boilerplate
    (navigation, page header and footer, text outside ``main``)."""
    root = _content_root(html)
    conv = _Converter()
    conv.walk(root)
    conv.flush()
    dropped = conv.dropped
    body = next((el for el in html.iter() if _tag(el) == "body"), None)
    if body is not None and root is not body:
        dropped = max(dropped, len(" ".join((body.text_content() or "").split()))
                      - len(" ".join((root.text_content() or "").split())))
    return conv.out, dropped


def html_title(html) -> str:
    """The document's ``<title>`` text, whitespace collapsed, or ``""``."""
    for el in html.iter():
        if _tag(el) == "title":
            return " ".join((el.text_content() or "").split())
    return ""


def read_html(text: str, name: str) -> tuple[str, tuple[str, ...]]:
    """``(markdown, warnings)`` for a decoded HTML page ``text``; ``name`` is for messages.

    The page's ``<title>`` opens the text as a ``#`` heading when the content has no ``h1``.
    ``warnings`` holds one line when text was left out as navigation, header or footer. The
    Markdown is not cleaned yet (the caller applies ``clean_text``). Raises nothing for malformed
    HTML (libxml2 repairs it); ``etree.ParserError`` only for input with no element at all.
    """
    try:
        html = parse_html(text)
    except (etree.ParserError, ValueError):
        return "", ()
    blocks, dropped = html_blocks(html)
    title = html_title(html)
    if title and not any(b.startswith("# ") for b in blocks):
        blocks.insert(0, "# " + title)
    warnings: tuple[str, ...] = ()
    if dropped:
        plural = "s" if dropped != 1 else ""
        warnings = (f"left out {dropped:,} character{plural} of navigation, page header and footer (not the "
                    "page's main content)",)
    return "\n\n".join(blocks), warnings
