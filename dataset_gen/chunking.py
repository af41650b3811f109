"""Split a :class:`Document` into :class:`Chunk` s the model can read in one go.

Every chunk is an exact span of ``document.text`` (``chunk.text == text[start:end]``), so a QA pair
can always point back at the characters it came from. Three promises hold for every strategy:

* nothing is lost: every non-whitespace character of the text lies inside some chunk;
* no chunk is longer than ``max_chars`` characters;
* a Markdown heading is never left alone at the end of a chunk: it stays with the body below it.

Headings are ATX headings (``#`` .. ``######`` and a space) found outside fenced code blocks and
outside YAML front matter, so the ``# foo`` lines inside a code example are not taken for headings.

When a span is too long it is cut at the coarsest boundary found in the allowed window, in this
order: a heading, a blank line (paragraph), a line break, a sentence end (``。！？；…`` or ``.!?;``
before a space), a clause mark (``，、：`` or ``,:`` before a space), a space, and only then between
any two characters. A fenced code block, a pipe table or the front matter that fits in ``max_chars``
is not cut. Cuts aim at pieces of equal size, so a section of 2,100 characters becomes two pieces of
about 1,050 rather than 2,000 and 100.

Why not langchain-text-splitters: its ``MarkdownHeaderTextSplitter`` returns text without offsets
and misreads fences of six or more backticks (it takes the ``# foo`` lines inside the CommonMark
spec's examples for headings), and ``RecursiveCharacterTextSplitter`` recovers a chunk's start with
``str.find``, which is wrong on repeated text. Exact spans are what provenance and the
"nothing lost" guarantee rest on, so the cuts are computed here, with offsets tracked throughout.
"""

from __future__ import annotations

import bisect
import re

from .config import ChunkSettings
from .markdown_structure import Structure, scan, strip_span
from .models import Chunk, Document

STRATEGIES = ("markdown", "recursive", "separator")

_WORD = re.compile(r"[^\W_]")

# Boundaries a long span may be cut at, coarsest first; a cut is the position where a piece starts.
# Level 0 (heading starts) comes from the structure scan, not from a pattern.
_BOUNDARIES = (
    None,
    re.compile(r"\n[^\S\n]*\n(?:[^\S\n]*\n)*"),  # paragraphs: after one or more blank lines
    re.compile(r"\n"),  # lines
    re.compile(r"[。！？；…]+[」』）》〉”’]*|[.!?;]+[\"')\]”’]*(?=\s)"),  # sentences
    re.compile(r"[，、：]|[,:](?=\s)"),  # clauses
    re.compile(r"[^\S\n]+"),  # words
)


def split_document(document: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Split ``document`` into chunks, in document order.

    :param document: the parsed document; only ``text``, ``name`` and ``page_starts`` are read.
    :param settings: sizes in characters (Python ``str`` length, so one CJK character counts 1).
        ``strategy`` is one of:

        * ``"markdown"``: one section per heading (heading line plus body up to the next heading);
          a section shorter than ``min_chars`` is merged with the next one (or, when that would
          pass ``max_chars``, with the previous one) if the result stays within ``max_chars`` (for
          ``min_chars`` a pipe-table delimiter row counts as wide as its header row, however many
          dashes it has: :meth:`~dataset_gen.markdown_structure.Structure.markup_chars`); a
          section longer than ``max_chars`` is cut at paragraphs, lines, sentences, then characters.
        * ``"recursive"``: the whole text cut by size only, each chunk after the first starting up
          to ``overlap`` characters before the previous one ended (at a boundary where possible,
          never inside the whitespace just before the cut), except where the cut is at a heading:
          a chunk that opens a section starts with its heading.
        * ``"separator"``: cut only where ``separator`` occurs (it starts the next chunk, so it
          is not lost), except between a heading and its body or inside a code block or table that
          fits; consecutive pieces are joined while the result stays within ``max_chars`` (so a
          paragraph separator gives chunks of whole paragraphs, not one chunk per paragraph);
          pieces longer than ``max_chars`` are cut by size without overlap.

        When a span must be cut, pieces shorter than ``min(min_chars, max_chars // 2)`` are
        avoided where a boundary allows it.
    :returns: chunks with ``ordinal`` 0..n-1, half-open ``start``/``end`` offsets into
        ``document.text`` with no leading or trailing whitespace, ``text == text[start:end]``,
        ``len(text) <= max_chars``, ``heading_path`` = the headings above the chunk's first letter
        or digit (outermost first, without ``#``; a chunk spanning sections gets the path of its
        first section) and the pages of the first and last character. An empty or
        whitespace-only text gives ``[]``.
    :raises ValueError: unknown ``strategy``; ``max_chars <= 0``; ``min_chars`` outside
        ``0..max_chars``; ``overlap`` outside ``0..max_chars - 1``; an empty ``separator`` with
        the ``"separator"`` strategy.

    Why the defaults (2000 max, 400 min) suit a 7-8B model: 2000 CJK characters are about 1,300 to
    2,000 tokens and 2000 English characters about 500, so the chunk, the instructions and a reply
    holding several QA pairs fit in an 8k-token context with room to spare; small models lose
    track of details in longer inputs. A chunk under about 400 characters rarely holds enough
    facts for more than one good question, so short sections are merged.

    Example::

        >>> doc = Document(name="n.md", text="# A\\n\\nbody", kind="markdown", sha256="")
        >>> [(c.heading_path, c.text) for c in split_document(doc)]
        [(('A',), '# A\\n\\nbody')]
    """
    _validate(settings)
    text = document.text
    if not text or text.isspace():
        return []
    structure = scan(text, settings.max_chars)
    splitter = _Splitter(text, structure, settings.max_chars, min(settings.min_chars, settings.max_chars // 2))
    if settings.strategy == "markdown":
        spans = _markdown_spans(text, structure, splitter, settings)
    elif settings.strategy == "recursive":
        start, end = strip_span(text, 0, len(text))
        spans = splitter.pack(start, end, settings.overlap)
    else:
        spans = _separator_spans(text, splitter, settings)
    chunks: list[Chunk] = []
    for start, end in _absorb_wordless(text, spans, settings.max_chars):
        word = _WORD.search(text, start, end)  # a leading "---" rule does not decide the path
        chunks.append(Chunk(
            document=document.name,
            ordinal=len(chunks),
            start=start,
            end=end,
            text=text[start:end],
            heading_path=structure.path_at(word.start() if word else start),
            page_start=document.page_at(start),
            page_end=document.page_at(end - 1),
        ))
    return chunks


def _absorb_wordless(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Strip the spans, drop empty ones, and join a span without any letter or digit (a lone
    ``---`` rule or stray fence line) to its neighbour when the result fits in ``max_chars``."""
    stripped = [(s, e) for s, e in (strip_span(text, a, b) for a, b in spans) if s < e]
    result: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None  # a wordless span waiting to join the next one
    for s, e in stripped:
        if pending is not None:
            if e - pending[0] <= max_chars:
                s = pending[0]
            else:
                result.append(pending)
            pending = None
        if _WORD.search(text, s, e) is None:
            if result and e - result[-1][0] <= max_chars:
                result[-1] = (result[-1][0], max(e, result[-1][1]))
                continue
            pending = (s, e)
            continue
        result.append((s, e))
    if pending is not None:
        result.append(pending)
    return result


def _validate(settings: ChunkSettings) -> None:
    if settings.strategy not in STRATEGIES:
        raise ValueError(f"Unknown chunk strategy {settings.strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if settings.max_chars <= 0:
        raise ValueError(f"Chunk max_chars must be above 0 characters (got {settings.max_chars}).")
    if not 0 <= settings.min_chars <= settings.max_chars:
        raise ValueError(f"Chunk min_chars must be between 0 and max_chars={settings.max_chars} "
                         f"(got {settings.min_chars}).")
    if not 0 <= settings.overlap < settings.max_chars:
        raise ValueError(f"Chunk overlap must be at least 0 and below max_chars={settings.max_chars} "
                         f"(got {settings.overlap}).")
    if settings.strategy == "separator" and not settings.separator:
        raise ValueError("The separator strategy needs a non-empty separator.")


class _Splitter:
    """Cuts spans of one text into pieces of at most ``max_chars``, choosing cut positions."""

    def __init__(self, text: str, structure: Structure, max_chars: int, min_piece: int):
        self.text = text
        self.structure = structure
        self.max = max_chars
        self.min_piece = min_piece
        self._cuts: dict[int, list[int]] = {0: structure.heading_starts}

    def cuts(self, level: int) -> list[int]:
        """Sorted cut positions of one boundary level over the whole text (computed once)."""
        found = self._cuts.get(level)
        if found is None:
            pattern = _BOUNDARIES[level]
            assert pattern is not None, "level 0 (headings) is filled in by __init__"
            found = self._cuts[level] = [m.end() for m in pattern.finditer(self.text)]
        return found

    def blocking(self, p: int, strict: bool) -> tuple[int, int] | None:
        """The interval ``(a, b]`` that forbids a cut at ``p``, or ``None`` when ``p`` is fine."""
        s = self.structure
        lists = ((s.keep_starts, s.keep_ends), (s.block_starts, s.block_ends)) if strict else \
            ((s.keep_starts, s.keep_ends),)
        for starts, ends in lists:
            i = bisect.bisect_left(starts, p) - 1
            if i >= 0 and p <= ends[i]:
                return starts[i], ends[i]
        return None

    def pack(self, start: int, end: int, overlap: int = 0) -> list[tuple[int, int]]:
        """Cover ``[start, end)`` with spans of at most ``max`` characters, in order."""
        spans = []
        floor = start
        while end - start > self.max:
            cut = self._best_cut(start, end, floor)
            spans.append((start, cut))
            floor = cut
            start = self._overlap_start(start, cut, end, overlap) if overlap else cut
            start = strip_span(self.text, start, end)[0]  # measure pieces without leading whitespace
        spans.append((start, end))
        return spans

    def _best_cut(self, start: int, end: int, floor: int) -> int:
        remaining = end - start
        target = start + remaining / -(-remaining // self.max)
        limit = start + self.max
        windows = [(max(start + self.min_piece, floor + 1), min(limit, end - self.min_piece)),
                   (max(start, floor) + 1, limit)]
        windows = [(lo, hi) for lo, hi in windows if lo <= hi]
        for strict in (True, False):
            for lo, hi in windows:
                for level in range(len(_BOUNDARIES)):
                    cut = self._nearest(self.cuts(level), lo, hi, target, strict)
                    if cut is not None:
                        return cut
                cut = self._character_cut(lo, hi, target, strict)
                if cut is not None:
                    return cut
        return limit  # every position is forbidden (a heading longer than max_chars): cut anyway

    def _nearest(self, cuts: list[int], lo: int, hi: int, target: float, strict: bool) -> int | None:
        """The allowed cut in ``[lo, hi]`` nearest to ``target``, or ``None``."""
        i, j = bisect.bisect_left(cuts, lo), bisect.bisect_right(cuts, hi)
        left = bisect.bisect_left(cuts, target, i, j) - 1
        right = left + 1
        while left >= i or right < j:
            if right < j and (left < i or cuts[right] - target <= target - cuts[left]):
                cut, right = cuts[right], right + 1
            else:
                cut, left = cuts[left], left - 1
            if self.blocking(cut, strict) is None:
                return cut
        return None

    def _character_cut(self, lo: int, hi: int, target: float, strict: bool) -> int | None:
        """An allowed position in ``[lo, hi]``: ``target`` or the nearest interval edge."""
        start = min(max(int(target), lo), hi)
        position = start
        while position >= lo:
            interval = self.blocking(position, strict)
            if interval is None:
                return position
            position = interval[0]
        position = start
        while position <= hi:
            interval = self.blocking(position, strict)
            if interval is None:
                return position
            position = interval[1] + 1
        return None

    def _is_heading_start(self, position: int) -> bool:
        starts = self.structure.heading_starts
        i = bisect.bisect_left(starts, position)
        return i < len(starts) and starts[i] == position

    def _overlap_start(self, start: int, cut: int, end: int, overlap: int) -> int:
        """Where the next span starts: the earliest boundary at most ``overlap`` before ``cut``.

        When the rest fits in one span, the overlap is shortened so that it does not cost a span.
        A cut at a heading gets no overlap, so the chunk opens with the heading and its path is the
        new section's. The start must lie before the last non-space character ahead of ``cut``: a cut after a blank
        line has the line breaks of that blank line as its nearest boundaries, and starting there
        would leave, once the span is stripped, no overlap at all.
        """
        if self._is_heading_start(cut):
            return cut  # a new section starts clean: its chunk opens with its heading
        lo, hi = max(cut - overlap, start + 1), strip_span(self.text, start, cut)[1] - 1
        if end - cut <= self.max:
            lo = max(lo, end - self.max)
        if lo > hi:
            return cut
        for level in range(len(_BOUNDARIES)):
            cuts = self.cuts(level)
            for i in range(bisect.bisect_left(cuts, lo), bisect.bisect_right(cuts, hi)):
                if self.blocking(cuts[i], True) is None:
                    return cuts[i]
        return lo if self.blocking(lo, True) is None else cut


# --- strategies --------------------------------------------------------------------------------


def _markdown_spans(text: str, structure: Structure, splitter: _Splitter,
                    settings: ChunkSettings) -> list[tuple[int, int]]:
    """Sections by heading, small ones merged, big ones packed."""
    starts = structure.heading_starts
    bounds = ([0] if not starts or starts[0] > 0 else []) + starts + [len(text)]
    heading_end = dict(zip(starts, structure.heading_ends))
    sections = []  # [start, end, heading_only]
    for a, b in zip(bounds, bounds[1:]):
        s, e = strip_span(text, a, b)
        if s < e:
            sections.append((s, e, a in heading_end and e <= heading_end[a]))

    def size(span: tuple[int, int, bool]) -> int:  # delimiter rows as wide as their header
        return span[1] - span[0] - structure.markup_chars(span[0], span[1])

    units: list[tuple[int, int]] = []
    current = None
    for section in sections:
        if current is None:
            current = section
            continue
        small = size(current) < settings.min_chars
        if current[2] or (small and section[1] - current[0] <= settings.max_chars):
            current = (current[0], section[1], section[2])
            continue
        if small and units and current[1] - units[-1][0] <= settings.max_chars:
            units[-1] = (units[-1][0], current[1])
        else:
            units.append(current[:2])
        current = section
    if current is not None:
        small = current[2] or size(current) < settings.min_chars
        if units and small and (current[2] or current[1] - units[-1][0] <= settings.max_chars):
            units[-1] = (units[-1][0], current[1])
        else:
            units.append(current[:2])

    spans = []
    for s, e in units:
        spans.extend(splitter.pack(s, e) if e - s > settings.max_chars else [(s, e)])
    return spans


def _separator_spans(text: str, splitter: _Splitter, settings: ChunkSettings) -> list[tuple[int, int]]:
    """Cut where the separator occurs (it opens the next piece); pack pieces that are too long."""
    separator = settings.separator
    bounds = [0]
    found = text.find(separator)
    while found >= 0:
        if found > 0 and splitter.blocking(found, True) is None:
            bounds.append(found)
        found = text.find(separator, found + len(separator))
    bounds.append(len(text))
    spans: list[tuple[int, int]] = []
    for a, b in zip(bounds, bounds[1:]):
        s, e = strip_span(text, a, b)
        if s >= e:
            continue
        if e - s > settings.max_chars:
            spans.extend(splitter.pack(s, e))
        elif spans and e - spans[-1][0] <= settings.max_chars:
            spans[-1] = (spans[-1][0], e)  # consecutive pieces share a chunk while they fit
        else:
            spans.append((s, e))
    return spans
