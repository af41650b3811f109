"""The header of a pipe table that a chunk continues, so the model reads its columns' names.

A long table is cut between rows; every chunk after the first would hold bare rows (numbers
without the column names above them). The header is not copied into the chunk: a chunk is an exact
span of the document text (``chunk.text == text[start:end]``) and its offsets, the provenance and
the "nothing lost" promise rest on that. Instead the header is computed from the document text
when the prompt is built (no stored column): :func:`table_header_before` returns the header row and
its delimiter row for a chunk that starts inside a table whose header lies before the chunk, and
the prompt shows it before the chunk text as context. Evidence quoted from it is grounded against
that context plus the chunk.

Pipe tables as GitHub Flavored Markdown defines them (spec 0.29 §4.10): a header row, a delimiter
row of ``---`` cells (optionally ``:`` aligned), then rows up to the first blank line or line
without ``|``; these are the tables the PDF, DOCX, EPUB and HTML readers write.
"""

from __future__ import annotations

import re

__all__ = ["line_end_of", "table_header_before", "with_table_header"]

_DELIMITER = re.compile(r" {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_MAX_LOOKBACK = 200_000  # characters walked back at most looking for the header (a ~2,000-row table)


def table_header_before(text: str, start: int) -> str:
    """The ``"header row\\ndelimiter row"`` of the pipe table that ``text[start:]`` continues, or
    ``""``.

    ``start`` is a character offset into ``text`` (a chunk's ``start``). The line holding
    ``start`` must be a table row (non-blank, with a ``|``) and every line above it up to the
    delimiter row too; the header is the line above the delimiter. ``""`` when ``start`` is not in
    a table, when the chunk itself starts at or above the delimiter row (it holds the header), or
    when the header is more than 200,000 characters back.
    """
    if not 0 <= start < len(text):
        return ""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    if not line.strip() or "|" not in line or _DELIMITER.fullmatch(line.strip()):
        return ""
    floor = max(0, start - _MAX_LOOKBACK)
    end = line_start - 1  # the "\n" that ends the line above
    while end > floor:
        begin = text.rfind("\n", 0, end) + 1
        above = text[begin:end]
        if not above.strip() or "|" not in above:
            return ""
        if _DELIMITER.fullmatch(above.strip()) and "-" in above:
            header_begin = text.rfind("\n", 0, max(begin - 1, 0)) + 1 if begin > 0 else 0
            header = text[header_begin:begin - 1] if begin > 0 else ""
            if "|" not in header or not header.strip():
                return ""
            return "\n".join([header, above, *_label_rows(text, line_end_of(text, begin) + 1, line_start, header)])
        end = begin - 1
    return ""


def line_end_of(text: str, position: int) -> int:
    """Offset of the ``"\\n"`` ending the line that holds ``position`` (or ``len(text)``)."""
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _label_rows(text: str, begin: int, stop: int, header: str) -> list[str]:
    """Rows below the delimiter that still name columns, when the header row is a title.

    A table whose first row is a title spanning the columns (at most a third of its cells filled,
    e.g. "NICS Firearm Background Checks November - 2015" above "State / Territory | Permit | …")
    has its column names in the next rows: up to three rows from ``begin`` (before ``stop``, the
    chunk's first line) in which no cell holds a digit are added.
    """
    cells = _cells(header)
    if sum(1 for c in cells if c) * 3 > len(cells):
        return []
    rows: list[str] = []
    while begin < stop and len(rows) < 3:
        end = line_end_of(text, begin)
        row = text[begin:end]
        if any(ch.isdigit() for ch in row):
            break
        rows.append(row)
        begin = end + 1
    return rows


def with_table_header(text: str, start: int, chunk_text: str) -> str:
    """``chunk_text`` with the header of the table it continues on the lines before it (one line
    break, so the two read as one table), or ``chunk_text`` unchanged; see
    :func:`table_header_before`. ``start`` is the chunk's offset into ``text``."""
    header = table_header_before(text, start)
    return f"{header}\n{chunk_text}" if header else chunk_text
