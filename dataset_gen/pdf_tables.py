"""Ruled tables in PDF pages, found from drawn lines and rebuilt as Markdown pipe tables.

Used by :mod:`dataset_gen.pdf`. A cheap test on the block geometry (:func:`table_candidates`)
picks the pages worth a second look; :func:`find_tables` then reads such a page again with MuPDF's
vector collection (``TEXT_COLLECT_VECTORS``), limited to the band around the candidates, groups
the thin lines and rectangle edges into grids, and places the page's characters (from
``extractRAWDICT``, so text MuPDF joined across a cell border is cut at the border) into the grid
cells.
A first row that is one cell across the whole grid (no column rule drawn in it) over at least two
more rows is a title over the column names (the NICS statistics table): it is written as a caption
line above the pipe table and the next row is the header. A label over a group of column names
(``Pre-Pawn`` over Handgun, Long Gun, Other: a two-level header, the group's inner column rules
starting below the label) becomes part of each column name below it (``Pre-Pawn / Handgun``),
so the header stays one row and is repeated whole with a table split across chunks: a character
lies in such a label when, at its height, fewer column rules are drawn than in the middle of its
ruled row.
Coordinates are in PDF points (1/72 inch).

PyMuPDF's own ``page.find_tables()`` is not used: in PyMuPDF 2.0 it runs a layout model and took
0.7–3 s per page on the corpus (about 0.1 s per page even with ``use_layout=False``), against about
2 ms per page for the whole text extraction; collecting vectors on every page instead of on
candidate pages would add 15–20 % on drawing-heavy files such as the 117-page math notes.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby

import pymupdf

from .markdown_table import pipe_table
from .pdf_layout import inline_code
from .pdf_tounicode import apply_raw

__all__ = ["Table", "find_tables", "table_candidates"]

_VECTOR_FLAGS = (pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
                 | pymupdf.TEXT_COLLECT_VECTORS)
_ALNUM_RE = re.compile(r"\w")
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
# Greek letters, arrows and math operators (U+2190–U+22FF and the supplements) and unmapped
# glyphs: a block rich in them is a formula.
_MATH_RE = re.compile("[\u0370-\u03ff\u2190-\u22ff\u27c0-\u27ff\u2980-\u2aff\ufffd]")


@dataclass(slots=True)
class Table:
    """A ruled table found on a page: ``anchor`` is the number of its first block in stream order,
    ``rows`` its cell texts (``|`` escaped, the first row is the header unless ``continued``),
    ``numbers`` the blocks it replaces, ``columns`` the (x0, x1) of each kept column (points) and
    ``bbox`` the grid's (x0, y0, x1, y1). A one-row grid (``len(rows) == 1``) is only a table when
    it continues one on the neighbouring page (see :mod:`dataset_gen.pdf_table_pages`)."""

    anchor: int
    rows: list[list[str]]
    numbers: set[int]
    columns: list[tuple[float, float]]
    bbox: tuple[float, float, float, float]
    open_edge: tuple[bool, bool] = (False, False)  # column rules run on past the top/bottom rule
    continued: bool = False  # the rows continue the previous page's table: no header of its own
    caption: str = ""  # a title row spanning the whole grid, written as a line above the table

    def markdown(self) -> str:
        """The table as a pipe table (after its ``caption`` line and a blank line), or only its
        body rows when ``continued``."""
        if self.continued:
            return "\n".join("| " + " | ".join(r) + " |" for r in self.rows)
        table = pipe_table(self.rows)
        return f"{self.caption}\n\n{table}" if self.caption else table


def table_candidates(blocks: list) -> list:
    """Blocks that look like table cells set side by side (cheap test on the block geometry).

    A block of n ≥ 4 lines whose height is under 0.6 × n × the page's median line pitch has lines
    next to each other, as table rows do (cells are narrow: no line wider than 80 characters, CJK
    counting double); so do three consecutive blocks of two or more lines of that shape, and a
    block whose ``side_by_side`` attribute is true (two lines on one baseline far apart, see
    :func:`dataset_gen.pdf_layout.build_blocks`). Blocks
    with more than 5 % math symbols, Greek letters or unmapped glyphs are formulas and skipped.
    Plot labels and the like still pass; the vector test in :func:`find_tables` sorts them out.

    ``blocks`` are the page's text blocks in stream order, each with ``text`` (lines joined by
    ``"\\n"``) and ``bbox`` (points); the result is a sublist of them.
    """
    counts = [b.text.count("\n") + 1 for b in blocks]
    if not counts or max(counts) < 2:
        return []
    heights = [b.bbox[3] - b.bbox[1] for b in blocks]
    pitches = sorted([h / n for h, n in zip(heights, counts)])
    limit = 0.6 * pitches[len(pitches) // 2]
    tight = [n >= 2 and h < limit * n for h, n in zip(heights, counts)]
    if not any(tight) and not any(getattr(b, "side_by_side", False) for b in blocks):
        return []
    out = []
    for k, block in enumerate(blocks):
        if not (tight[k] or getattr(block, "side_by_side", False)) or len(_MATH_RE.findall(block.text)) * 20 > len(block.text):
            continue
        n = counts[k]
        lines = block.text.split("\n")
        wordy = sum(1 for ln in lines if len(_ALNUM_RE.findall(ln)) >= 2)
        widest = max(len(ln) + len(_CJK_RE.findall(ln)) for ln in lines)  # CJK counts double
        grid_like = n >= 4 and (wordy * 2 >= n or n >= 40) and widest <= 80
        if grid_like or getattr(block, "side_by_side", False) or any(all(tight[s:s + 3]) for s in range(max(0, k - 2), min(k, len(blocks) - 3) + 1)):
            out.append(block)
    return out


def find_tables(blocks: list, pdf_page: pymupdf.Page, textpage: pymupdf.TextPage,
                candidates: list, fixes: dict | None = None) -> list[Table]:
    """Find grids of drawn lines around ``candidates``; return them as :class:`Table`.

    ``blocks`` are the page's text blocks (``number`` is the block's index among the text blocks
    of ``textpage``, as in ``TextPage.extractWORDS``); ``pdf_page`` is read again with vector
    collection, clipped to the candidates' band. Words of the blocks a table replaces are placed
    in the grid cells, so no text is lost or repeated. One-row grids are returned too (a table
    cut by a page break); the caller keeps them only next to a matching table. ``fixes`` are the
    page's repaired characters (:mod:`dataset_gen.pdf_tounicode`).
    """
    found: list[Table] = []
    taken: set[int] = set()
    # The whole width, and 72 pt (an inch) above and below the candidates: header rows and
    # borders of the table may lie outside the candidate blocks.
    rect = pdf_page.rect
    y0 = min(b.bbox[1] for b in candidates) - 72
    y1 = max(b.bbox[3] for b in candidates) + 72
    clip = pymupdf.Rect(rect.x0, max(y0, rect.y0), rect.x1, min(y1, rect.y1))
    h_edges: list[tuple[float, float, float]] = []  # (y, x0, x1)
    v_edges: list[tuple[float, float, float]] = []  # (x, y0, y1)
    for bx0, by0, bx1, by1, desc, _, kind in pdf_page.get_textpage(
            flags=_VECTOR_FLAGS, clip=clip).extractBLOCKS():
        if kind != 3:
            continue
        w, h = bx1 - bx0, by1 - by0
        if h <= 3 and w >= 4:
            h_edges.append(((by0 + by1) / 2, bx0, bx1))
        elif w <= 3 and h >= 4:
            v_edges.append(((bx0 + bx1) / 2, by0, by1))
        elif w > 3 and h > 3 and "is-rect: true" in desc:
            h_edges += [(by0, bx0, bx1), (by1, bx0, bx1)]
            v_edges += [(bx0, by0, by1), (bx1, by0, by1)]
    if len(h_edges) < 2 or len(v_edges) < 2:  # one ruled row: a table cut by a page break?
        return found
    words = None
    for *_, hs, vs in _regions(h_edges, v_edges):
        ys = _snap([e[0] for e in hs])
        xs = _snap([e[0] for e in vs])
        # A table broken across pages has no rule where the page cuts it: its column lines run
        # on past the last (or first) row rule, and that open row is a row too.
        open_edge = (bool(ys and vs and min(e[1] for e in vs) < ys[0] - 6),
                     bool(ys and vs and max(e[2] for e in vs) > ys[-1] + 6))
        if open_edge[0]:
            ys.insert(0, min(e[1] for e in vs))
        if open_edge[1]:
            ys.append(max(e[2] for e in vs))
        if len(ys) < 2 or len(xs) < 3:  # at least two columns
            continue
        area = (xs[0], ys[0], xs[-1], ys[-1])
        inside = [b for b in blocks if b.number not in taken
                  and _inside_share(b.bbox, area) >= 0.5]
        if not inside:
            continue
        if words is None:
            words = _chars(textpage, fixes or {})
        numbers = {b.number for b in inside}
        v_spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for x, vy0, vy1 in vs:
            v_spans[min(range(len(xs)), key=lambda k: abs(xs[k] - x))].append((vy0, vy1))
        n_rows, n_cols = len(ys) - 1, len(xs) - 1

        def drawn(k: int, y: float, v_spans=v_spans) -> bool:  # column line k drawn at y?
            return any(a - 2 <= y <= b + 2 for a, b in v_spans.get(k, ()))

        # A cell spanning columns (no line drawn between them in its row) keeps its text in its
        # first column; the columns it covers stay empty, so nothing is repeated.
        mids = [(ys[r] + ys[r + 1]) / 2 for r in range(n_rows)]
        cells: dict[tuple[int, int], list] = defaultdict(list)
        # (ruled row, first column, end column) -> characters of a label over those columns
        labels: dict[tuple[int, int, int], list] = defaultdict(list)
        for wx0, wy0, wx1, wy1, char, bno, lno, mono in words:
            if bno not in numbers:
                continue
            yc = (wy0 + wy1) / 2
            row = min(max(bisect.bisect(ys, yc) - 1, 0), n_rows - 1)
            col = min(max(bisect.bisect(xs, (wx0 + wx1) / 2) - 1, 0), n_cols - 1)
            while col > 0 and not drawn(col, mids[row]):
                col -= 1
            # An upper header cell over columns whose rules start below it (``Pre-Pawn`` over
            # Handgun, Long Gun, Other): a label for each of those columns' names.
            first, end = col, col + 1
            while first > 0 and not drawn(first, yc):
                first -= 1
            while end < n_cols and not drawn(end, yc):
                end += 1
            if first < col or any(drawn(k, mids[row]) for k in range(col + 1, end)):
                labels[row, first, end].append((bno, lno, char, mono))
                continue
            cells[row, col].append((yc, bno, lno, char, mono))
        split, origins = _split_rows(cells, n_rows, n_cols)
        spans: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        for (row, first, end), chars in sorted(labels.items()):
            if row in origins:  # the label goes with the first text row of its ruled row
                spans[origins.index(row)].append((first, end, _cell_text(chars)))
        grid = _grid_rows(split, n_cols, spans)
        if grid:
            rows, kept = grid
            table = Table(inside[0].number, rows, numbers,  # first block in stream order
                          [(xs[c], xs[c + 1]) for c in kept], area, open_edge)
            # A title row over the column names (one cell across the grid: no column rule drawn
            # in it) is the table's caption, and the column names are its header.
            if (len(rows) >= 3 and n_cols >= 2 and not any(drawn(k, mids[0]) for k in range(1, n_cols))
                    and rows[0][0] and not any(rows[0][1:])):
                table.caption, table.rows = rows[0][0].replace("\\|", "|"), rows[1:]
            found.append(table)
            taken |= numbers
    return found


def _split_rows(cells: dict, n_rows: int, n_cols: int) -> tuple[list[dict[int, list]], list[int]]:
    """Rows of ``{column: [(block, line, word)]}`` and the ruled row each comes from; a ruled row
    holding several text rows is split.

    Tables that rule only every few rows (banded statistics tables) hold several text lines per
    ruled row. A ruled row is split when it has three or more text lines (word centres within
    3 pt) that each fill at least half of its columns; lines filling fewer (a wrapped cell) stay
    with the line above.
    """
    rows = []
    origins: list[int] = []
    for r in range(n_rows):
        # (y, column, (block, line, word), position in the cell's extraction order)
        entries = [(y, c, rest, i) for c in range(n_cols) for i, (y, *rest) in enumerate(cells.get((r, c), ()))]
        if not entries:
            continue
        entries.sort(key=lambda e: e[0])
        lines: list[list] = [[entries[0]]]
        for e in entries[1:]:
            if e[0] - lines[-1][-1][0] > 3:
                lines.append([])
            lines[-1].append(e)
        used = len({e[1] for e in entries})
        full = [len({e[1] for e in ln}) * 2 >= used and len({e[1] for e in ln}) >= 2 for ln in lines]
        groups: list[list] = []
        if sum(full) >= 3:
            for ln, is_full in zip(lines, full):
                if is_full or not groups:
                    groups.append([])
                groups[-1].extend(ln)
        else:
            groups = [entries]
        for group in groups:
            row: dict[int, list] = defaultdict(list)
            # Back to extraction order within each cell: sorting by y above would put Latin words
            # before CJK ones on the same line (their glyph boxes sit at different heights).
            for _, c, rest, _ in sorted(group, key=lambda e: (e[1], e[3])):
                row[c].append(tuple(rest))
            rows.append(row)
            origins.append(r)
    return rows, origins


def _chars(textpage: pymupdf.TextPage, fixes: dict) -> list[tuple]:
    """Every character of the text page as ``(x0, y0, x1, y1, char, block, line, mono)``; ``block``
    is the ordinal among text blocks, ``mono`` whether its font is monospaced (flags bit 3). Characters, not words, are placed in cells: MuPDF joins the
    text of neighbouring cells into one word when the gap is small (common with CJK text)."""
    out = []
    blocks = [b for b in textpage.extractRAWDICT()["blocks"] if b["type"] == 0]
    apply_raw(blocks, fixes)
    for bno, block in enumerate(blocks):
        for lno, line in enumerate(block["lines"]):
            for span in line["spans"]:
                for ch in span["chars"]:
                    x0, y0, x1, y1 = ch["bbox"]
                    out.append((x0, y0, x1, y1, ch["c"], bno, lno, bool(span["flags"] & 8)))
    return out


def _regions(h_edges: list, v_edges: list, tol: float = 2.0) -> list[list]:
    """Group touching edges: ``[x0, y0, x1, y1, h_edges, v_edges]`` per connected group."""
    regions: list[list] = []
    edges = [(x0 - tol, y - tol, x1 + tol, y + tol, 0, (y, x0, x1)) for y, x0, x1 in h_edges]
    edges += [(x - tol, y0 - tol, x + tol, y1 + tol, 1, (x, y0, y1)) for x, y0, y1 in v_edges]
    for ex0, ey0, ex1, ey1, kind, edge in edges:
        merged = [ex0, ey0, ex1, ey1, [], []]
        keep = []
        for r in regions:
            if r[0] <= merged[2] and merged[0] <= r[2] and r[1] <= merged[3] and merged[1] <= r[3]:
                merged[0], merged[1] = min(merged[0], r[0]), min(merged[1], r[1])
                merged[2], merged[3] = max(merged[2], r[2]), max(merged[3], r[3])
                merged[4] += r[4]
                merged[5] += r[5]
            else:
                keep.append(r)
        merged[4 + kind].append(edge)
        keep.append(merged)
        regions = keep
    return regions


def _snap(values: list[float], tol: float = 2.5) -> list[float]:
    """Sorted coordinates with values closer than ``tol`` points merged into one."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _inside_share(bbox: tuple, area: tuple) -> float:
    x0, y0, x1, y1 = bbox
    w, h = max(x1 - x0, 0.1), max(y1 - y0, 0.1)
    iw = min(x1, area[2]) - max(x0, area[0])
    ih = min(y1, area[3]) - max(y0, area[1])
    return 0.0 if iw <= 0 or ih <= 0 else (iw * ih) / (w * h)


def _grid_rows(rows: list[dict[int, list]], n_cols: int,
               spans: dict[int, list[tuple[int, int, str]]] | None = None,
               ) -> tuple[list[list[str]], list[int]] | None:
    """Cell texts from rows of ``{column: [(block, line, word)]}`` and the kept column indexes,
    or ``None`` if it is no table. ``spans`` maps a row index to the labels ``(first column, end
    column, text)`` set over some of its columns (a two-level header): each of those cells
    becomes ``label / name`` (``Pre-Pawn / Handgun``), or the label alone when it is empty.

    Empty columns are dropped. A grid is rejected unless it keeps at least one row and two
    columns, half its cells hold text with a letter or digit, and the cells average at most 200
    characters (a figure's grid lines or a framed page of prose are not tables).
    """
    texts = [{c: _cell_text(words) for c, words in row.items()} for row in rows]
    for index, labels in (spans or {}).items():
        for first, end, label in labels:
            for c in range(first, end):
                name = texts[index].get(c, "")
                texts[index][c] = f"{label} / {name}" if name else label
    cols = [c for c in range(n_cols) if any(t.get(c) for t in texts)]
    filled = [v for t in texts for v in t.values() if v and _ALNUM_RE.search(v)]
    if (not texts or len(cols) < 2 or len(filled) * 2 < len(texts) * len(cols)
            or sum(map(len, filled)) > 200 * len(filled)):
        return None
    return [[t.get(c, "") for c in cols] for t in texts], cols


def _cell_text(chars: list[tuple[int, int, str, bool]]) -> str:
    """Characters ``(block, line, char, mono)`` of a cell in reading order; lines joined by a space
    except between CJK characters; runs of whitespace collapsed to one space; a run of
    monospaced characters holding ASCII set off as inline code (``| `ollama list` | … |``)."""
    out: list[tuple[str, bool]] = []
    last_line = None
    for bno, lno, char, mono in sorted(chars, key=lambda w: (w[0], w[1])):
        if (out and last_line != (bno, lno) and not out[-1][0].isspace() and not char.isspace()
                and not (_CJK_RE.match(out[-1][0]) and _CJK_RE.match(char))):
            out.append((" ", out[-1][1] and mono))
        if char.isspace():
            if not out or out[-1][0] == " ":
                continue
            char = " "
        out.append((char, mono))
        last_line = (bno, lno)
    text = ""
    for mono, group in groupby(out, key=lambda item: item[1]):
        run = "".join(ch for ch, _ in group)
        text += inline_code(run) if mono else run
    return text.strip().replace("|", "\\|")
