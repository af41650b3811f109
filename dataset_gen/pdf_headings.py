"""Headings of a PDF: from its outline (bookmarks), else from font statistics with guards.

Used by :mod:`dataset_gen.pdf`. ``pages`` are objects with ``blocks`` (each with ``number``,
``text``, ``sizes``, ``levels``, ``footnote``, ``code``) and ``dropped`` (numbers of blocks
rendered inside a table, never headings).

Outline: each entry's title is looked for on its page (NFKC, case-folded, without whitespace; a
leading section number may be missing) and the one to three lines of one block carrying it become
a heading at the entry's level (:func:`apply_outline`).

Font statistics (:func:`apply_font_sizes`): the size holding most characters is the body size;
sizes at least ``max(1 pt, 10 %)`` above it holding at most 30 % of the characters mark heading
candidates. Guards keep sentences, captions and noise out: a candidate is one to three lines,
not in a footnote or code block, at most 80 characters wide (CJK counting double), not ending in
a sentence mark (``。.!?`` …), not a continued caption (``…—Continued``), not repeated on more
than a quarter of the pages, mostly letters, digits and CJK (no OCR garbage). Levels rank the
remaining sizes, largest first.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict

import pymupdf

__all__ = ["apply_font_sizes", "apply_outline", "outline"]

_NUMBER_PREFIX_RE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z](?:\.\d+)+\.?|[IVXLC]+\.)\s+")
_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile("[\\s\ufffd]+")
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_CONTINUED_RE = re.compile(r"(?i)(?:[—–-]\s*continued|\(continued\)|\bcont(?:inued|'d)\.?$|[（(]續[）)]|續表)")
# A letter between two non-letters repeated, or runs of mixed case and digits: OCR noise.
_GARBLED_RE = re.compile(r"(?:[^\w\s][\w][^\w\s]){2,}|[a-z][A-Z]{2,}[a-z]")


def outline(doc: pymupdf.Document) -> list[tuple[int, str, int]]:
    try:
        toc = doc.get_toc(simple=True)
    except Exception:  # a broken outline is no reason to fail the document
        return []
    return [(lvl, title, page) for lvl, title, page in toc
            if isinstance(title, str) and title.strip() and 1 <= page <= doc.page_count]


def _norm(text: str) -> str:
    """Text for comparing titles: NFKC (ligatures, widths), case-folded, without whitespace."""
    return _SPACE_RE.sub("", unicodedata.normalize("NFKC", text).casefold())


def apply_outline(pages: list, toc: list[tuple[int, str, int]]) -> int:
    """Mark the lines that carry outline titles as headings; return how many entries were found."""
    by_page: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for lvl, title, page_number in toc:
        bare = _NUMBER_PREFIX_RE.sub("", title, count=1)
        by_page[page_number - 1].append((min(max(lvl, 1), 6), _norm(title),
                                  _norm(bare) if bare != title else ""))
    found = 0
    for index, entries in by_page.items():
        page = pages[index]
        longest = max(len(t) for _, t, _ in entries) + 4  # NFKC may lengthen a line a little
        lines = [(b, i, _norm(ln) if len(ln) - ln.count(" ") <= longest else "")
                 for b in page.blocks if b.number not in page.dropped
                 for i, ln in enumerate(b.text.split("\n"))]
        start = 0
        for level, title, bare in entries:
            hit = _find_title(lines, start, title) or (bare and _find_title(lines, start, bare))
            if not hit:
                continue
            first, count = hit
            for block, i, _ in lines[first:first + count]:
                block.levels[i] = level
            start = first + count
            found += 1
    return found


def _find_title(lines: list, start: int, title: str) -> tuple[int, int] | None:
    """Index and count (1–3) of consecutive lines of one block whose joined text is ``title``."""
    for first in range(start, len(lines)):
        block, _, text = lines[first]
        if not text or not title.startswith(text):
            continue
        joined, count = text, 1
        while joined != title and count < 3 and first + count < len(lines):
            nxt_block, _, nxt = lines[first + count]
            if nxt_block is not block or not nxt or not title.startswith(joined + nxt):
                break
            joined += nxt
            count += 1
        if joined == title:
            return first, count
    return None


def apply_font_sizes(pages: list) -> None:
    """Mark short lines set larger than the body size as headings, the largest size as level 1.

    Sizes are rounded to 0.5 pt. The body size holds the most characters; a heading size is at
    least ``max(1 pt, 10 %)`` larger and holds at most 30 % of the characters. A heading is one to
    three consecutive lines of one size with a letter and at most 200 characters. Text repeated as
    a "heading" on more than a quarter of the pages (at least 3) is a running header and stays body
    text. Levels rank the sizes that remain, largest first, up to 6.
    """
    counts: Counter[float] = Counter()
    for page in pages:
        for block in page.blocks:
            for text, size in zip(block.text.split("\n"), block.sizes or ()):
                counts[round(size * 2) / 2] += len(text.strip())
    total = sum(counts.values())
    if not total:
        return
    body = max(counts, key=counts.__getitem__)
    big = {s for s in counts if s >= body + max(1.0, body * 0.1) and counts[s] * 10 <= total * 3}
    found = []  # (page index, block, first line, last line, size, key)
    for index, page in enumerate(pages):
        for block in page.blocks:
            if block.number in page.dropped or not block.sizes:
                continue
            lines = block.text.split("\n")
            if block.footnote:
                continue
            marks = [round(s * 2) / 2 if _heading_text(t) else 0.0
                     for t, s in zip(lines, block.sizes)]
            marks = [m if m in big else 0.0 for m in marks]
            i = 0
            while i < len(marks):
                j = i
                while j + 1 < len(marks) and marks[j + 1] == marks[i]:
                    j += 1
                if marks[i] and j - i < 3 and _not_sentence(join_heading(lines[i:j + 1])):
                    key = _DIGITS_RE.sub("", _norm("".join(lines[i:j + 1])))
                    found.append((index, block, i, j, marks[i], key))
                i = j + 1
    pages_of: dict[str, set[int]] = defaultdict(set)
    for index, *_, key in found:
        pages_of[key].add(index)
    limit = max(3, len(pages) // 4)
    kept = [f for f in found if len(pages_of[f[5]]) <= limit]
    level_of = {s: min(i + 1, 6) for i, s in enumerate(sorted({f[4] for f in kept}, reverse=True))}
    for _, block, i, j, size, _ in kept:
        block.levels.update((k, level_of[size]) for k in range(i, j + 1))


def _heading_text(text: str) -> bool:
    """A line that may be (part of) a heading: 1–200 characters, mostly letters/digits/CJK (a bad
    OCR layer yields lines of punctuation and stray letters), at least two letters."""
    text = text.strip()
    if not 0 < len(text) <= 200:
        return False
    letters = sum(1 for ch in text if ch.isalpha())
    wordish = sum(1 for ch in text if ch.isalnum() or ch in " -–—:：、,()（）/&.'’_+#`\"「」『』《》?!？！·")
    return letters >= 2 and wordish >= 0.85 * len(text) and not _GARBLED_RE.search(text)


def join_heading(lines: list[str]) -> str:
    """A heading's lines as one line: CJK lines meet without a space, others with one."""
    out = lines[0].strip()
    for line in lines[1:]:
        line = line.strip()
        sep = "" if _CJK_RE.match(out[-1:]) and _CJK_RE.match(line[:1]) else " "
        out += sep + line
    return out


def _not_sentence(text: str) -> bool:
    """``False`` for what reads as a sentence or a caption, never a heading: text ending in a
    sentence mark (``。；，.;,``; a question is a common heading), more than 80 characters (CJK counting double, about 12
    words), a continued table caption (``…—Continued``, ``(continued)``, ``續``), or a CJK text with
    two or more clause marks (``，`` ``、`` ``；``)."""
    text = text.strip()
    width = len(text) + len(_CJK_RE.findall(text))
    if width > 80 or text[-1:] in "。；，.;,":
        return False
    if _CONTINUED_RE.search(text):
        return False
    return sum(text.count(ch) for ch in "，；") < 2


