"""Tables of a PDF cut by a page break, written as one pipe table (used by :mod:`dataset_gen.pdf`).

A page break inside a ruled table leaves a grid at the bottom of one page and another at the top
of the next. When one of the two parts is a single row (a header row left alone at the foot of a
page, or the last row pushed onto the next page) it is no table by itself
(:func:`dataset_gen.pdf_tables.find_tables` returns such grids only for this check). The rule of
:func:`stitch_tables`:

- the last thing page *i* shows is a table and the first thing page *i + 1* shows is one (nothing
  between them in reading order but running headers and footers, which are left out);
- both have the same number of columns and each column's left and right rule lies within 3 pt of
  the other's (a table broken by the renderer keeps its column widths);
- one part has a single row, and that row lies in the outer 30 % of its page (bottom for the
  first part, top for the second); or the first part's column rules run on below its last row
  rule, or the second part's above its first (no rule where the page cuts the table).

The second part is then marked ``continued``: it is written as body rows only, and the two page
texts are joined by one line break instead of a blank line, so the Markdown is ONE pipe table
with its header once. Page provenance stays right, since ``page_starts`` index the text: the
rows of page *i + 1* still start page *i + 1*. One-row grids that continue nothing are dropped
and their blocks read as paragraphs again.
"""

from __future__ import annotations

__all__ = ["stitch_tables"]

_COLUMN_TOLERANCE = 3.0  # points
_EDGE_SHARE = 0.3  # a lone row lies in the outer 30 % of its page height


def stitch_tables(pages: list) -> list[bool]:
    """Mark table parts continued across page breaks (see the module docstring) and drop lone
    one-row grids; return ``joined`` with ``joined[i]`` true when page ``i + 1``'s text continues
    page ``i``'s table (the two page texts are then separated by ``"\\n"``, not ``"\\n\\n"``).

    ``pages`` are objects with ``blocks`` (in reading order, each with ``number`` and ``text``),
    ``tables`` (anchor block number -> :class:`dataset_gen.pdf_tables.Table`), ``dropped`` (block
    numbers rendered inside a table) and ``size`` ((width, height) in points); they are changed
    in place.
    """
    joined = [False] * len(pages)
    stitched: set[int] = set()  # id() of the tables in a stitched pair
    for i in range(len(pages) - 1):
        last = _edge_table(pages[i], last=True)
        first = _edge_table(pages[i + 1], last=False)
        if last is None or first is None or not _same_columns(last.columns, first.columns):
            continue
        lone_last = len(last.rows) == 1 and last.bbox[3] >= (1 - _EDGE_SHARE) * pages[i].size[1]
        lone_first = len(first.rows) == 1 and first.bbox[1] <= _EDGE_SHARE * pages[i + 1].size[1]
        if lone_last or lone_first or last.open_edge[1] or first.open_edge[0]:
            first.continued = True
            joined[i] = True
            stitched |= {id(last), id(first)}
    for page in pages:
        for anchor, table in list(page.tables.items()):
            if len(table.rows) == 1 and id(table) not in stitched:
                del page.tables[anchor]
                page.dropped -= table.numbers
    return joined


def _edge_table(page, last: bool):
    """The table rendered first (or ``last``) on ``page`` when nothing is rendered before (after)
    it, else ``None``."""
    blocks = page.blocks[::-1] if last else page.blocks
    for block in blocks:
        if block.number in page.dropped:
            owner = next((t for t in page.tables.values() if block.number in t.numbers), None)
            if owner is not None:
                return owner
            continue
        if block.text.strip():
            return None
    return None


def _same_columns(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return len(a) == len(b) and all(abs(x0 - y0) <= _COLUMN_TOLERANCE
                                    and abs(x1 - y1) <= _COLUMN_TOLERANCE
                                    for (x0, x1), (y0, y1) in zip(a, b))
