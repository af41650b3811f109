"""PDF text extraction with PyMuPDF, keeping pages, headings, tables and code blocks.

pymupdf4llm would give Markdown directly, but measured here it read about 3 pages per second
(about 100 times slower than ``page.get_text()``, from its layout analysis) and printed to
stdout, so the Markdown is built here from PyMuPDF's own text page (``extractDICT``, ligatures
kept so that MuPDF's removal of glyphs drawn twice works; ``extractRAWDICT`` on pages with Hangul,
see :mod:`dataset_gen.pdf_layout`).

Pages are read one by one (:mod:`dataset_gen.pdf_pages`; a long document by worker processes at
the same time, with the same result), then the steps across pages run here.

Layout (:mod:`dataset_gen.pdf_layout`): running headers, footers and page numbers are kept out of
the text and returned per page as ``left_out``; blocks are put in reading order (columns left to
right, also when the PDF draws the right column first); footnotes go after the body of their page
as ``[^n]: …`` and superscript references become ``[^n]``. Lines of a block are joined by the
rules of :mod:`dataset_gen.pdf_text` (hyphenation, CJK wraps).

Headings (:mod:`dataset_gen.pdf_headings`) come from the outline when it has at least three
entries and one per ten pages and at least half of them are found on their pages, else from font
sizes with guards against sentences and captions.

Ruled tables become Markdown pipe tables (see :mod:`dataset_gen.pdf_tables`); a table cut by a
page break is one pipe table (:mod:`dataset_gen.pdf_table_pages`); a Markdown table printed as
text in one paragraph (``| a | b | |---|---| …``) becomes one again
(:func:`dataset_gen.pdf_text.flattened_table`). Blocks whose ASCII
text is all monospaced become fenced code blocks; a code block running across a page break is one
fence; monospaced words in a line of prose become inline code (:mod:`dataset_gen.pdf_layout`). Body lines that would read as Markdown headings (``# comment``) are escaped as ``\\#``;
U+FFFD (glyphs without a Unicode mapping, e.g. math symbols) is dropped.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pymupdf

from .documents import clean_text
from .errors import CorruptDocumentError, EncryptedDocumentError, NoTextLayerError
from .pdf_headings import apply_font_sizes, apply_outline, join_heading, outline
from .pdf_layout import Block, body_size, move_footnotes, reading_order
from .pdf_pages import BAD_CHAR_RE, TEXT_FLAGS, Page, flush_warnings, one_line, read_pages
from .pdf_running import find_running, is_running, running_keys
from .pdf_table_pages import stitch_tables
from .pdf_tables import find_tables, table_candidates
from .pdf_text import block_text, flattened_table, merge_page_fences

__all__ = ["BAD_CHAR_RE", "PDF_LOCK", "read_pdf"]

# MuPDF keeps global state (warning buffer, display switches) and PyMuPDF is not thread-safe:
# every PyMuPDF call of the project (OCR too) holds this lock.
PDF_LOCK = threading.Lock()

_OCR_HINT = "run OCR first (e.g. `ocrmypdf in.pdf out.pdf`) and upload the result"
_HEADING_LIKE_RE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$))", re.M)
_TRAILING_SPACE_RE = re.compile(r"[ \t]+$", re.M)
_BLANK_LINES_RE = re.compile(r"\n\s*\n(?:\s*\n)*")
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_FOOTNOTE_START_RE = re.compile(r"^\s*(\d{1,3})\s+")


def read_pdf(
    data: bytes, name: str, *, should_stop: Callable[[], bool] | None = None, layout: bool = True,
    workers: int | None = None,
) -> tuple[str, tuple[int, ...], tuple[str, ...], tuple[tuple[int, str], ...]]:
    """Extract ``(text, page_starts, warnings, left_out)`` from the PDF bytes ``data``.

    ``text`` is Markdown-flavoured and already passed through
    :func:`dataset_gen.documents.clean_text`; ``page_starts[i]`` is the character offset where
    page ``i + 1`` begins (one entry per page, empty pages included); ``warnings`` are one-line
    notes (MuPDF repair messages such as zlib errors, pages without text, garbled pages);
    ``left_out`` holds ``(page, text)`` for each running header, footer, page number or margin
    note kept out of ``text`` (page 1-based, lines of one page joined by ``"\n"``). ``layout``
    false skips the layout analysis (running headers, column order, footnotes; for benchmarks).
    ``workers`` is how many worker processes read pages besides this one (``None``: decided from
    the page count and the cores; ``0``: none; see :func:`dataset_gen.pdf_pages.read_pages`); the
    result is the same either way. MuPDF messages are collected, never printed. Calls are
    serialised by a lock (PyMuPDF is not thread-safe and its message buffer is global).
    ``should_stop`` is asked before each page this process reads and after each range of pages a
    worker read; keep it cheap.

    Raises :class:`EncryptedDocumentError` when a password is needed to open it;
    :class:`CorruptDocumentError` when it cannot be opened or has no pages (also after MuPDF
    repaired it to 0 pages); :class:`NoTextLayerError` when no page has text (scanned/image-only)
    or when most of the text has no Unicode mapping (fonts with a non-Unicode cmap);
    :class:`~dataset_gen.documents.ParseCancelled` when ``should_stop()`` returns true.
    """
    with PDF_LOCK:
        tools = pymupdf.TOOLS
        show_errors = tools.mupdf_display_errors()
        show_warnings = tools.mupdf_display_warnings()
        tools.mupdf_display_errors(False)
        tools.mupdf_display_warnings(False)
        tools.mupdf_warnings(reset=True)
        try:
            return _read(data, name, should_stop, layout, workers)
        finally:
            tools.mupdf_warnings(reset=True)
            tools.mupdf_display_errors(show_errors)
            tools.mupdf_display_warnings(show_warnings)


def _read(
    data: bytes, name: str, should_stop: Callable[[], bool] | None, layout: bool,
    workers: int | None,
) -> tuple[str, tuple[int, ...], tuple[str, ...], tuple[tuple[int, str], ...]]:
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
        try:
            pages_in_file = doc.page_count
        except RuntimeError as exc:  # a truncated file MuPDF cannot count the pages of
            raise CorruptDocumentError(
                name, f"cannot be read as a PDF ({_one_line(exc)}); it is damaged or truncated: "
                      "download or export it again"
            ) from None
        if pages_in_file == 0:
            raise CorruptDocumentError(
                name, "has no readable pages (the file is damaged and repairing it left 0 pages); "
                      "open it in a PDF viewer, print or export it to a new PDF and upload that"
            )
        flush_warnings()
        warnings: list[str] = []
        pages, pending = read_pages(doc, data, name, should_stop, warnings, workers)
        if pending:  # worker messages: after this process's messages so far, before its next ones
            pending = (pymupdf.TOOLS.mupdf_warnings(reset=True) or "") + "\n" + pending
        _margin_tables(doc, pages)
        imaged = [i + 1 for i, p in enumerate(pages) if not p.chars and doc[i].get_images()]
        toc = outline(doc)
    if layout:
        _layout(pages)
    joined = stitch_tables(pages)
    use_toc = len(toc) >= 3 and len(toc) * 10 >= len(pages)
    if not use_toc or apply_outline(pages, toc) * 2 < len(toc):
        for page in pages:
            for block in page.blocks:
                block.levels.clear()
        apply_font_sizes(pages)
    total = sum(p.chars for p in pages)
    if total == 0 and (damage := _mupdf_messages(pending)):
        raise CorruptDocumentError(
            name, f"is damaged or truncated (MuPDF: {damage[0]}); none of its {len(pages)} page(s) "
                  "could be read: download or export it again"
        )
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
    messages = _mupdf_messages(pending)
    if messages:
        warnings.append("MuPDF reported problems while reading (some text may be missing): "
                        + "; ".join(messages))

    # A document set all in a monospaced font (a printed text file) has no code blocks to set off.
    code_chars = sum(len(b.text) for p in pages for b in p.blocks if b.code)
    fence = code_chars * 5 < sum(len(b.text) for p in pages for b in p.blocks) * 3
    bodies = merge_page_fences([clean_text(_render_page(page, fence)).strip("\n")
                                for page in pages])
    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for i, body in enumerate(bodies):
        page_starts.append(offset)
        if body:
            # a table continued on the next page: one line break keeps it one pipe table
            body += "\n" if joined[i] and i + 1 < len(bodies) and bodies[i + 1] else "\n\n"
            parts.append(body)
            offset += len(body)
    left_out = tuple((i + 1, clean_text("\n".join(p.left_out))) for i, p in enumerate(pages)
                     if p.left_out)
    return "".join(parts), tuple(page_starts), tuple(warnings), left_out


def _layout(pages: list[Page]) -> None:
    """Running headers out (into ``left_out``), blocks in reading order, footnotes last."""
    removed = find_running([p.blocks for p in pages], [p.size for p in pages],
                           [p.marks for p in pages])
    body = body_size([p.blocks for p in pages])
    for page, lines in zip(pages, removed):
        page.left_out = lines
        page.blocks = move_footnotes(reading_order(page.blocks), body, page.size[1])


# --- extraction ------------------------------------------------------------------------------


def _margin_tables(doc: pymupdf.Document, pages: list[Page]) -> None:
    """Tables in the top or bottom 10 % of a page (a table cut by a page break): blocks there
    with cells side by side that are not running headers make the page's tables be looked for
    again, with them among the candidates (the page is read again; rare)."""
    keys = running_keys([p.blocks for p in pages], [p.size for p in pages],
                        [p.marks for p in pages])
    for index, page in enumerate(pages):
        extra = [b for b in page.blocks if b.margin_side
                 and not is_running(b, page.size, keys)]
        if not extra:
            continue
        pdf_page = doc[index]
        textpage = pdf_page.get_textpage(flags=TEXT_FLAGS)
        candidates = table_candidates(page.blocks) + extra
        page.tables.clear()
        page.dropped.clear()
        for table in find_tables(page.blocks, pdf_page, textpage, candidates, page.fixes):
            page.tables[table.anchor] = table
            page.dropped |= table.numbers


# --- rendering -------------------------------------------------------------------------------


def _render_page(page: Page, fence: bool) -> str:
    """The page as Markdown: headings as ``#`` lines, tables in place, blocks as paragraphs.

    Blocks whose ASCII text is all monospaced become fenced code blocks when ``fence`` (false for
    a document set almost all in a monospaced font; neighbouring code blocks share a fence); other body lines that would read as Markdown headings get a backslash (``\\#``) so
    that only real headings are headings. Footnote blocks starting with a number become
    ``[^n]: …``; a paragraph that is a Markdown table printed as text becomes a pipe table
    (:func:`dataset_gen.pdf_text.flattened_table`). U+FFFD (unmapped glyphs) is dropped, trailing spaces of lines are removed and
    blank lines are collapsed to one.
    """
    code_run: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        if code_run:
            body = "\n".join(code_run)
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
            parts.append(f"{fence}\n{body}\n{fence}")
            code_run.clear()

    for block in page.blocks:
        if block.number in page.dropped:
            flush()
            if block.number in page.tables:
                parts.append(page.tables[block.number].markdown())
            continue
        if fence and not block.levels and block.code:
            code_run.append(block.text)  # neighbouring code blocks share one fence
            continue
        flush()
        if block.levels:
            parts.extend(_heading_block(block))
            continue
        text = block_text(block.lines)
        if block.footnote:
            text = _FOOTNOTE_START_RE.sub(r"[^\1]: ", text, count=1)
        elif "|" in text and "-" in text:  # a Markdown table printed as text?
            text = flattened_table(text) or text
        parts.append(_HEADING_LIKE_RE.sub(r"\1\\\2", text) if "#" in text else text)
    flush()
    text = "\n\n".join(parts)
    if "\ufffd" in text:
        text = text.replace("\ufffd", "")
    return _BLANK_LINES_RE.sub("\n\n", _TRAILING_SPACE_RE.sub("", text))


def _heading_block(block: Block) -> list[str]:
    """A block with heading lines as Markdown parts: each heading run, then the body lines."""
    parts = []
    lines = block.lines
    i = 0
    while i < len(lines):
        level = block.levels.get(i, 0)
        j = i
        while j + 1 < len(lines) and block.levels.get(j + 1, 0) == level:
            j += 1
        run = [ln for ln in lines[i:j + 1] if ln.text.strip()]
        if run and level:
            parts.append("#" * level + " " + join_heading([ln.text for ln in run]))
        elif run:
            text = block_text(run)
            parts.append(_HEADING_LIKE_RE.sub(r"\1\\\2", text) if "#" in text else text)
        i = j + 1
    return parts


# --- messages --------------------------------------------------------------------------------


def _mupdf_messages(pending: str = "") -> list[str]:
    """Distinct MuPDF warning lines of ``pending`` and since the last reset, with repeat counts,
    at most eight."""
    raw = pending + (pymupdf.TOOLS.mupdf_warnings(reset=True) or "")
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


_one_line = one_line
