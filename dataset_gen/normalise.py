"""Map the compatibility characters that look like ordinary letters but break search.

Some characters are drawn exactly like a common letter or ideograph but are different code points:
a PDF font's ``ﬁ`` ligature glyph, a Kangxi radical ``⼀`` (U+2F00) that a CJK font's cmap gives
for ``一`` (U+4E00), a CJK compatibility ideograph (U+2F800 ``丽``) in place of its unified ideograph
(U+4E3D ``丽``). A reader sees the word; search, de-duplication, the model's tokeniser and the
grounding check see different text ("Auﬂage" is not "Auflage"). :func:`normalise_compat` replaces
exactly these, by their Unicode decompositions, and nothing else:

* **Latin ligatures U+FB00–U+FB06** (``ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ``) → their letters (``ff fi fl ffi ffl st
  st``), the compatibility (NFKC) decompositions. The text gets longer (one character becomes two or
  three), so this runs per page, before page offsets are fixed.
* **Kangxi radicals U+2F00–U+2FD5** (all 214 map) → the unified ideograph NFKC gives
  (``⼀`` → ``一``, ``⼴`` U+2F34 → ``广``). U+2FD6–U+2FDF are unassigned.
* **CJK Radicals Supplement U+2E80–U+2EFF, where a decomposition exists**: only U+2E9F ``⺟`` → ``母``
  and U+2EF3 ``⻳`` → ``龟``; the other supplement radicals have no decomposition and stay.
* **CJK Compatibility Ideographs U+F900–U+FAFF and Supplement U+2F800–U+2FA1F** → their unified
  ideographs (460 and 542 characters). These are *canonical* singleton decompositions: NFC itself
  makes the same change, so no distinction a writer could have meant survives in normalised Unicode
  anyway. The twelve unified ideographs in that block (U+FA0E, U+FA0F, U+FA11 …) have no
  decomposition and stay.

Everything else NFKC would change is left as written, because there the user's form carries
meaning or is simply the text they typed: full-width punctuation and letters (``（）、；「」``,
``ＡＢＣ``), the ideographic space, circled numbers (``①``), superscripts and subscripts (``m²``,
``H₂O``), ``™``, ``℃``, fractions (``½``), half-width katakana, Roman numerals (``Ⅲ``), the
Hangul compatibility jamo, and so on. Each mapped character becomes the same one everywhere, so
lengths change only for the ligatures. The decompositions come from :mod:`unicodedata`; Unicode's
normalisation stability policy guarantees they never change between versions.
"""

from __future__ import annotations

import unicodedata

__all__ = ["COMPAT_RANGES", "normalise_compat"]

COMPAT_RANGES: tuple[tuple[int, int], ...] = (
    (0xFB00, 0xFB06),    # Alphabetic Presentation Forms: Latin ligatures
    (0x2E80, 0x2EFF),    # CJK Radicals Supplement (only the two that decompose)
    (0x2F00, 0x2FDF),    # Kangxi Radicals
    (0xF900, 0xFAFF),    # CJK Compatibility Ideographs
    (0x2F800, 0x2FA1F),  # CJK Compatibility Ideographs Supplement
)
"""The inclusive code point ranges :func:`normalise_compat` looks at; inside them, only
characters with a Unicode decomposition are changed."""


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for low, high in COMPAT_RANGES:
        for cp in range(low, high + 1):
            mapped = unicodedata.normalize("NFKC", chr(cp))
            if mapped != chr(cp):
                table[cp] = mapped
    return table


_TABLE = _table()
_FIRST = min(low for low, _ in COMPAT_RANGES)


def normalise_compat(text: str) -> str:
    """Return ``text`` with the compatibility characters of :data:`COMPAT_RANGES` replaced by
    their decompositions (see the module docstring for exactly which and why).

    Pure and idempotent; never raises. The result has the same length except one to two more
    characters per Latin ligature. Text without any character at or above U+2E80 is returned as is.
    """
    if not text or max(text) < chr(_FIRST):
        return text
    return text.translate(_TABLE)
