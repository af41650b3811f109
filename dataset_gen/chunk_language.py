"""The language a chunk is generated in: its document's, unless the chunk itself is clearly in another.

A document's language comes from :func:`dataset_gen.language.detect_language` of the whole
document. A chunk keeps it unless its own text is *clearly* in another language (an English
appendix of a Chinese manual, a Japanese quotation of several paragraphs in a Chinese text). For
:func:`chunk_language`, "clearly" means all of:

1. **Enough letters**: at least :data:`MIN_WEIGHT` (300) weighted letters of prose (code, URLs and
   markup left out by :func:`dataset_gen.language_scripts.prose`), a Han, kana or Hangul character
   counting 3 and any other letter 1, the weighting of
   :func:`dataset_gen.language.script_problem` (a CJK character carries about what three Latin
   letters do): about 100 Chinese characters or 60 English words. A heading, a caption, a table row
   or a short quotation keeps the document's language.
2. **Another language detected**: :func:`~dataset_gen.language.detect_language` of the chunk is not
   the document's, and the document language's own check
   (:func:`~dataset_gen.language.language_matches`) fails on the chunk's text: text the document's
   language would accept from a model is no reason to switch.
3. **A margin, not a mix**: the scripts of the detected language (Han for ``zh-*``; Han and kana
   for ``ja``; Hangul and Han for ``ko``; else :func:`~dataset_gen.language.script_of_language`)
   hold at least :data:`MIN_SHARE` (80%) of the weighted letters. Within one script a stronger
   margin than detection's: for two Latin-script languages, the chunk's stop words of the detected
   language at least twice the document language's; between ``zh-TW`` and ``zh-CN``, the other
   script's only-characters (OpenCC tables) at least 5 and at least twice this script's; from
   ``ja`` to Chinese, not a single kana (kanji-heavy Japanese, a list of names, still has some).

An ``und-*`` document language (Latin script, none of the seven stop-word languages) is switched
from only when the chunk is in another script, since the document's own check accepts every
Latin-script text. The project's explicit language (a setting other than ``auto``) is never
overridden: the caller does not ask this module then.
"""

from __future__ import annotations

from .language import detect_language, language_matches, script_counts, script_of_language
from .language_scripts import letter_counts, prose, stop_word_counts

__all__ = ["MIN_SHARE", "MIN_WEIGHT", "chunk_language"]

MIN_WEIGHT = 300
"""Weighted letters (Han, kana, Hangul 3 each; other letters 1) a chunk needs to leave its document's language."""

MIN_SHARE = 0.8
"""Share of the weighted letters the detected language's scripts must hold."""

_EAST_ASIAN = ("Han", "Kana", "Hangul")
_SCRIPTS = {"zh-TW": ("Han",), "zh-CN": ("Han",), "ja": ("Han", "Kana"), "ko": ("Hangul", "Han")}


def _weight(script: str, n: int) -> int:
    return 3 * n if script in _EAST_ASIAN else n


def chunk_language(text: str, document_language: str) -> str:
    """The language code to generate ``text`` (one chunk's text, as the model sees it) in, given
    its document's language code: ``document_language`` unless the chunk is clearly in another by
    the three rules of the module docstring. Codes are those of
    :func:`dataset_gen.language.detect_language`. Never raises."""
    cleaned = prose(text)
    counts = letter_counts(cleaned)
    weights = {script: _weight(script, n) for script, n in counts.items()}
    total = sum(weights.values())
    if total < MIN_WEIGHT:
        return document_language
    found = detect_language(text)
    if found == document_language or language_matches(text, document_language):
        return document_language
    scripts = _SCRIPTS.get(found) or (script_of_language(found),)
    if sum(weights.get(s, 0) for s in scripts if s) < MIN_SHARE * total:
        return document_language
    if found.startswith("zh-") and document_language.startswith("zh-"):
        traditional, simplified = script_counts(cleaned)
        other, own = (simplified, traditional) if found == "zh-CN" else (traditional, simplified)
        if other < 5 or other < 2 * own:
            return document_language
    if found.startswith("zh-") and document_language == "ja" and counts["Kana"]:
        return document_language
    latin = script_of_language(found) == "Latin"
    if latin and script_of_language(document_language) == "Latin":
        stops = stop_word_counts(cleaned)
        if stops[found] < 2 * stops[document_language]:
            return document_language
    return found
