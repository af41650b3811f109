"""PDF text extraction with PyMuPDF, keeping pages, headings and ruled tables.

pymupdf4llm would give Markdown directly, but measured here it read about 3 pages per second
(about 100 times slower than ``page.get_text()``, from its layout analysis) and printed to
stdout, so the Markdown is built here from PyMuPDF's own text page.

One text page (MuPDF "stext") is built per page and its blocks are read in content-stream order,
which is right for column layouts (PyMuPDF's ``sort=True`` interleaves the columns of a two-column
article). Blocks become paragraphs separated by a blank line; lines inside a block stay lines.

Headings become Markdown ``#`` lines. When the PDF has an outline (bookmarks) with at least three
entries and one per ten pages, the outline is the source: each entry's title is looked for on its
page and that line becomes a heading at the entry's level. This needs only the block text, so it
costs no more than ``page.get_text()``. Otherwise (or when fewer than half of the entries are
found) the font size of every line is read (``TextPage.extractDICT``, about 1.5–2× the cost of
plain text): the size holding most characters is the body size, and sizes at least
``max(1 pt, 10 %)`` above it mark headings, the largest size being level 1.

Ruled tables become Markdown pipe tables (see :mod:`dataset_gen.pdf_tables`): only pages whose
block geometry looks like a table are read a second time, with vector graphics, and a grid of drawn
lines holding text becomes a table. PyMuPDF's ``page.find_tables()`` is not used (0.1–3 s per page
in PyMuPDF 2.0).

Body lines that would read as Markdown headings (``# comment`` in a code sample) are escaped as
``\\#``; U+FFFD (glyphs without a Unicode mapping, e.g. math symbols) is dropped.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pymupdf

from .documents import clean_text, stop_if_asked
from .errors import CorruptDocumentError, EncryptedDocumentError, NoTextLayerError
from .pdf_tables import find_tables, table_candidates

__all__ = ["read_pdf"]

# Whitespace kept and text clipped to the page, as page.get_text() does. Ligatures are expanded by
# MuPDF (no TEXT_PRESERVE_LIGATURES) and characters without a Unicode mapping come out as U+FFFD
# (no TEXT_CID_FOR_UNKNOWN_UNICODE), which makes a garbled text layer measurable instead of
# producing shifted-letter nonsense.
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP

# MuPDF keeps global state (warning buffer, display switches) and PyMuPDF is not thread-safe.
_LOCK = threading.Lock()

_OCR_HINT = "run OCR first (e.g. `ocrmypdf in.pdf out.pdf`) and upload the result"
_HEADING_LIKE_RE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$))", re.M)
_TRAILING_SPACE_RE = re.compile(r"[ \t]+$", re.M)
_BLANK_LINES_RE = re.compile(r"\n\s*\n(?:\s*\n)*")
_NUMBER_PREFIX_RE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z](?:\.\d+)+\.?|[IVXLC]+\.)\s+")
_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile("[\\s\ufffd]+")
# Characters without readable text: unmapped glyphs (U+FFFD), private use, C0 controls.
_BAD_CHAR_RE = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\x00-\x08\x0b\x0e-\x1f]")
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


@dataclass(slots=True)
class _Block:
    """A text block: ordinal among the page's text blocks, bbox, text (lines joined by "\\n")."""

    number: int
    bbox: tuple[float, float, float, float]
    text: str
    sizes: list[float] | None = None  # font size (pt) per line, in font mode
    levels: dict[int, int] = field(default_factory=dict)  # line index -> heading level
    code: bool = False  # every span in a monospaced font: rendered as a fenced code block


@dataclass(slots=True)
class _Page:
    blocks: list[_Block]
    tables: dict[int, str] = field(default_factory=dict)  # anchor block number -> Markdown
    dropped: set[int] = field(default_factory=set)  # block numbers rendered inside a table
    chars: int = 0  # non-space characters extracted
    bad: int = 0  # of which unmapped (U+FFFD), private-use or control characters


def read_pdf(
    data: bytes, name: str, *, should_stop: Callable[[], bool] | None = None
) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    """Extract ``(text, page_starts, warnings)`` from the PDF bytes ``data``.

    ``text`` is Markdown-flavoured and already passed through
    :func:`dataset_gen.documents.clean_text`; ``page_starts[i]`` is the character offset where
    page ``i + 1`` begins (one entry per page, empty pages included); ``warnings`` are one-line
    notes (MuPDF repair messages such as zlib errors, pages without text, garbled pages). MuPDF
    messages are collected, never printed. Calls are serialised by a lock (PyMuPDF is not
    thread-safe and its message buffer is global). ``should_stop`` is asked before each page is
    read (in both passes when the font pass follows the outline pass); keep it cheap.

    Raises :class:`EncryptedDocumentError` when a password is needed to open it;
    :class:`CorruptDocumentError` when it cannot be opened or has no pages (also after MuPDF
    repaired it to 0 pages); :class:`NoTextLayerError` when no page has text (scanned/image-only)
    or when most of the text has no Unicode mapping (fonts with a non-Unicode cmap);
    :class:`~dataset_gen.documents.ParseCancelled` when ``should_stop()`` returns true.
    """
    with _LOCK:
        tools = pymupdf.TOOLS
        show_errors = tools.mupdf_display_errors()
        show_warnings = tools.mupdf_display_warnings()
        tools.mupdf_display_errors(False)
        tools.mupdf_display_warnings(False)
        tools.mupdf_warnings(reset=True)
        try:
            return _read(data, name, should_stop)
        finally:
            tools.mupdf_warnings(reset=True)
            tools.mupdf_display_errors(show_errors)
            tools.mupdf_display_warnings(show_warnings)


def _read(
    data: bytes, name: str, should_stop: Callable[[], bool] | None
) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    def read_page(index: int, fonts: bool, warnings: list[str]) -> _Page:
        stop_if_asked(should_stop, name)
        return _extract_page(doc, index, fonts=fonts, warnings=warnings)

    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # PyMuPDF raises FileDataError, RuntimeError or ValueError here
        raise CorruptDocumentError(
            name, f"cannot be opened as a PDF ({_one_line(exc)}); it is damaged or truncated: "
                  "download or export it again"
        ) from None
    with doc:
        if doc.needs_pass:
            raise EncryptedDocumentError(
                name, "is password-protected; remove the password (e.g. print to PDF) and upload "
                      "again"
            )
        if doc.page_count == 0:
            raise CorruptDocumentError(
                name, "has no readable pages (the file is damaged and repairing it left 0 pages); "
                      "open it in a PDF viewer, print or export it to a new PDF and upload that"
            )
        warnings: list[str] = []
        toc = _outline(doc)
        use_toc = len(toc) >= 3 and len(toc) * 10 >= doc.page_count
        pages = [read_page(i, not use_toc, warnings) for i in range(doc.page_count)]
        if use_toc and _apply_outline(pages, toc) * 2 < len(toc):
            pages = [read_page(i, True, []) for i in range(doc.page_count)]
            use_toc = False
        if not use_toc:
            _apply_font_sizes(pages)
        imaged = [i + 1 for i, p in enumerate(pages) if not p.chars and doc[i].get_images()]
    total = sum(p.chars for p in pages)
    if total == 0:
        raise NoTextLayerError(
            name, f"has {len(pages)} page(s) but no text layer (scanned or image-only); {_OCR_HINT}"
        )
    garbled = [i + 1 for i, p in enumerate(pages) if p.chars >= 20 and p.bad * 3 > p.chars]
    garbled_chars = sum(pages[i - 1].chars for i in garbled)
    if sum(p.bad for p in pages) * 2 > total or garbled_chars * 2 > total:
        raise NoTextLayerError(
            name, "has a text layer that is unreadable (its fonts map characters to no Unicode "
                  "text, so the text comes out as garbage); run OCR over it (e.g. `ocrmypdf "
                  "--force-ocr in.pdf out.pdf`) and upload the result"
        )
    if garbled:
        warnings.append(f"page(s) {_page_list(garbled)} have garbled text (fonts without Unicode "
                        "mapping); OCR them if their content matters")
    if imaged:
        warnings.append(f"page(s) {_page_list(imaged)} are images without a text layer; their "
                        f"content is missing ({_OCR_HINT})")
    messages = _mupdf_messages()
    if messages:
        warnings.append("MuPDF reported problems while reading (some text may be missing): "
                        + "; ".join(messages))

    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for page in pages:
        page_starts.append(offset)
        body = clean_text(_render_page(page)).strip("\n")
        if body:
            body += "\n\n"
            parts.append(body)
            offset += len(body)
    return "".join(parts), tuple(page_starts), tuple(warnings)


# --- extraction ------------------------------------------------------------------------------


def _extract_page(doc: pymupdf.Document, index: int, *, fonts: bool, warnings: list[str]) -> _Page:
    """Read one page: text blocks (with line sizes when ``fonts``) and the ruled tables on it."""
    try:
        pdf_page = doc[index]
        textpage = pdf_page.get_textpage(flags=_TEXT_FLAGS)
        if fonts:
            blocks: list[_Block] = []
            for b in textpage.extractDICT()["blocks"]:
                if b["type"] == 0:
                    lines = b["lines"]
                    text = "\n".join("".join(s["text"] for s in ln["spans"]) for ln in lines)
                    blocks.append(_Block(len(blocks), b["bbox"], text,
                                         [_line_size(ln["spans"]) for ln in lines],
                                         code=bool(_HEADING_LIKE_RE.search(text)) and _monospaced(lines)))
        else:
            blocks = [_Block(i, b[:4], b[4][:-1] if b[4].endswith("\n") else b[4])
                      for i, b in enumerate(b for b in textpage.extractBLOCKS() if b[6] == 0)]
            if any(_HEADING_LIKE_RE.search(b.text) for b in blocks):  # a "# comment": is it code?
                text_blocks = [b for b in textpage.extractDICT()["blocks"] if b["type"] == 0]
                if len(text_blocks) == len(blocks):
                    for block, b in zip(blocks, text_blocks):
                        block.code = bool(_HEADING_LIKE_RE.search(block.text)) and _monospaced(b["lines"])
        page = _Page(blocks)
        joined = "".join(b.text for b in blocks)
        page.chars = len(joined) - joined.count(" ") - joined.count("\n")
        page.bad = len(_BAD_CHAR_RE.findall(joined))
        candidates = table_candidates(blocks)
        if candidates:
            for anchor, markdown, numbers in find_tables(blocks, pdf_page, textpage, candidates):
                page.tables[anchor] = markdown
                page.dropped |= numbers
    except Exception as exc:  # a broken page must not lose the others
        warnings.append(f"page {index + 1} could not be read ({_one_line(exc)}); it is left out")
        return _Page([])
    return page


def _monospaced(lines: list[dict]) -> bool:
    """``True`` when every span of ``lines`` with ASCII text is set in a monospaced font (flags
    bit 3). Spans of only other characters are not counted: CJK in a code sample is drawn with a
    fallback font that is not monospaced."""
    spans = [s for ln in lines for s in ln["spans"] if any("!" <= ch <= "~" for ch in s["text"])]
    return bool(spans) and all(s["flags"] & 8 for s in spans)


def _line_size(spans: list[dict]) -> float:
    """Font size (pt) of the span holding most non-space characters of a line.

    Monospaced spans are left out when there are others: inline code in a heading is usually set
    at the body size (``## Ollama API：`/api/generate` vs `/api/chat```).
    """
    best, size = -1, 0.0
    for mono_ok in (False, True):
        for span in spans:
            n = len(span["text"].strip())
            if n > best and (mono_ok or not span["flags"] & 8):  # bit 3: monospaced font
                best, size = n, span["size"]
        if best > 0:
            break
    return size


# --- headings --------------------------------------------------------------------------------


def _outline(doc: pymupdf.Document) -> list[tuple[int, str, int]]:
    try:
        toc = doc.get_toc(simple=True)
    except Exception:  # a broken outline is no reason to fail the document
        return []
    return [(lvl, title, page) for lvl, title, page in toc
            if isinstance(title, str) and title.strip() and 1 <= page <= doc.page_count]


def _norm(text: str) -> str:
    """Text for comparing titles: NFKC (ligatures, widths), case-folded, without whitespace."""
    return _SPACE_RE.sub("", unicodedata.normalize("NFKC", text).casefold())


def _apply_outline(pages: list[_Page], toc: list[tuple[int, str, int]]) -> int:
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


def _apply_font_sizes(pages: list[_Page]) -> None:
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
            marks = [round(s * 2) / 2 if _heading_text(t) else 0.0
                     for t, s in zip(lines, block.sizes)]
            marks = [m if m in big else 0.0 for m in marks]
            i = 0
            while i < len(marks):
                j = i
                while j + 1 < len(marks) and marks[j + 1] == marks[i]:
                    j += 1
                if marks[i] and j - i < 3:
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
    return 0 < len(text.strip()) <= 200 and any(ch.isalpha() for ch in text)


# --- rendering -------------------------------------------------------------------------------


def _render_page(page: _Page) -> str:
    """The page as Markdown: headings as ``#`` lines, tables in place, blocks as paragraphs.

    Blocks in a monospaced font that hold ``# …`` lines (a code sample's comments) become fenced
    code blocks (neighbours share a fence), so those lines stay as they are; other body lines that would read as Markdown
    headings get a backslash (``\\#``) so that only real headings are headings. U+FFFD (unmapped glyphs) is
    dropped, trailing spaces of lines are removed and blank lines are collapsed to one.
    """
    code_run: list[str] = []

    def flush(parts: list[str]) -> None:
        if code_run:
            body = "\n".join(code_run)
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
            parts.append(f"{fence}\n{body}\n{fence}")
            code_run.clear()

    if not page.dropped and not any(b.levels or b.code for b in page.blocks):  # the common, fast case
        text = "\n\n".join([b.text for b in page.blocks])
        if "#" in text:
            text = _HEADING_LIKE_RE.sub(r"\1\\\2", text)
    else:
        parts: list[str] = []
        for block in page.blocks:
            if block.code and block.number not in page.dropped and not block.levels:
                code_run.append(block.text)  # neighbouring code blocks share one fence
                continue
            flush(parts)
            if block.number in page.dropped:
                if block.number in page.tables:
                    parts.append(page.tables[block.number])
            elif not block.levels:
                parts.append(_HEADING_LIKE_RE.sub(r"\1\\\2", block.text)
                             if "#" in block.text else block.text)
            else:
                parts.extend(_heading_block(block))
        flush(parts)
        text = "\n\n".join(parts)
    if "\ufffd" in text:
        text = text.replace("\ufffd", "")
    return _BLANK_LINES_RE.sub("\n\n", _TRAILING_SPACE_RE.sub("", text))


def _heading_block(block: _Block) -> list[str]:
    """A block with heading lines as Markdown parts: each heading run, then the body lines."""
    parts = []
    lines = block.text.split("\n")
    i = 0
    while i < len(lines):
        level = block.levels.get(i, 0)
        j = i
        while j + 1 < len(lines) and block.levels.get(j + 1, 0) == level:
            j += 1
        run = [ln for ln in lines[i:j + 1] if ln.strip()]
        if run and level:
            parts.append("#" * level + " " + _join_heading(run))
        elif run:
            parts.append(_HEADING_LIKE_RE.sub(r"\1\\\2", "\n".join(run)))
        i = j + 1
    return parts


def _join_heading(lines: list[str]) -> str:
    out = lines[0].strip()
    for line in lines[1:]:
        line = line.strip()
        sep = "" if _CJK_RE.match(out[-1:]) and _CJK_RE.match(line[:1]) else " "
        out += sep + line
    return out


# --- messages --------------------------------------------------------------------------------


def _mupdf_messages() -> list[str]:
    """Distinct MuPDF warning lines since the last reset, with repeat counts, at most eight."""
    raw = pymupdf.TOOLS.mupdf_warnings(reset=True) or ""
    seen: dict[str, int] = {}
    last = None
    for line in raw.splitlines():
        line = line.strip()
        m = re.match(r"^\.\.\. repeated (\d+) times", line)
        if m and last:
            seen[last] += int(m.group(1))
        elif line:
            seen[line] = seen.get(line, 0) + 1
            last = line
    out = [f"{msg} (×{n})" if n > 1 else msg for msg, n in seen.items()]
    return out[:8] + ([f"and {len(out) - 8} more"] if len(out) > 8 else [])


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
