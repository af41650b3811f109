"""Markdown structure of a text, for splitting: ATX headings outside fenced code blocks, HTML blocks
and YAML front matter, and the blocks (fences, ``<pre>``-like HTML blocks, pipe tables, front
matter) that a cut should not go through.

Rules follow CommonMark 0.31 (ATX headings: up to three spaces of indent, 1–6 ``#`` and a space;
fences: three or more backticks or tildes, closed by a fence of the same character at least as
long), which is why ``# foo`` inside a 32-backtick fence of the CommonMark spec is not a heading.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

_HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+(.*)")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_TABLE_DELIMITER = re.compile(r" {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_YAML_KEY = re.compile(r"[\w\"'.-]+[ \t]*:(?:[ \t]|$)", re.M)
_FRONT_MATTER_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t\r]*$", re.M)
NON_SPACE = re.compile(r"\S")
# HTML blocks (CommonMark 0.31 §4.6). Type 1 (pre, script, style, textarea) runs to the line that
# closes it, type 2 (a comment) to "-->"; types 6 (block-level tags) and 7 (a line holding one
# complete tag, which cannot interrupt a paragraph) run to the next blank line. Their lines are raw
# HTML: a "# x" line inside "<pre>" is not a heading.
_HTML_RAW_OPEN = re.compile(r" {0,3}<(pre|script|style|textarea)(?:[\s>]|$)", re.I)
_HTML_COMMENT_OPEN = re.compile(r" {0,3}<!--")
_HTML_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|"
    "dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|"
    "menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|"
    "title|tr|track|ul"
)
_HTML_BLOCK_OPEN = re.compile(rf" {{0,3}}</?(?:{_HTML_BLOCK_TAGS})(?:[\s>]|/>|$)", re.I)
_HTML_LONE_TAG = re.compile(
    r" {0,3}(?:<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*\s*/?>"
    r"|</[A-Za-z][A-Za-z0-9-]*\s*>)[ \t]*"
)


def _html_block_end(line: str, previous_blank: bool) -> str | None:
    """How the HTML block opened by ``line`` ends: a closing text (``"</pre>"``, ``"-->"``), ``""``
    for "at the next blank line", or ``None`` when ``line`` opens no HTML block."""
    match = _HTML_RAW_OPEN.match(line)
    if match:
        return f"</{match[1].lower()}>"
    if _HTML_COMMENT_OPEN.match(line):
        return "-->"
    if _HTML_BLOCK_OPEN.match(line) or (previous_blank and _HTML_LONE_TAG.fullmatch(line)):
        return ""
    return None


def display_width(line: str) -> int:
    """Columns ``line`` takes in a monospaced editor: East Asian wide and fullwidth characters
    (Unicode UAX #11 ``W``/``F``) count two, others one."""
    return len(line) + sum(1 for ch in line if ord(ch) >= 0x1100
                           and unicodedata.east_asian_width(ch) in "WF")


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` moved inwards past whitespace; equal when the span is all whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


@dataclass
class Structure:
    """Where the headings are and which cut positions must be avoided.

    ``keep_*`` are disjoint intervals ``(a, b]`` of cut positions that would leave a heading
    without its body; ``block_*`` those inside a fence, table or front matter that fits in one chunk.
    """

    heading_starts: list[int]
    heading_ends: list[int]
    heading_paths: list[tuple[str, ...]]
    keep_starts: list[int]
    keep_ends: list[int]
    block_starts: list[int]
    block_ends: list[int]
    markup_starts: list[int] = field(default_factory=list)
    markup_counts: list[int] = field(default_factory=list)

    def markup_chars(self, start: int, end: int) -> int:
        """How many characters the pipe-table delimiter rows of lines starting in
        ``[start, end)`` are longer (negative: shorter) than their header rows are wide.

        A delimiter row is markup whose length is the writer's choice: ``|---|`` and
        ``|--------|`` say the same, the PDF and DOCX readers write ``| --- |`` and an editor that
        aligns columns writes as many dashes as the header row is wide (:func:`display_width`).
        A section's size minus this is the size it would have with aligned delimiter rows, so
        its Markdown, PDF and DOCX renderings measure alike and are cut at the same headings."""
        lo = bisect.bisect_left(self.markup_starts, start)
        hi = bisect.bisect_left(self.markup_starts, end)
        return sum(self.markup_counts[lo:hi])

    def path_at(self, offset: int) -> tuple[str, ...]:
        i = bisect.bisect_right(self.heading_starts, offset) - 1
        return self.heading_paths[i] if i >= 0 else ()


def _front_matter_end(text: str) -> int:
    """End of the closing line of YAML front matter (``---`` … ``---`` or ``...``), else 0.

    The line after the opening ``---`` must start with a ``key:``, so a text that merely opens
    with a horizontal rule does not hide its headings down to the next rule.
    """
    first = 1 if text.startswith("\ufeff") else 0
    newline = text.find("\n", first)
    if newline < 0 or text[first:newline].rstrip() != "---" or not _YAML_KEY.match(text, newline + 1):
        return 0
    close = _FRONT_MATTER_CLOSE.search(text, newline + 1)
    return close.end() if close else 0


def scan(text: str, max_chars: int) -> Structure:
    """One pass over the lines: headings outside fences and front matter, fence and table blocks."""
    n = len(text)
    headings: list[tuple[int, int, int, str]] = []  # (line start, line end, level, title)
    blocks: list[tuple[int, int]] = []
    markup: list[tuple[int, int]] = []  # (line start, markup characters), see markup_chars
    pos = _front_matter_end(text)
    if pos:
        blocks.append((0, pos))
    fence: tuple[str, int, int] | None = None  # (character, length, start)
    table_start = table_end = -1
    previous_start, previous_has_pipe, previous_blank = -1, False, True
    html_end: str | None = None  # while inside an HTML block: how it ends (see _html_block_end)
    html_start = 0
    while pos < n:
        newline = text.find("\n", pos)
        end = n if newline < 0 else newline
        line = text[pos:end]
        if fence is not None:
            body = line.lstrip(" ")
            if (len(line) - len(body) <= 3 and body.startswith(fence[0] * fence[1])
                    and body.strip().strip(fence[0]) == ""):
                blocks.append((fence[2], end))
                fence = None
            pos = end + 1
            continue
        stripped = line.strip()
        if html_end is not None:
            if (not stripped) if html_end == "" else (html_end in line.lower()):
                if html_end:
                    blocks.append((html_start, end))
                html_end = None
            previous_blank = not stripped
            pos = end + 1
            continue
        if table_start >= 0:
            if stripped and "|" in line:
                table_end = end
                pos = end + 1
                continue
            blocks.append((table_start, table_end))
            table_start = -1
        first = stripped[:1]
        if first == "<":
            html_end = _html_block_end(line, previous_blank)
            if html_end is not None:
                html_start = pos
                if html_end and html_end in line.lower()[line.index("<") + 2:]:
                    blocks.append((pos, end))  # opened and closed on one line
                    html_end = None
                previous_has_pipe, previous_blank = False, False
                pos = end + 1
                continue
        if first in ("`", "~"):
            match = _FENCE_OPEN.match(line)
            if match and not (match[1][0] == "`" and "`" in match[2]):
                fence = (match[1][0], len(match[1]), pos)
                previous_has_pipe = False
                pos = end + 1
                continue
        elif first == "#":
            match = _HEADING.match(line)
            if match:
                title = _CLOSING_HASHES.sub("", match[2].strip()).strip()
                if title:
                    headings.append((pos, end, len(match[1]), title))
        elif previous_has_pipe and "|" in line and "-" in line and _TABLE_DELIMITER.fullmatch(stripped):
            table_start, table_end = previous_start, end
            # the delimiter row weighs as wide as its header row (see Structure.markup_chars)
            markup.append((pos, (end - pos) - display_width(text[previous_start:pos - 1])))
        previous_start, previous_has_pipe = pos, bool(stripped) and "|" in line and first != "#"
        previous_blank = not stripped
        pos = end + 1
    if fence is not None:
        blocks.append((fence[2], n))
    if html_end:
        blocks.append((html_start, n))
    if table_start >= 0:
        blocks.append((table_start, table_end))
    blocks.sort()

    paths: list[tuple[str, ...]] = []
    stack: list[tuple[int, str]] = []
    for _, _, level, title in headings:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        paths.append(tuple(t for _, t in stack))

    keep = _keep_with_body(text, headings)
    fitting = [(a, b - 1) for a, b in blocks if b - a <= max_chars and b - 1 > a]
    return Structure(
        heading_starts=[h[0] for h in headings],
        heading_ends=[h[1] for h in headings],
        heading_paths=paths,
        keep_starts=[a for a, _ in keep],
        keep_ends=[b for _, b in keep],
        block_starts=[a for a, _ in fitting],
        block_ends=[b for _, b in fitting],
        markup_starts=[a for a, _ in markup],
        markup_counts=[n for _, n in markup],
    )


def _keep_with_body(text: str, headings: list[tuple[int, int, int, str]]) -> list[tuple[int, int]]:
    """Cut intervals ``(a, b]`` that would separate each heading from the text below it.

    For a heading with a body, ``(heading start, first character of the body]``. Headings at the
    very end with no body at all are glued to the text before them instead.
    """
    # A heading with no body is given len(text) + 1 as its body start: past the end, so it is
    # never inside another heading and is recognised as bodiless below.
    nowhere = len(text) + 1
    bodies: list[int] = []
    for _, line_end, _, _ in headings:
        match = NON_SPACE.search(text, line_end)
        bodies.append(match.start() if match else nowhere)
    trailing = len(headings)
    if headings and bodies[-1] == nowhere:
        trailing -= 1
        while trailing > 0 and headings[trailing][0] <= bodies[trailing - 1] < headings[trailing][1]:
            trailing -= 1
    intervals = [(headings[i][0], bodies[i]) for i in range(trailing)]
    if trailing < len(headings):
        before = strip_span(text, 0, headings[trailing][0])[1]
        intervals.append((max(before - 1, 0), len(text)))
    return intervals


# --- cutting a long span ---------------------------------------------------------------------


