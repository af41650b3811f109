"""Pipe tables, the one Markdown table form every reader writes (GitHub Flavored Markdown's table
extension, https://github.github.com/gfm/#tables-extension-): a header row, a ``| --- |``
delimiter row, then the body rows."""

from __future__ import annotations

__all__ = ["pipe_table"]


def pipe_table(rows: list[list[str]]) -> str:
    """``rows`` (the first is the header) as a pipe table, short rows padded with empty cells to
    the widest; ``""`` for no rows. Cell text is written as given: callers flatten line breaks and
    escape ``|`` first."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = []
    for k, r in enumerate(rows):
        r = r + [""] * (width - len(r))
        lines.append("| " + " | ".join(r) + " |")
        if k == 0:
            lines.append("|" + "|".join(" --- " for _ in r) + "|")
    return "\n".join(lines)
