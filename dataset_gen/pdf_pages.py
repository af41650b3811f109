"""Reading the pages of a PDF for :mod:`dataset_gen.pdf`, in this process or in worker processes.

Each page is read on its own (:func:`extract_page`): text blocks from MuPDF's text page
(``extractDICT``) and the ruled tables on it. The steps that look across pages (running headers,
heading statistics, tables cut by a page break) run afterwards in the calling process.

Worker processes (:func:`read_pages`): reading a page is almost all MuPDF work plus Python work
on that page alone, so a document of at least :data:`PARALLEL_MIN_PAGES` pages on a machine with
two or more usable cores is read in contiguous page ranges at the same time: the calling process
reads the first range itself (asking ``should_stop`` before each page) while worker processes
each open the same bytes and read one of the other ranges. The pages come back pickled, in page
order, so the result is the same as reading them one after the other (a test compares the
Markdown byte for byte). The workers are started once per process and kept for the next
document: forked when no other thread runs (the CLI, benchmarks), else by the ``forkserver``
method (the app runs threads, and forking a threaded process is unsafe; the first document then
waits for the server to import the package, as multiprocessing imports the main module there
too). A broken pool falls back to reading in this process. Shorter documents are read in this
process only: they take well under 0.1 s (about 2.5 ms a page), and the fixed cost of a worker
(sending the file, opening it again, pickling the pages back) would take much of the gain.

MuPDF's warnings are kept per process: a worker returns the warnings it collected while reading
its pages, and the caller places them where they would have come (see :func:`read_pages`);
repeats MuPDF holds back are flushed after each page (:func:`flush_warnings`) so that they are
counted alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.context
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import pymupdf

from .documents import stop_if_asked
from .pdf_layout import Block, build_blocks, needs_raw
from .pdf_running import margin_lines
from .pdf_tables import Table, find_tables, table_candidates
from .pdf_tounicode import UnicodeRepair, apply_dict, apply_raw

__all__ = ["BAD_CHAR_RE", "PARALLEL_MIN_PAGES", "TEXT_FLAGS", "Page", "extract_page",
           "flush_warnings", "read_pages", "worker_start_method"]

# Whitespace kept, text clipped to the page, ligatures kept as one character (ﬁ): MuPDF removes
# glyphs drawn twice at the same place (fake bold) by comparing characters, which fails when a
# ligature is expanded first ("Pﬁzer" drawn twice became "Pfifizer"); clean_text expands them.
# Characters without a Unicode mapping come out as U+FFFD (no TEXT_CID_FOR_UNKNOWN_UNICODE), which
# makes a garbled text layer measurable instead of producing shifted-letter nonsense.
TEXT_FLAGS = (pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
              | pymupdf.TEXT_PRESERVE_LIGATURES)

# Characters without readable text: unmapped glyphs (U+FFFD), private use, C0 controls.
BAD_CHAR_RE = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\x00-\x08\x0b\x0e-\x1f]")

PARALLEL_MIN_PAGES = 40
"""Documents with fewer pages are read in the calling process only."""

_MAX_WORKERS = 3  # worker processes at most (the caller reads a range too)


@dataclass(slots=True)
class Page:
    """One page as read: ``blocks`` in MuPDF's order, ``size`` (width, height) in points."""

    blocks: list[Block]
    size: tuple[float, float]  # width, height (pt)
    tables: dict[int, Table] = field(default_factory=dict)  # anchor block number -> table
    dropped: set[int] = field(default_factory=set)  # block numbers rendered inside a table
    chars: int = 0  # non-space characters extracted
    bad: int = 0  # of which unmapped (U+FFFD), private-use or control characters
    left_out: list[str] = field(default_factory=list)  # running headers, footers, page numbers
    fixes: dict[tuple[float, float], str] = field(default_factory=dict)  # see pdf_tounicode
    # margin lines as read (block, line index, key; see pdf_running.margin_lines), found here so
    # that worker processes do it for their pages
    marks: list[tuple[Block, int, str]] = field(default_factory=list)


def extract_page(doc: pymupdf.Document, index: int, repair: UnicodeRepair, *,
                 warnings: list[str]) -> Page:
    """Read page ``index`` (0-based): text blocks with their lines (see
    :mod:`dataset_gen.pdf_layout`) and the ruled tables on it; characters a broken ``ToUnicode``
    CMap misreads are repaired (:mod:`dataset_gen.pdf_tounicode`). A page that fails is an empty
    :class:`Page` and a line in ``warnings``; never raises."""
    try:
        pdf_page = doc[index]
        textpage = pdf_page.get_textpage(flags=TEXT_FLAGS)
        dict_blocks = textpage.extractDICT()["blocks"]
        fixes = repair.fixes(pdf_page, dict_blocks)
        apply_dict(dict_blocks, fixes)
        width, height = pdf_page.rect.width, pdf_page.rect.height
        blocks = build_blocks(dict_blocks, None, height)
        joined = "".join(b.text for b in blocks)
        if needs_raw(joined):  # Hangul: word spaces from the glyph gaps (rare, so built twice)
            raw_blocks = textpage.extractRAWDICT()["blocks"]
            apply_raw(raw_blocks, fixes)
            blocks = build_blocks(dict_blocks, raw_blocks, height)
            joined = "".join(b.text for b in blocks)
        page = Page(blocks, (width, height), fixes=fixes,
                    marks=margin_lines(blocks, (width, height)))
        page.chars = len(joined) - joined.count(" ") - joined.count("\n")
        page.bad = len(BAD_CHAR_RE.findall(joined))
        candidates = table_candidates(blocks)
        if candidates:
            for table in find_tables(blocks, pdf_page, textpage, candidates, fixes):
                page.tables[table.anchor] = table
                page.dropped |= table.numbers
    except Exception as exc:  # a broken page must not lose the others
        warnings.append(f"page {index + 1} could not be read ({one_line(exc)}); it is left out")
        return Page([], (0.0, 0.0))
    finally:
        flush_warnings()
    return page


def flush_warnings() -> None:
    """Let MuPDF report the repeats of its last warning now (``... repeated 3 times...``).

    MuPDF holds back a warning repeated right after itself and counts it; flushing after opening
    the file and after each page makes the warnings of a page independent of the pages read
    before it, so a worker reading a range of pages reports what reading them all in order
    would."""
    pymupdf.mupdf.fz_flush_warnings()


def read_pages(doc: pymupdf.Document, data: bytes, name: str,
               should_stop: Callable[[], bool] | None, warnings: list[str],
               workers: int | None = None) -> tuple[list[Page], str]:
    """All pages of ``doc`` (opened from ``data``) as :class:`Page`, in page order, plus the MuPDF
    warning text the worker processes collected (``""`` when none ran).

    ``workers`` is the number of worker processes: ``None`` decides (none below
    :data:`PARALLEL_MIN_PAGES` pages, on one core or after a pool failed in this process, else up
    to one per further core and per 20 pages, at most 3), ``0`` reads every page in this
    process, ``n`` uses ``n`` whatever the size. A worker that fails has its pages read here.

    The caller must have shown no MuPDF warnings since opening ``doc`` to anybody else: the
    returned text belongs after what this process collected while opening the file and before
    what it collects next. ``warnings`` receives the pages that could not be read, in page order.
    Raises :class:`~dataset_gen.documents.ParseCancelled` when ``should_stop()`` returns true
    (asked before each page this process reads and after each range a worker read).
    """
    count = doc.page_count
    repair = UnicodeRepair(doc)
    if workers is None:
        workers = min(_MAX_WORKERS, _cores() - 1, count // (PARALLEL_MIN_PAGES // 2) - 1)
        if count < PARALLEL_MIN_PAGES or _FAILED:
            workers = 0
    futures: list[Future] = []
    if workers >= 1:
        bounds = [count * k // (workers + 1) for k in range(workers + 2)]
        try:
            pool = _pool(workers)
            futures = [pool.submit(_read_range, data, bounds[k], bounds[k + 1])
                       for k in range(1, workers + 1)]
        except Exception:  # no worker processes here (sandbox, broken pool): read them all
            _drop_pool()
            futures, bounds = [], [0, count]
    else:
        bounds = [0, count]
    pages: list[Page] = []
    try:
        for i in range(bounds[1]):
            stop_if_asked(should_stop, name)
            pages.append(extract_page(doc, i, repair, warnings=warnings))
        messages = ""
        for k, future in enumerate(futures, start=1):
            try:
                more, notes, raw = future.result()
            except Exception:  # a worker died: read its pages here
                _drop_pool()
                more, notes, raw = _read_here(doc, repair, bounds[k], bounds[k + 1], name,
                                              should_stop)
            stop_if_asked(should_stop, name)
            pages += more
            warnings += notes
            messages += raw
    finally:
        for future in futures:
            future.cancel()
    return pages, messages


def _read_here(doc: pymupdf.Document, repair: UnicodeRepair, start: int, stop: int, name: str,
               should_stop: Callable[[], bool] | None) -> tuple[list[Page], list[str], str]:
    notes: list[str] = []
    pages = []
    for i in range(start, stop):
        stop_if_asked(should_stop, name)
        pages.append(extract_page(doc, i, repair, warnings=notes))
    return pages, notes, ""


def _read_range(data: bytes, start: int, stop: int) -> tuple[list[Page], list[str], str]:
    """In a worker: pages ``start`` to ``stop - 1`` of the PDF ``data``, the page warnings and the
    MuPDF warnings collected while reading them (not those of opening the file, which the caller
    has already)."""
    tools = pymupdf.TOOLS
    tools.mupdf_display_errors(False)
    tools.mupdf_display_warnings(False)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        flush_warnings()
        tools.mupdf_warnings(reset=True)
        repair = UnicodeRepair(doc)
        notes: list[str] = []
        pages = [extract_page(doc, i, repair, warnings=notes) for i in range(start, stop)]
        raw = tools.mupdf_warnings(reset=True) or ""
    return pages, notes, raw + "\n" if raw else ""


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_METHOD = ""
_FAILED = False  # a pool failed in this process: read alone when not asked for workers
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ProcessPoolExecutor:
    global _POOL, _POOL_SIZE, _POOL_METHOD
    with _POOL_LOCK:
        if _POOL is None or workers > _POOL_SIZE:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            workers = max(workers, min(_MAX_WORKERS, _cores() - 1))
            # fork only while no other thread runs (CLI, benchmarks): a forked child of a
            # threaded process may inherit a lock another thread held
            context: multiprocessing.context.BaseContext
            if threading.active_count() == 1:
                context = multiprocessing.get_context("fork")
            else:
                server = multiprocessing.get_context("forkserver")
                server.set_forkserver_preload(["dataset_gen.pdf_pages"])
                context = server
            _POOL, _POOL_SIZE = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                                    initargs=(os.getpid() if context.get_start_method() == "fork" else 0,)), workers
            _POOL_METHOD = context.get_start_method()
        return _POOL


def _worker_start(parent: int) -> None:
    """Set up a worker process (``parent``: the pid that forked it, 0 under a fork server): it dies with the process that started it (Linux
    ``PR_SET_PDEATHSIG``; a parent killed with ``kill -9`` would otherwise leave it holding the
    project's lock and the database it inherited), leaves Ctrl-C to that process (which stops the
    pool) and ends on SIGTERM instead of running the CLI's handler it inherited."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent and os.getppid() != parent:
        os._exit(0)  # forked by a process that died before the death signal was set


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_start_method() -> str | None:
    """How this process's worker pool was started (``"fork"`` or ``"forkserver"``), or ``None``
    while it has none."""
    with _POOL_LOCK:
        return _POOL_METHOD if _POOL is not None else None


def _drop_pool() -> None:
    """Forget a pool that failed; from then on this process reads alone unless asked otherwise
    (a sandbox without processes, or a main module the workers cannot import, would fail again
    on every document)."""
    global _POOL, _FAILED
    _FAILED = True
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def one_line(exc: BaseException) -> str:
    """``exc`` as one line of at most 200 characters (its class name when it has no message)."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__
