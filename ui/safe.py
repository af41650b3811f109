"""Showing text from documents, file names, project names and models as text, never as markup.

Streamlit interprets Markdown (and its own directives: ``:red[…]``, ``:material/…:``, emoji
shortcodes, ``$…$``) in ``st.markdown``, ``st.caption``, alerts, and the labels of expanders,
buttons, checkboxes, metrics and progress bars. A Markdown image there makes the reader's browser
fetch its URL as soon as the page shows. So such text goes through :func:`md_escape` before it
joins a label, and longer text is shown with :func:`text_block` or :func:`highlighted` (our own
HTML, every piece escaped, inside a fixed template).
"""

from __future__ import annotations

import html
import re

# Punctuation that has a meaning somewhere in GitHub Markdown or Streamlit's directives, escaped
# wherever it appears. Left alone: ``- + =`` except at the start of a line (lists, setext rules),
# ``.`` except after a line's leading digits (ordered lists), ``_`` between letters or digits (GFM
# never makes intraword underscores emphasis), ``:`` before a space or the end (no directive or
# shortcode starts there), and punctuation that means nothing (, ; ' " / ? % @).
_ALWAYS = frozenset("\\`*{}[]()<>#!|~$&^")


# Streamlit turns bare web and mail addresses into links after Markdown is parsed, so escapes do not
# stop it (checked in Chromium with Streamlit 1.67); an invisible WORD JOINER (U+2060) after the
# scheme's colon, after "www" and before "@" does.
_LINKIFIED = re.compile(r"(?i)(\b(?:https?|ftp|file):(?=//)|\bwww(?=\.)|\w(?=@\w))")
WORD_JOINER = "\u2060"


def unlinked(text: str) -> str:
    """``text`` with a :data:`WORD_JOINER` where Streamlit would make an address a link; what a
    Markdown-rendering element shows for :func:`md_escape` ``(text)``."""
    return _LINKIFIED.sub(lambda m: m.group(1) + WORD_JOINER, text)


def md_escape(text: str) -> str:
    """``text`` with every character Markdown or Streamlit would interpret backslash-escaped, so
    a Markdown-rendering element shows it literally (CommonMark allows a backslash before any
    ASCII punctuation), and with a :data:`WORD_JOINER` where Streamlit would otherwise make an
    address a link (``http:⁠//``, ``www⁠.``, ``a⁠@b``): it looks the same and is not a link.
    Plain names stay readable: ``report_2024-v2.pdf`` is unchanged."""
    text = unlinked(text)
    out = []
    line_start = True  # only spaces or tabs since the start of the line
    digits = False  # only spaces or tabs, then digits, since the start of the line
    for i, ch in enumerate(text):
        after = text[i + 1] if i + 1 < len(text) else ""
        if (ch in _ALWAYS
                or (ch == "_" and not (i and text[i - 1].isalnum() and after.isalnum()))
                or (ch == ":" and after and not after.isspace())
                or (ch in "-+=" and line_start)
                or (ch == "." and digits)):
            out.append("\\")
        out.append(ch)
        if ch == "\n":
            line_start, digits = True, False
        elif ch.isdigit() and ch.isascii() and (line_start or digits):
            line_start, digits = False, True
        elif ch not in " \t" or not line_start:
            line_start = digits = False
    return "".join(out)


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (line breaks too) becomes one space."""
    return " ".join(text.split())


def text_block(rows: list[tuple[str, str]], test_id: str) -> str:
    """HTML for ``(label, value)`` rows, each value shown as text (escaped, line breaks kept); for
    ``st.html``. ``test_id`` becomes the block's ``data-testid``."""
    body = "".join(
        f"<p style='margin: 0 0 0.6rem 0'><strong>{html.escape(label)}</strong> "
        f"<span style='white-space: pre-wrap'>{html.escape(value)}</span></p>"
        for label, value in rows
    )
    return f"<div data-testid='{html.escape(test_id)}'>{body}</div>"


def highlighted(text: str, span: tuple[int, int] | None, test_id: str) -> str:
    """HTML showing ``text`` as text with ``text[span[0]:span[1]]`` in ``<mark>`` (no mark when
    ``span`` is ``None``); for ``st.html``. ``test_id`` becomes the block's ``data-testid``."""
    if span:
        body = (html.escape(text[: span[0]]) + "<mark>" + html.escape(text[span[0]: span[1]]) + "</mark>"
                + html.escape(text[span[1]:]))
    else:
        body = html.escape(text)
    return (f"<div style='white-space: pre-wrap; max-height: 30rem; overflow-y: auto; font-size: 0.9rem'"
            f" data-testid='{html.escape(test_id)}'>{body}</div>")
