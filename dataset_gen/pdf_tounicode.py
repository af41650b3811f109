"""Repair of characters above U+FFFF that a PDF's ``ToUnicode`` CMap writes the wrong way.

A ``ToUnicode`` CMap maps character codes to text as UTF-16BE hex strings, so a code point above
U+FFFF must be written as a surrogate pair (``<D83DDE80>`` for U+1F680, PDF 32000-1:2008 §9.10.3).
Some producers (MuPDF's own writer among them: the user's note rendered with PyMuPDF's Story) write
the bare code point instead (``<1f680>``, five hex digits). Readers then take the first four digits:
🚀 (U+1F680) comes out as Ὠ (U+1F68) and 🐢 (U+1F422) as Ὄ (U+1F4C), and CJK Extension B
characters (U+2xxxx) as punctuation or arrows (U+2xxx).

:class:`UnicodeRepair` finds such fonts (Type0 fonts whose CMap has a destination of five or six
hex digits, or any odd number) and reads the right text from the CMap itself, by glyph id
(``Page.get_texttrace``; only fonts whose CIDs are their glyph ids, i.e. with no ``CIDToGIDMap`` or
``/Identity``). Only pages that hold a character such a misreading produces (U+1000–U+2FFF) in a
font not yet seen are looked at; the check costs nothing on other pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pymupdf

__all__ = ["UnicodeRepair"]

_SUSPECT_RE = re.compile("[\u1000-\u2fff]")  # what 1xxxx / 2xxxx read as four hex digits gives
_SUBSET_RE = re.compile(r"^[A-Z]{6}\+")
_HEX_RE = re.compile(r"<([0-9A-Fa-f]*)>")
_SECTION_RE = re.compile(r"begin(bfchar|bfrange)(.*?)end\1", re.S)

Fixes = dict[tuple[float, float], str]
"""Character origin ``(x, y)`` in points, rounded to 0.1, to the text that belongs there."""


class UnicodeRepair:
    """Per-document finder of the fonts described in the module docstring.

    Use :meth:`fixes` per page, then :func:`apply_dict` / :func:`apply_raw` on that page's
    ``extractDICT`` / ``extractRAWDICT`` blocks. Never raises for a font it cannot read (the
    text is then left as MuPDF gave it).
    """

    def __init__(self, doc: pymupdf.Document) -> None:
        self._doc = doc
        self._maps: dict[str, dict[int, str] | None] = {}  # font name (no subset tag) -> map
        self._scanned = False  # every page's font list read

    def fixes(self, pdf_page: pymupdf.Page, dict_blocks: list[dict]) -> Fixes:
        """``{origin: text}`` for the characters of broken fonts on ``pdf_page`` (empty for
        almost every page); ``dict_blocks`` is the page's ``extractDICT()["blocks"]``."""
        spans = [s for b in dict_blocks if b["type"] == 0 for ln in b["lines"] for s in ln["spans"]]
        maps = self._maps
        # fonts not yet known, or known to be broken; the others are read right
        unsure = {font for font in {s["font"] for s in spans} if maps.get(font, 0) is not None}
        if not unsure:
            return {}
        suspects = {s["font"] for s in spans
                    if s["font"] in unsure and _SUSPECT_RE.search(s["text"])}
        if not suspects:
            return {}
        if suspects - self._maps.keys():
            self._learn(pdf_page.get_fonts())
            if suspects - self._maps.keys() and not self._scanned:
                # A span font the page's font list names otherwise: every page's fonts are read
                # once, so that which names stay unknown does not depend on the pages read before
                # (pages may be read in worker processes, see :mod:`dataset_gen.pdf_pages`).
                self._scanned = True
                self._learn(self._all_fonts())
            for name in suspects:  # not looked up again
                self._maps.setdefault(name, None)
        broken = {name: m for name in suspects if (m := self._maps.get(name))}
        if not broken:
            return {}
        out: Fixes = {}
        for span in pdf_page.get_texttrace():
            table = broken.get(_SUBSET_RE.sub("", span["font"]))
            if table is None:
                continue
            for _ucs, gid, origin, _bbox in span["chars"]:
                text = table.get(gid)
                if text is not None:
                    out[_key(origin)] = text
        return out

    def _all_fonts(self) -> list:
        fonts: set[tuple] = set()
        for pno in range(self._doc.page_count):
            try:
                fonts.update(self._doc.get_page_fonts(pno))
            except Exception:  # noqa: S112 - a broken page's font list: its fonts stay unread
                continue
        return sorted(fonts)

    def _learn(self, fonts: list) -> None:
        for xref, _ext, kind, basefont, *_ in fonts:
            name = _SUBSET_RE.sub("", basefont)
            if name in self._maps:
                continue
            try:
                self._maps[name] = _broken_map(self._doc, xref) if kind == "Type0" else None
            except Exception:  # a font we cannot read stays as MuPDF reads it
                self._maps[name] = None


def apply_dict(blocks: list[dict], fixes: Fixes) -> None:
    """Put the repaired characters into ``extractDICT`` span texts (in place). A span's
    characters are matched to the fixes on its baseline inside its box, left to right; a span
    whose count does not match is left alone."""
    if not fixes:
        return
    for s in _spans(blocks):
        if not _SUSPECT_RE.search(s["text"]):
            continue
        y = round(s["origin"][1], 1)
        x0, x1 = s["bbox"][0] - 0.5, s["bbox"][2]
        found = sorted((x, t) for (x, yy), t in fixes.items() if abs(yy - y) <= 0.2 and x0 <= x < x1)
        if len(found) == len(s["text"]):
            s["text"] = "".join(t for _, t in found)


def apply_raw(blocks: list[dict], fixes: Fixes) -> None:
    """Put the repaired characters into ``extractRAWDICT`` chars (in place), by origin."""
    if not fixes:
        return
    for s in _spans(blocks):
        for ch in s["chars"]:
            text = fixes.get(_key(ch["origin"]))
            if text is not None:
                ch["c"] = text


def _spans(blocks: list[dict]) -> Iterator[dict]:
    """The spans of the text blocks of an ``extractDICT`` / ``extractRAWDICT`` block list."""
    for b in blocks:
        if b["type"] == 0:
            for ln in b["lines"]:
                yield from ln["spans"]


def _key(origin: tuple[float, float]) -> tuple[float, float]:
    return round(origin[0], 1), round(origin[1], 1)


def _broken_map(doc: pymupdf.Document, xref: int) -> dict[int, str] | None:
    """Glyph id -> text from the font's ``ToUnicode`` CMap when that CMap writes some code point
    as a bare number instead of UTF-16 (and CIDs are glyph ids); else ``None``."""
    kind, value = doc.xref_get_key(xref, "ToUnicode")
    if kind != "xref":
        return None
    descendants = doc.xref_get_key(xref, "DescendantFonts")[1]
    ref = re.search(r"(\d+) 0 R", descendants)
    if ref is None:
        return None
    cid_to_gid = doc.xref_get_key(int(ref.group(1)), "CIDToGIDMap")
    if cid_to_gid[0] not in ("null", "name") or cid_to_gid[0] == "name" and cid_to_gid[1] != "/Identity":
        return None
    cmap = doc.xref_stream(int(value.split()[0])).decode("latin-1")
    table: dict[int, str] = {}
    broken = False
    for section, body in _SECTION_RE.findall(cmap):
        codes = _HEX_RE.findall(body)
        step = 2 if section == "bfchar" else 3
        for i in range(0, len(codes) - step + 1, step):
            first = int(codes[i], 16)
            last = first if section == "bfchar" else int(codes[i + 1], 16)
            dest = codes[i + step - 1]
            bare = len(dest) % 4 != 0
            broken |= bare
            for n in range(last - first + 1):
                text = _decode(dest, bare, n)
                if text is not None:
                    table[first + n] = text
    return table if broken else None


def _decode(dest: str, bare: bool, offset: int) -> str | None:
    """The text of a CMap destination ``dest`` (hex) plus ``offset`` (a bfrange's n-th code)."""
    try:
        if bare:
            return chr(int(dest, 16) + offset)
        data = bytes.fromhex(dest)
        if offset:
            data = data[:-2] + (int.from_bytes(data[-2:], "big") + offset).to_bytes(2, "big")
        return data.decode("utf-16-be")
    except (ValueError, OverflowError):
        return None
