"""Junk guards: chunks that are not text a person reads are not sent to the model.

A chunk is junk when asking questions about it can only produce nonsense that still looks
"grounded" (the model copies a line of it as evidence). :func:`junk_reason` names one of:

* :data:`BASE64` ``"base64 data"`` / :data:`HEX` ``"hex data"``: at least :data:`DATA_SHARE` of
  the chunk's non-space characters are in encoded runs: base64 runs of at least
  :data:`MIN_BASE64_RUN` characters from ``A–Z a–z 0–9 + /`` (``=`` padding allowed) mixing upper
  case, lower case and digits the way encoded bytes do (each at least 5 %); hex runs of at least
  32 hex digits, or 16 or more hex bytes in a row (``89 50 4e 47 …``, ``0x89, 0x50, …``,
  ``\\x89\\x50…``).
* :data:`BINARY` ``"binary data"``: at least 10 % of the non-space characters are U+FFFD
  (bytes that decoded to nothing), unassigned code points or lone surrogates.
* :data:`TOC` ``"table of contents"``: at least :data:`MIN_TOC_LINES` lines and at least
  :data:`TOC_SHARE` of the non-empty lines are contents entries: a title then a page reference,
  after dot/dash/underscore leaders (``A. PURPOSE ........ 1-1``), after a tab, or glued to the
  title as a chapter-page number (``A. PURPOSE1-1``, how Word's TOC field reads without its tab
  leader). :data:`INDEX` ``"index of page references"`` likewise when most entries are a back-of-book
  index's ``term, page`` lines (``Zusammenhang, 11–14``).
* :data:`GARBAGE` ``"unreadable text (garbage text layer)"``: the letters do not form words in any
  script. Measured on the Latin letters of words of four or more letters (at least
  :data:`MIN_GARBAGE_LETTERS` of them): fewer than :data:`MAX_GARBAGE_VOWELS` of them are vowels
  (``a e i o u y``, accents ignored; :data:`SMALL_SAMPLE_VOWELS` below
  :data:`SMALL_SAMPLE_LETTERS` letters), or at least :data:`MIXED_SCRIPT_SHARE` of the words mix
  alphabets (Latin, Greek, Cyrillic …) inside one word. A PDF font without a usable ToUnicode map
  gives glyph ids shifted by a constant (``Pen`` → ``3HQ``): lower case becomes upper case, and
  vowels become ``D H L R X``, so the vowel share falls to 0.10–0.22; real text in any
  Latin-script language stays above 0.29. For CJK text, which has no vowel letters: of at least
  :data:`MIN_CJK_CHARACTERS` CJK-like characters (Han of every block, Hangul syllables, CJK
  radicals and strokes, private-use code points), under :data:`MIN_COMMON_CJK_SHARE` are common
  characters (:func:`common_cjk`: the first levels of GB 2312, Big5, JIS X 0208 and KS X 1001,
  the characters those standards chose as the frequently used ones). Real Chinese, Japanese and
  Korean text is almost all common characters (0.99 or more); a wrong cmap gives rare ideographs
  at random (a random ideograph is common with chance 0.34, a random syllable 0.21), radicals or
  private-use code points, none of them common.

The thresholds were measured (``tests/test_junk.py`` checks them) on every chunk of every readable
file in ``tests/data/corpus/`` at the default chunk settings: real prose, code, tables, formulas and
the user's Chinese notes give a vowel share of at least 0.295 (the LLaMA-Factory Chinese README's
tables of ``GB``/``QLoRA``), a data share of at most 0.04 and at most 5 % of words mixing
alphabets (the German lecture notes' formulas); the same chunks shifted as a broken cmap shifts
them give a vowel share of at most 0.22; the corpus's real garbage layer
(pdf_nonunicode_cmap_garbage) gives 0.10. The CJK files (the user's note as .md, .docx and .pdf,
the Chinese Markdown, the Chinese, Japanese and Korean PDFs and texts: 112 chunks with 30 or more
CJK-like characters) have a common share of at least 0.9935; the same chunks with their ideographs
and Hangul syllables sent through a fixed random permutation of their blocks (as a wrong cmap
maps glyphs) at most 0.59 (at most 0.62 over 30 permutations). Only the handbook's four copies of its table of contents
and the lecture notes' index are marked there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from .models import Chunk, Document

__all__ = [
    "BASE64", "BINARY", "GARBAGE", "HEX", "INDEX", "REASONS", "TOC", "Screening", "junk_reason",
    "screen_document",
]

BASE64 = "base64 data"
HEX = "hex data"
BINARY = "binary data"
TOC = "table of contents"
INDEX = "index of page references"
GARBAGE = "unreadable text (garbage text layer)"
REASONS = (BASE64, HEX, BINARY, TOC, INDEX, GARBAGE)
"""Every reason :func:`junk_reason` can give, as stored in ``chunks.skip_reason``."""

DATA_SHARE = 0.5
"""Share (0–1) of a chunk's non-space characters in base64 or hex runs above which it is data."""
MIN_BASE64_RUN = 40
"""Shortest base64 run counted, in characters (base64 lines are 60–76 characters; a 40-letter
word is rare, and must also mix cases and digits)."""
BINARY_SHARE = 0.1
"""Share of non-space characters that are U+FFFD, unassigned or surrogates above which a chunk is
binary data."""
MIN_TOC_LINES = 5
TOC_SHARE = 0.6
"""Share of non-empty lines that must be contents or index entries for a table of contents."""
MIN_GARBAGE_LETTERS = 20
"""Fewest Latin letters (in words of 4+ letters) a chunk needs before its vowels are judged."""
MAX_GARBAGE_VOWELS = 0.25
"""Vowel share below which the letters form no words (real text: 0.295 or more)."""
SMALL_SAMPLE_LETTERS = 100
SMALL_SAMPLE_VOWELS = 0.15
"""Below :data:`SMALL_SAMPLE_LETTERS` letters a short technical line (``HTTPS``, ``curl``,
``localhost``: 0.23) can fall under 0.25, so the vowel share must be under this instead (the
corpus's real 20-letter garbage layer: 0.10)."""
MIXED_SCRIPT_SHARE = 0.2
"""Share of words of 3+ letters mixing alphabets above which the text is garbage (at least three)."""
MIN_CJK_CHARACTERS = 30
"""Fewest CJK-like characters (:func:`common_cjk_share`) a chunk needs before they are judged."""
MIN_COMMON_CJK_SHARE = 0.8
"""Share of CJK-like characters in :func:`common_cjk` below which they are garbage."""

_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}}={{0,2}}")
_HEX_RUNS = (
    re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?[0-9A-Fa-f]{32,}(?![0-9A-Za-z])"),
    re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ :,-]){15,}[0-9A-Fa-f]{2}(?![0-9A-Za-z])"),
    re.compile(r"(?:0[xX][0-9A-Fa-f]{2},?\s*){16,}"),
    re.compile(r"(?:\\x[0-9A-Fa-f]{2}){16,}"),
)
_PAGE = r"(?:\d{1,4}(?:\s?[-–.]\s?\d{1,4})?|[ivxlcdm]{1,7}|[IVXLCDM]{1,7})"
_TOC_LINE = re.compile(
    rf"^(?=.*[^\W\d_].*[^\W\d_])(?:"
    rf".*?\S\s*(?:(?:\.\s?|·\s?|…|_|-\s?){{3,}}|\t+|\s{{3,}})\s*{_PAGE}"   # leaders, tab, spaces
    rf"|.*[^\W\d_)]\s*\d{{1,3}}\s?[-–]\s?\d{{1,4}}"                        # glued chapter-page
    rf")$"
)
_INDEX_LINE = re.compile(rf"^(?=.*[^\W\d_].*[^\W\d_])[^.!?]{{2,80}},\s*{_PAGE}(?:,\s*{_PAGE})*$")
_WORD = re.compile(r"[^\W\d_]+")
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class Screening:
    """What :func:`screen_document` found: ``reasons[i]`` is the skip reason of ``chunks[i]``
    (``None`` = send it); ``garbage_pages`` the 1-based pages whose text layer is unreadable;
    ``warnings`` one-line notes for the person, starting with the file name."""

    reasons: tuple[str | None, ...]
    garbage_pages: tuple[int, ...]
    warnings: tuple[str, ...]


def junk_reason(text: str) -> str | None:
    """The reason ``text`` (one chunk) should not be sent to the model, or ``None`` to send it.

    Returns one of :data:`REASONS`, checked in the order base64/hex, binary, table of contents or
    index, garbage, with the rules and thresholds of the module docstring. Never raises.
    """
    dense = sum(1 for c in text if not c.isspace())
    if dense == 0:
        return None
    base64 = sum(len(m.group()) for m in _BASE64_RUN.finditer(text) if _looks_encoded(m.group()))
    hexed = _hex_chars(text)
    if base64 + hexed >= DATA_SHARE * dense:
        return BASE64 if base64 >= hexed else HEX
    broken = sum(1 for c in text if c == "\ufffd" or unicodedata.category(c) in ("Cn", "Cs"))
    if broken >= BINARY_SHARE * dense:
        return BINARY
    contents = _contents(text)
    if contents:
        return contents
    if _is_garbage(text):
        return GARBAGE
    return None


def screen_document(document: Document, chunks: Sequence[Chunk]) -> Screening:
    """Screen a parsed document's chunks: each gets :func:`junk_reason` of its text.

    For a paged document (``document.page_starts``), each page's text is screened too; pages
    judged :data:`GARBAGE` are listed in ``garbage_pages``, and a chunk with at least half of its
    characters on them is skipped as garbage even when it is too short to judge alone (chunks
    can span pages). ``warnings`` gets, for those pages, ``"<name>: pages 1–3 have an unreadable
    text layer; they were not sent to the model (OCR can read them: see the OCR option)"`` (or
    "... chunks made mostly of it were not sent ..." when some of it went out inside a chunk of
    mostly readable text), and for other skipped chunks ``"<name>: 2
    chunks were not sent to the model (table of contents: 2); the Chunks page can send them
    anyway"``.
    """
    spans = _garbage_spans(document)
    pages = [page for page, _, _ in spans]
    reasons: list[str | None] = []
    mixed = False  # garbage went to the model inside a chunk of mostly readable text
    for chunk in chunks:
        reason = junk_reason(chunk.text)
        on_garbage = sum(max(0, min(chunk.end, end) - max(chunk.start, start)) for _, start, end in spans)
        if reason is None and on_garbage * 2 >= max(1, chunk.end - chunk.start):
            reason = GARBAGE
        mixed = mixed or (reason is None and on_garbage > 0)
        reasons.append(reason)
    warnings: list[str] = []
    if pages:
        which = f"pages {_page_list(pages)} have" if len(pages) > 1 else f"page {pages[0]} has"
        sent = ("chunks made mostly of it were not sent to the model" if mixed else
                f"{'they were' if len(pages) > 1 else 'it was'} not sent to the model")
        warnings.append(f"{document.name}: {which} an unreadable text layer; {sent} (OCR can read "
                        f"{'them' if len(pages) > 1 else 'it'}: see the OCR option)")
    counts: dict[str, int] = {}
    for reason in reasons:
        if reason is not None and not (pages and reason == GARBAGE):
            counts[reason] = counts.get(reason, 0) + 1
    if counts:
        total = sum(counts.values())
        detail = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
        warnings.append(f"{document.name}: {total} chunk{'s were' if total > 1 else ' was'} not sent "
                        f"to the model ({detail}); the Chunks page can send "
                        f"{'them' if total > 1 else 'it'} anyway")
    return Screening(tuple(reasons), tuple(pages), tuple(warnings))


# --- internals -------------------------------------------------------------------------------


def _looks_encoded(run: str) -> bool:
    """A base64 run mixes upper case, lower case and digits (each at least 5 % of it)."""
    n = len(run)
    upper = sum(c.isupper() for c in run)
    lower = sum(c.islower() for c in run)
    digits = sum(c.isdigit() for c in run)
    return min(upper, lower, digits) >= 0.05 * n


def _hex_chars(text: str) -> int:
    spans: list[tuple[int, int]] = []
    for pattern in _HEX_RUNS:
        for m in pattern.finditer(text):
            body = re.sub(r"0[xX]|\\x", "", m.group())
            if any(c.isdigit() for c in body) and any(c in "abcdefABCDEF" for c in body):
                spans.append(m.span())
    covered: set[int] = set()
    for start, end in spans:
        covered.update(i for i in range(start, end) if not text[i].isspace())
    return len(covered)


def _contents(text: str) -> str | None:
    """:data:`TOC` or :data:`INDEX` when most lines are contents or index entries, else ``None``."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    toc = index = 0
    for line in lines:
        if len(line) > 160:
            continue
        if _TOC_LINE.match(line):
            toc += 1
        elif _INDEX_LINE.match(line):
            index += 1
    if toc + index < MIN_TOC_LINES or toc + index < TOC_SHARE * len(lines):
        return None
    return TOC if toc >= index else INDEX


@lru_cache(maxsize=65536)
def _alphabet(c: str) -> str:
    """The first word of the character's Unicode name (its alphabet: ``LATIN``, ``CJK``…), cached:
    documents use few distinct characters and this runs for each one of every word."""
    name = unicodedata.name(c, "")
    return name.split(" ", 1)[0] if name else "?"


_NO_SPACE_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "KANGXI", "HALFWIDTH",
                               "FULLWIDTH", "IDEOGRAPHIC"})


@lru_cache(maxsize=65536)
def _is_vowel(c: str) -> bool:
    """Whether the letter is a vowel once its accents are taken off (``é`` is)."""
    return unicodedata.normalize("NFD", c)[0].lower() in _VOWELS


def _is_garbage(text: str) -> bool:
    letters = vowels = words = mixed = 0
    for m in _WORD.finditer(text):
        word = m.group()
        alphabets = {_alphabet(c) for c in word}
        if alphabets & _NO_SPACE_SCRIPTS:
            continue
        if len(word) >= 3:
            words += 1
            mixed += len(alphabets) > 1
        if len(word) >= 4 and alphabets == {"LATIN"}:
            letters += len(word)
            vowels += sum(map(_is_vowel, word))
    limit = MAX_GARBAGE_VOWELS if letters >= SMALL_SAMPLE_LETTERS else SMALL_SAMPLE_VOWELS
    if letters >= MIN_GARBAGE_LETTERS and vowels < limit * letters:
        return True
    return (mixed >= 3 and mixed >= MIXED_SCRIPT_SHARE * words) or _cjk_garbage(text)


def _rows(codec: str, leads: range, trails: Sequence[int], last: bytes = b"\xff\xff") -> set[str]:
    """The characters a double-byte ``codec`` decodes from lead bytes ``leads`` and trail bytes
    ``trails``, up to the two bytes ``last``."""
    out = set()
    for lead in leads:
        for trail in trails:
            pair = bytes((lead, trail))
            if pair > last:
                continue
            try:
                decoded = pair.decode(codec)
            except UnicodeDecodeError:
                continue
            if len(decoded) == 1:
                out.add(decoded)
    return out


@lru_cache(maxsize=1)
def common_cjk() -> frozenset[str]:
    """The common CJK characters of :data:`GARBAGE`'s CJK rule: the first levels of the national
    standards, read out of Python's codecs: GB 2312 level 1 (3,755 hanzi, rows 16–55), Big5's
    frequently used characters (5,401, A440–C67E), JIS X 0208 level 1 (2,965 kanji, rows 16–47)
    and KS X 1001's 2,350 Hangul syllables (rows 16–40). 7,174 distinct Han characters (34% of the
    20,992 of U+4E00–U+9FFF) and 2,350 of the 11,172 Hangul syllables (21%)."""
    row_trails = range(0xA1, 0xFF)
    return frozenset(
        _rows("gb2312", range(0xB0, 0xD8), row_trails)
        | _rows("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *row_trails], last=b"\xc6\x7e")
        | _rows("euc_jp", range(0xB0, 0xD0), row_trails)
        | _rows("euc_kr", range(0xB0, 0xC9), row_trails)
    )


# Han (every block, compatibility ideographs too), Hangul syllables, CJK radicals and strokes, and
# private-use code points: what a CJK font's glyphs decode to, right or wrong.
_CJK_LIKE_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff\uac00-\ud7a3"
                          "\u2e80-\u2fdf\u31c0-\u31ef\ue000-\uf8ff\U000f0000-\U0010ffff]")


def common_cjk_share(text: str) -> tuple[int, float]:
    """``(n, share)``: how many characters of ``text`` are CJK-like (Han, Hangul syllables,
    radicals, strokes, private use) and the share (0–1) of them in :func:`common_cjk`
    (``share`` is 1.0 when ``n`` is 0)."""
    common = common_cjk()
    cjk = _CJK_LIKE_RE.findall(text)
    return len(cjk), (sum(c in common for c in cjk) / len(cjk) if cjk else 1.0)


def _cjk_garbage(text: str) -> bool:
    n, share = common_cjk_share(text)
    return n >= MIN_CJK_CHARACTERS and share < MIN_COMMON_CJK_SHARE


def _garbage_spans(document: Document) -> list[tuple[int, int, int]]:
    """``(page, start, end)`` of each page (1-based) whose text alone reads as garbage."""
    starts = list(document.page_starts)
    if not starts:
        return []
    ends = starts[1:] + [len(document.text)]
    return [(i + 1, start, end) for i, (start, end) in enumerate(zip(starts, ends, strict=True))
            if _is_garbage(document.text[start:end])]


def _page_list(pages: list[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1–3, 7"``."""
    parts: list[str] = []
    first = prev = pages[0]
    for page in pages[1:] + [0]:
        if page == prev + 1:
            prev = page
            continue
        parts.append(f"{first}–{prev}" if prev > first else str(first))
        first = prev = page
    return ", ".join(parts)
