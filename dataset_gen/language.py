"""Language and script of a text: English, Traditional Chinese or Simplified Chinese.

Chinese script is told apart with OpenCC's conversion tables (opencc-python-reimplemented): a
character that OpenCC's ``t2s`` table changes is a Traditional form, one that ``s2t`` changes is a
Simplified form. Characters common to both scripts count for neither.
"""

from __future__ import annotations

import re
from functools import lru_cache

from opencc import OpenCC

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=2)
def _converter(config: str) -> OpenCC:
    return OpenCC(config)


def script_counts(text: str) -> tuple[int, int]:
    """``(traditional, simplified)``: how many Han characters only one of the scripts uses."""
    han = "".join(_HAN.findall(text))
    if not han:
        return 0, 0
    to_simplified = _converter("t2s").convert(han)
    to_traditional = _converter("s2t").convert(han)
    traditional = sum(1 for a, b in zip(han, to_simplified) if a != b)
    simplified = sum(1 for a, b in zip(han, to_traditional) if a != b)
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
