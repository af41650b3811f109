"""Page layout for :mod:`dataset_gen.pdf`: lines and blocks from MuPDF's text page, word spaces,
running headers and footers, reading order by columns, footnotes.

Coordinates are PDF points (1/72 inch), y growing downwards as in PyMuPDF. The rules, each
applied by one function here:

- Lines: MuPDF's ``extractDICT`` lines, with the text of their spans. Spans set as superscript
  (one to three digits) after a word or punctuation (``alert,⁵``, ``Reports ¹``) are footnote
  references and become ``[^5]``, glued to the word. Lines of one
  block on the same baseline (MuPDF splits a line where the font changes) are joined. On pages with
  Hangul the lines are rebuilt from the character boxes (``extractRAWDICT``): a gap wider than a
  quarter of the font size between two characters is a word space, since Korean PDFs often place
  words apart without space characters (:func:`build_blocks`).
- Running headers and footers: see :mod:`dataset_gen.pdf_running`.
- Reading order (:func:`reading_order`): a recursive XY cut. A region is first cut at a vertical
  gap of at least 6 pt that no block crosses (columns, left to right), else at a horizontal gap
  (top to bottom); a page is only reordered when it has a vertical cut, so single-column pages
  keep MuPDF's order, and pages with vertical writing keep it too. A right column drawn first thus still reads after the left one.
- Footnotes (:func:`move_footnotes`): blocks set at most 85 % of the body size, starting in the
  lower 60 % of the page with a number or ``*``/``†``/``‡``/``§`` marker (and the small blocks
  right after them), go after the body of their page.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Block", "Line", "build_blocks", "move_footnotes", "reading_order"]

_ASCII_RE = re.compile("[!-~]")
_ASCII_ALNUM_RE = re.compile("[0-9A-Za-z]")
_ASCII_SPACE_RE = re.compile("[ -~]")
_HANGUL_RE = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_REF_BEFORE_RE = re.compile(r"[^\W\d_][,.;:)’”\"']? *$")
_MARKER_RE = re.compile(r"^\s*(\d{1,3}|[*†‡§])\s+\S")


@dataclass(slots=True)
class Line:
    """One text line: ``text``, ``bbox`` (x0, y0, x1, y1), dominant font ``size`` (pt), ``mono``
    (a code line, see :func:`_monospaced`)."""

    text: str
    bbox: tuple[float, float, float, float]
    size: float
    mono: bool

    def __reduce__(self) -> tuple:  # pickled as a constructor call: faster than slot state
        return Line, (self.text, self.bbox, self.size, self.mono)


@dataclass(slots=True)
class Block:
    """A text block: ``number`` is its ordinal among the page's text blocks in MuPDF's stream
    order (as in ``TextPage.extractWORDS``), ``lines`` in order; ``levels`` maps line index to
    heading level; ``footnote`` marks a footnote block."""

    number: int
    bbox: tuple[float, float, float, float]
    lines: list[Line]
    text: str = ""  # the lines joined by "\n" (set by refresh())
    code: bool = False  # every line with ASCII text is a code line (:func:`_monospaced`)
    levels: dict[int, int] = field(default_factory=dict)
    footnote: bool = False
    vertical: bool = False  # vertical writing (tategaki): lines run top to bottom
    side_by_side: bool = False  # MuPDF lines of the block set next to each other (table cells?)
    margin_side: bool = False  # the same, only in the top or bottom 10 % (header or table?)

    def __reduce__(self) -> tuple:  # pickled as a constructor call: faster than slot state
        return Block, (self.number, self.bbox, self.lines, self.text, self.code, self.levels,
                       self.footnote, self.vertical, self.side_by_side, self.margin_side)

    @property
    def sizes(self) -> list[float]:
        return [ln.size for ln in self.lines]

    def refresh(self) -> None:
        """Recompute ``text`` and ``code`` from ``lines``."""
        lines = self.lines
        self.text = "\n".join([ln.text for ln in lines])
        for ln in lines:
            if ln.mono:
                break
        else:  # the common case, without a regex per line
            self.code = False
            return
        with_ascii = [ln for ln in self.lines if _ASCII_RE.search(ln.text)]
        self.code = bool(with_ascii) and all(ln.mono for ln in with_ascii)


def build_blocks(dict_blocks: list[dict], raw_blocks: list[dict] | None = None,
                 height: float = 0.0) -> list[Block]:
    """Blocks from ``TextPage.extractDICT()["blocks"]`` (images skipped, numbering kept).

    ``side_by_side`` is set on a block with two lines of at least two characters on one baseline
    at least 1.5 font sizes apart (table cells), not counting lines in the top or bottom 10 % of
    the page ``height`` (pt), where running headers put a page number beside a title; such a
    block gets ``margin_side`` instead (a table cut by a page break, unless the lines repeat as
    a running header, see :func:`dataset_gen.pdf_running.running_keys`).

    ``raw_blocks`` (``extractRAWDICT()["blocks"]`` of the same text page) is used for the line
    text when given: words are then spaced from the gaps between character boxes.
    """
    out: list[Block] = []
    raw_text = [b for b in raw_blocks if b["type"] == 0] if raw_blocks is not None else None
    for b in dict_blocks:
        if b["type"] != 0:
            continue
        raw_lines = raw_text[len(out)]["lines"] if raw_text is not None else None
        lines: list[Line] = []
        side_by_side = margin_side = False
        for k, ln in enumerate(b["lines"]):
            spans = ln["spans"]
            if raw_lines is not None:
                line = Line(_gap_text(raw_lines[k]["spans"]), tuple(ln["bbox"]),
                            _line_size(spans), _monospaced(spans))
            else:
                line = _line(spans, ln["bbox"])
            if (lines and line.bbox[0] - lines[-1].bbox[2] >= 1.5 * line.size
                    and _overlap_y(lines[-1], line) and len(line.text.strip()) >= 2
                    and len(lines[-1].text.strip()) >= 2):
                if 0.1 * height < line.bbox[1] < 0.9 * height:
                    side_by_side = True
                else:
                    margin_side = True
            if lines and _same_baseline(lines[-1], line):
                prev = lines[-1]
                gap = line.bbox[0] - prev.bbox[2]
                sep = " " if gap > prev.size * 0.25 and not prev.text.endswith(" ") \
                    and not line.text.startswith(" ") else ""
                lines[-1] = Line(prev.text + sep + line.text,
                                 (prev.bbox[0], min(prev.bbox[1], line.bbox[1]),
                                  line.bbox[2], max(prev.bbox[3], line.bbox[3])),
                                 max(prev.size, line.size), prev.mono and line.mono)
            else:
                lines.append(line)
        vertical = any(ln.get("wmode") == 1 for ln in b["lines"])
        block = Block(len(out), tuple(b["bbox"]), lines, side_by_side=side_by_side,
                      margin_side=margin_side and not side_by_side,
                      vertical=vertical)
        block.refresh()
        out.append(block)
    return out


def needs_raw(text: str) -> bool:
    """``True`` when ``text`` (a page's text) holds Hangul, whose word spaces may only be gaps
    between glyphs."""
    return _HANGUL_RE.search(text) is not None


def _line(spans: list[dict], bbox: tuple) -> Line:
    """One pass over the spans: the :class:`Line` that :func:`_span_text`, :func:`_line_size`
    and :func:`_monospaced` together describe (kept in one loop for speed; the three stay the
    definitions, and the Hangul path uses them)."""
    if len(spans) == 1:
        s = spans[0]
        text = s["text"]
        mono = bool(s["flags"] & 8) and _ASCII_SPACE_RE.search(text) is not None
        return Line(text, tuple(bbox), s["size"] if text.strip() else 0.0, mono)
    out = ""
    best = best_mono = 0
    size = size_mono = 0.0
    mono, seen = True, False
    for s in spans:
        text, flags = s["text"], s["flags"]
        stripped = text.strip()
        if flags & 1 and stripped.isdigit() and len(stripped) <= 3 and _REF_BEFORE_RE.search(out):
            out = out.rstrip(" ") + f"[^{stripped}]" + (" " if text.endswith(" ") else "")
        else:
            out += text
        n = len(stripped)
        if flags & 8:
            if n > best_mono:
                best_mono, size_mono = n, s["size"]
        elif n > best:
            best, size = n, s["size"]
        if mono and _ASCII_SPACE_RE.search(text):
            mono, seen = bool(flags & 8), True
    if best_mono and not (mono and seen):  # monospaced words in a line of text: inline code
        out = _inline_code_text(spans)
    return Line(out, tuple(bbox), size if best else size_mono, mono and seen)


def inline_code(run: str) -> str:
    """``run`` (monospaced text) as Markdown inline code, its outer spaces kept outside the
    backticks; unchanged when it holds a backtick or no ASCII letter or digit."""
    core = run.strip()
    if not core or "`" in core or not _ASCII_ALNUM_RE.search(core):
        return run
    return run[:len(run) - len(run.lstrip())] + f"`{core}`" + run[len(run.rstrip()):]


def _inline_code_text(spans: list[dict]) -> str:
    """The text of a line of prose holding monospaced words (flags bit 3), each run of them set
    off as Markdown inline code (``模型名稱中的 `7b`、`8b```), spaces kept outside the backticks.
    A run holding a backtick, or no ASCII letter or digit, stays as it is."""
    out = run = ""

    def flush() -> None:
        nonlocal out, run
        out += inline_code(run)
        run = ""

    for s in spans:
        text, flags = s["text"], s["flags"]
        if flags & 8:
            run += text
            continue
        flush()
        stripped = text.strip()
        if flags & 1 and stripped.isdigit() and len(stripped) <= 3 and _REF_BEFORE_RE.search(out):
            out = out.rstrip(" ") + f"[^{stripped}]" + (" " if text.endswith(" ") else "")
        else:
            out += text
    flush()
    return out


def _span_text(spans: list[dict]) -> str:
    out = ""
    for s in spans:
        text = s["text"]
        # superscript (flags bit 0) digits right after a word or punctuation: a footnote mark
        if (s["flags"] & 1 and text.strip().isdigit() and len(text.strip()) <= 3
                and _REF_BEFORE_RE.search(out)):
            out = out.rstrip(" ") + f"[^{text.strip()}]" + (" " if text.endswith(" ") else "")
        else:
            out += text
    return out


def _gap_text(spans: list[dict]) -> str:
    out: list[str] = []
    last_x1 = None
    for s in spans:
        size = s["size"]
        for ch in s["chars"]:
            c = ch["c"]
            x0, x1 = ch["bbox"][0], ch["bbox"][2]
            if (last_x1 is not None and out and not out[-1].isspace() and not c.isspace()
                    and x0 - last_x1 > size * 0.25):
                out.append(" ")
            out.append(c)
            last_x1 = x1
    return "".join(out)


def _overlap_y(a: Line, b: Line) -> bool:
    ha, hb = a.bbox[3] - a.bbox[1], b.bbox[3] - b.bbox[1]
    overlap = min(a.bbox[3], b.bbox[3]) - max(a.bbox[1], b.bbox[1])
    return overlap >= 0.6 * min(ha, hb) > 0


def _same_baseline(a: Line, b: Line) -> bool:
    return (_overlap_y(a, b) and b.bbox[0] >= a.bbox[2] - 1
            and b.bbox[0] - a.bbox[2] < 1.5 * max(a.size, b.size))


def _monospaced(spans: list[dict]) -> bool:
    """A code line: every span holding an ASCII character, a space included, is in a monospaced
    font (flags bit 3), and one is. CJK in code samples is drawn with a fallback font that is not
    monospaced, so spans of only other characters do not count; a sentence with inline code has
    its spaces, or its other words, in the text font (``模型名稱中的 `7b`…`` is no code)."""
    seen = False
    for s in spans:
        if _ASCII_SPACE_RE.search(s["text"]):
            if not s["flags"] & 8:
                return False
            seen = True
    return seen


def _line_size(spans: list[dict]) -> float:
    """Font size (pt) of the span holding most non-space characters; monospaced spans are left
    out when there are others (inline code in a heading is set at the body size)."""
    best = best_mono = 0
    size = size_mono = 0.0
    for span in spans:
        n = len(span["text"].strip())
        if span["flags"] & 8:
            if n > best_mono:
                best_mono, size_mono = n, span["size"]
        elif n > best:
            best, size = n, span["size"]
    return size if best else size_mono


# --- reading order ---------------------------------------------------------------------------


def reading_order(blocks: list[Block]) -> list[Block]:
    """``blocks`` in reading order by a recursive XY cut (see the module docstring); pages with
    vertical writing (columns read right to left) keep MuPDF's order."""
    if len(blocks) < 2 or any(b.vertical for b in blocks):
        return blocks
    if max(b.bbox[0] for b in blocks) - min(b.bbox[2] for b in blocks) < 6:
        return blocks  # no two blocks side by side: no column cut anywhere
    out: list[Block] = []
    if not _xy_cut(blocks, out, vertical_seen=[False]):
        return blocks
    return out


def _xy_cut(blocks: list[Block], out: list[Block], vertical_seen: list[bool]) -> bool:
    if len(blocks) == 1:
        out.append(blocks[0])
        return vertical_seen[0]
    for axis in (0, 1):  # 0: cut between columns (x gap), 1: between rows (y gap)
        lo, hi = (0, 2) if axis == 0 else (1, 3)
        spans = sorted((b.bbox[lo], b.bbox[hi]) for b in blocks)
        cuts = []
        reach = spans[0][1]
        for a, b in spans[1:]:
            if a - reach >= (6 if axis == 0 else 0.5):
                cuts.append((reach + a) / 2)
            reach = max(reach, b)
        if not cuts:
            continue
        if axis == 0:
            vertical_seen[0] = True
        groups: list[list[Block]] = [[] for _ in range(len(cuts) + 1)]
        for block in blocks:
            centre = (block.bbox[lo] + block.bbox[hi]) / 2
            groups[bisect.bisect_left(cuts, centre)].append(block)  # cuts below the centre
        for group in groups:
            if group:
                # keep MuPDF's order inside a group that cannot be cut further
                _xy_cut(sorted(group, key=lambda b: b.number), out, vertical_seen)
        return vertical_seen[0]
    out.extend(blocks)
    return vertical_seen[0]


# --- footnotes -------------------------------------------------------------------------------


def body_size(pages: list[list[Block]]) -> float:
    """The font size (pt, rounded to 0.5) holding most characters of the document."""
    counts: Counter[float] = Counter()
    for blocks in pages:
        for block in blocks:
            for line in block.lines:
                counts[round(line.size * 2) / 2] += len(line.text.strip())
    return max(counts, key=counts.__getitem__) if counts else 0.0


def move_footnotes(blocks: list[Block], body: float, height: float) -> list[Block]:
    """Footnote blocks moved after the other blocks of the page (order otherwise kept)."""
    if not body:
        return blocks
    notes: list[Block] = []
    rest: list[Block] = []
    after_note = False
    for block in blocks:
        chars = sum(len(ln.text.strip()) for ln in block.lines)
        small = sum(len(ln.text.strip()) for ln in block.lines if ln.size <= body * 0.85)
        after_note = bool(chars and small * 2 > chars and block.bbox[1] > 0.4 * height
                          and (_MARKER_RE.match(block.text) or after_note))
        if after_note:
            block.footnote = True
            notes.append(block)
        else:
            rest.append(block)
    return rest + notes if notes else blocks
