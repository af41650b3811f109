"""Running headers, footers, page numbers and margin notes of a PDF, kept out of its text (used
by :mod:`dataset_gen.pdf`; blocks and lines from :mod:`dataset_gen.pdf_layout`).

Coordinates are PDF points (1/72 inch), y growing downwards. The rule (:func:`find_running`):
lines in the top or bottom 10 % of the page, or in the outer 6 % at the sides, whose text with
digits removed repeats on at least 40 % of the pages (and on at least 2) are kept out of the
text; page numbers change from page to page, so digits do not count.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .pdf_layout import Block

__all__ = ["find_running", "is_running", "margin_lines", "running_keys"]

_DIGITS_RE = re.compile(r"\d+")


def find_running(pages: list[list[Block]], sizes: list[tuple[float, float]],
                 marks: list[list[tuple[Block, int, str]]] | None = None) -> list[list[str]]:
    """Remove running headers, footers, page numbers and margin notes from ``pages`` (in place);
    return the removed line texts per page. ``sizes`` are the page (width, height) in points;
    ``marks`` the pages' :func:`margin_lines` when already known."""
    removed: list[list[str]] = [[] for _ in pages]
    if len(pages) < 2:
        return removed
    if marks is None:
        marks = [margin_lines(blocks, size) for blocks, size in zip(pages, sizes)]
    running = _running(marks)
    for index, here in enumerate(marks):
        drop: dict[int, set[int]] = defaultdict(set)
        for block, i, key in here:
            if key in running:
                drop[id(block)].add(i)
                removed[index].append(block.lines[i].text.strip())
        if drop:
            kept = []
            for block in pages[index]:
                gone = drop.get(id(block))
                if gone:
                    block.lines = [ln for i, ln in enumerate(block.lines) if i not in gone]
                    block.refresh()
                if block.lines:
                    kept.append(block)
            pages[index][:] = kept
    return removed


def running_keys(pages: list[list[Block]], sizes: list[tuple[float, float]],
                 marks: list[list[tuple[Block, int, str]]] | None = None) -> set[str]:
    """Keys of the margin lines :func:`find_running` would remove (for :func:`is_running`)."""
    if len(pages) < 2:
        return set()
    if marks is None:
        marks = [margin_lines(blocks, size) for blocks, size in zip(pages, sizes)]
    return _running(marks)


def is_running(block: Block, size: tuple[float, float], keys: set[str]) -> bool:
    """``True`` when a margin line of ``block`` is a running header or footer (``keys`` from
    :func:`running_keys`)."""
    return any(key in keys for _, _, key in margin_lines([block], size))


def margin_lines(blocks: list[Block], size: tuple[float, float]) -> list[tuple[Block, int, str]]:
    """``(block, line index, key)`` for the lines of ``blocks`` in the margins of a page of
    ``size`` (width, height; see the module docstring); ``key`` is the line case-folded, without
    whitespace, digits replaced by ``#``."""
    w, h = size
    here = []
    for block in blocks:
        for i, line in enumerate(block.lines):
            x0, y0, x1, y1 = line.bbox
            xc, yc = (x0 + x1) / 2, (y0 + y1) / 2
            if not (yc < 0.1 * h or yc > 0.9 * h or xc < 0.06 * w or xc > 0.94 * w):
                continue
            key = _DIGITS_RE.sub("#", "".join(line.text.split()).casefold())
            if key:
                here.append((block, i, key))
    return here


def _running(marks: list[list[tuple[Block, int, str]]]) -> set[str]:
    keys_on: dict[str, set[int]] = defaultdict(set)
    for index, here in enumerate(marks):
        for _, _, key in here:
            keys_on[key].add(index)
    need = max(2, -(-len(marks) * 2 // 5))
    return {key for key, on in keys_on.items() if len(on) >= need}
