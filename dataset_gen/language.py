"""Language and script of a text: English, Traditional Chinese or Simplified Chinese.

Chinese script is told apart with OpenCC's character tables (shipped by
opencc-python-reimplemented): a character that ``TSCharacters.txt`` maps only to other characters
is a Traditional-only form, one that ``STCharacters.txt`` maps only to other characters is a
Simplified-only form. Characters common to both scripts count for neither. Reading the tables
into two sets once makes a check a set lookup per character (it runs on every generated pair).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import opencc

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=1)
def _script_sets() -> tuple[frozenset[str], frozenset[str]]:
    """(Traditional-only, Simplified-only) characters, from OpenCC's character tables."""
    folder = Path(opencc.__file__).parent / "dictionary"

    def changed(name: str) -> frozenset[str]:
        out = set()
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            source, _, targets = line.partition("\t")
            if len(source) == 1 and source not in targets.split():
                out.add(source)
        return frozenset(out)

    return changed("TSCharacters.txt"), changed("STCharacters.txt")


def script_counts(text: str) -> tuple[int, int]:
    """``(traditional, simplified)``: how many Han characters only one of the scripts uses."""
    traditional_only, simplified_only = _script_sets()
    traditional = sum(1 for ch in text if ch in traditional_only)
    simplified = sum(1 for ch in text if ch in simplified_only)
    return traditional, simplified


def detect_language(text: str) -> str:
    """Return ``"zh-TW"``, ``"zh-CN"`` or ``"en"`` for ``text``.

    Chinese when Han characters are at least 20% of the letters (Han plus Latin); then Traditional
    unless Simplified-only characters outnumber Traditional-only ones. Anything else is ``"en"``
    (the prompts exist in these three languages only). Only the first 20,000 characters are read.
    """
    sample = text[:20000]
    han = len(_HAN.findall(sample))
    latin = len(_LATIN.findall(sample))
    if han == 0 or han < 0.2 * (han + latin):
        return "en"
    traditional, simplified = script_counts(sample)
    return "zh-CN" if simplified > traditional else "zh-TW"


def script_problem(text: str, language: str) -> str | None:
    """Say what is wrong with the script of ``text`` for ``language``, or ``None`` when it fits.

    Only Chinese is checked: ``"zh-TW"`` text with more Simplified-only than Traditional-only
    characters is reported (and the converse for ``"zh-CN"``).
    """
    if language not in ("zh-TW", "zh-CN"):
        return None
    traditional, simplified = script_counts(text)
    if language == "zh-TW" and simplified > traditional:
        return f"written in Simplified Chinese ({simplified} Simplified-only characters); use Traditional Chinese"
    if language == "zh-CN" and traditional > simplified:
        return f"written in Traditional Chinese ({traditional} Traditional-only characters); use Simplified Chinese"
    return None


def language_matches(text: str, language: str) -> bool:
    """``True`` when ``text`` is in ``language``: for ``"en"``, Han characters are under 20% of the
    letters; for ``"zh-TW"``/``"zh-CN"``, the text has Han characters and no :func:`script_problem`.
    Text with no letters at all (numbers, code) matches any language."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if han + latin == 0:
        return True
    if language == "en":
        return han < 0.2 * (han + latin)
    return han > 0 and script_problem(text, language) is None
