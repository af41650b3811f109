"""Text of PDF blocks for :mod:`dataset_gen.pdf`: line wraps joined, code fences across pages.

Rules (:func:`block_text`), applied between two consecutive lines of one text block:

- Latin hyphenation: a line ending in a lowercase letter and ``-`` followed by a line starting with
  a lowercase letter is one word broken by the typesetter (``adip-`` / ``iscing`` → ``adipiscing``).
  This also joins a real compound broken at its hyphen (``well-`` / ``known`` → ``wellknown``),
  which a PDF cannot tell apart from hyphenation without a dictionary; TeX and word processors
  break compounds at their hyphen rarely compared with syllable breaks, so the rule favours those.
  Capitalised continuations (``Jean-`` / ``Paul``), digits (``2019-`` / ``2020``) and a hyphen
  after a space (a dash) are kept as line breaks. A word holding digits, ``_ : / .`` or another
  hyphen is an identifier broken at its own hyphen: the lines are joined and the hyphen kept
  (``8b-instruct-`` / ``q4_K_M`` → ``8b-instruct-q4_K_M``).
- Inline code broken at a hyphen: a line ending in a code span that ends in ``-`` followed by a
  line starting with a code span is one code span, hyphen kept (`` `qwen2:7b-` `` /
  `` `instruct-q4_K_M` `` → `` `qwen2:7b-instruct-q4_K_M` ``; a renderer breaks a long identifier
  after its hyphen, e.g. in a narrow table cell).
- CJK wraps: a line ending in a CJK character (ideograph, kana, hangul, CJK punctuation) followed
  by a line starting with one is joined without a space, since CJK text has no spaces between
  words.
- Other lines stay separate lines (``"\\n"``), as the PDF set them.

A Markdown table printed as text (the PDF shows ``| a | b | |---|---| | 1 | 2 |`` run together
in one paragraph, pipes and all) becomes a pipe table again by a strict rule
(:func:`flattened_table`): the paragraph holds a GFM delimiter row (``|---|:--:|``), which fixes
the column count n; from its first ``|`` to its end the paragraph splits into rows of exactly n
cells, the second row being that delimiter row, consecutive rows separated only by whitespace
(``| | ``). Text before the first ``|`` stays a paragraph before the table. Anything else (prose
with a stray ``|``, rows of other lengths, text after the last ``|``) is left as it is.
"""

from __future__ import annotations

import re

from .markdown_table import pipe_table

__all__ = ["block_text", "flattened_table", "merge_page_fences"]

_CJK = ("\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
        "\uff00-\uffef")
_CJK_END_RE = re.compile(f"[{_CJK}]$")
_CJK_START_RE = re.compile(f"^[{_CJK}]")
_HYPHEN_END_RE = re.compile(r"(?<=[a-zß-öø-ÿ])-$")
_IDENTIFIER_RE = re.compile(r"[\d_:/.\-]")
_CODE_HYPHEN_END_RE = re.compile(r"`[^`\s]*-`$")
_CODE_START_RE = re.compile(r"^`[^`\s]+`")
_LOWER_START_RE = re.compile(r"^[a-zß-öø-ÿ]")
_LIST_START_RE = re.compile(r"^\s*(?:[-*•·▪◦●]|\d{1,3}[.)、]|[（(]\d{1,3}[)）])\s*")
_FENCE_END_RE = re.compile(r"\n(`{3,})$")
_FENCE_START_RE = re.compile(r"^(`{3,})\n")
_DELIMITER_ROW_RE = re.compile(r"\|(?:[ \t]*:?-+:?[ \t]*\|)+")
_DELIMITER_CELL_RE = re.compile(r"^\s*:?-+:?\s*$")
_PIPE_RE = re.compile(r"(?<!\\)\|")


def block_text(lines: list) -> str:
    """The text of ``lines`` (objects with ``text``) with the joins of the module docstring."""
    out = ""
    for k, line in enumerate(lines):
        text = line.text
        if k == 0:
            out = text
            continue
        prev = out.rstrip(" ")
        cur = text.lstrip(" ")
        if _HYPHEN_END_RE.search(prev) and _LOWER_START_RE.match(cur):
            word = prev.rsplit(None, 1)[-1]
            # an identifier broken at its own hyphen (llama3.1:8b-instruct-q4_K_M) keeps it
            out = (prev if _IDENTIFIER_RE.search(word[:-1]) else prev[:-1]) + cur
        elif _CODE_HYPHEN_END_RE.search(prev) and _CODE_START_RE.match(cur):
            out = prev[:-1] + cur[1:]
        elif _CJK_END_RE.search(prev) and _CJK_START_RE.match(cur) and not _LIST_START_RE.match(cur):
            out = prev + cur
        else:
            out += "\n" + text
    return out


def merge_page_fences(bodies: list[str]) -> list[str]:
    """Page texts where a code block running from one page onto the next is one fence: the
    closing fence ending a page and the opening fence starting the next non-empty page (same
    length) are dropped. Lengths change; offsets are computed after this."""
    out = list(bodies)
    prev = None
    for i, body in enumerate(out):
        if not body:
            continue
        if prev is not None:
            end = _FENCE_END_RE.search(out[prev])
            start = _FENCE_START_RE.match(body)
            if end and start and end.group(1) == start.group(1):
                out[prev] = out[prev][:end.start()]
                out[i] = body[start.end():]
        prev = i
    return out


def flattened_table(text: str) -> str | None:
    """``text`` (one paragraph) rewritten as ``lead + "\\n\\n" + pipe table`` (or the table
    alone) when it is a Markdown table run into one paragraph (rule in the module docstring),
    else ``None``. Cell text has its whitespace, line breaks included, collapsed to one space."""
    delimiter = _DELIMITER_ROW_RE.search(text)
    start = text.find("|")
    if delimiter is None or start < 0:
        return None
    n = delimiter.group(0).count("|") - 1
    body = text[start:].strip()
    if n < 2 or not body.endswith("|"):
        return None
    pieces = _PIPE_RE.split(body)[1:-1]  # the text before the first and after the last pipe
    if (len(pieces) + 1) % (n + 1) or len(pieces) + 1 < 3 * (n + 1):  # header, delimiter, a row
        return None
    rows = []
    for k in range(0, len(pieces), n + 1):
        cells = pieces[k:k + n]
        if k + n < len(pieces) and pieces[k + n].strip():
            return None  # something between two rows
        rows.append([" ".join(c.split()) for c in cells])
    if not all(_DELIMITER_CELL_RE.match(c) for c in rows[1]) or any(
            all(_DELIMITER_CELL_RE.match(c) for c in row) for row in rows[2:]):
        return None
    table = pipe_table([rows[0]] + rows[2:])
    lead = text[:start].strip()
    return f"{lead}\n\n{table}" if lead else table
