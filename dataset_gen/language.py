"""Language and script of a text, and whether a model's reply is in the language asked for.

Codes: ``"en"``, ``"zh-TW"`` (Traditional Chinese), ``"zh-CN"`` (Simplified), ``"ja"``, ``"ko"``;
for Latin-script text that is clearly not English ``"de"``, ``"fr"``, ``"es"``, ``"it"``, ``"pt"``,
``"nl"``; for other scripts a language when the script belongs to essentially one (``"ru"``/``"uk"``
by letters only those alphabets have, ``"el"``, ``"he"``, ``"th"``, ``"hy"``, ``"ka"``, ``"km"``,
``"ta"``, ``"ar"``), else ``"und-<Script>"`` (BCP 47 "undetermined" with the ISO 15924 script,
e.g. ``"und-Deva"``), which means "the language of the document, written in that script".

How (:func:`detect_language`), honestly: code, URLs, e-mail addresses, markup and link targets are
taken out first (:func:`dataset_gen.language_scripts.prose`). Han, kana and Hangul together at
least 20% of the letters make the text East Asian: Korean when Hangul is at least 30% of them and
outnumbers kana, Japanese when kana are at least 10% of Han plus kana (Japanese has kana in almost
every sentence, however many kanji; Chinese has none), else Chinese, Traditional unless OpenCC's
Simplified-only characters outnumber its Traditional-only ones. Otherwise the script with the most
letters decides. Latin script is the language whose stop words
(:data:`~dataset_gen.language_scripts.STOP_WORDS`: English, German, French, Spanish, Italian,
Portuguese, Dutch) are at least 3, at least 3% of the words and more than 1.2 times any other's;
failing that, a text of 200 words or more is ``"und-Latn"`` (Lorem ipsum, Latin, Polish, Swedish,
Turkish, ...: the heuristic knows only those seven) and a shorter one (a title, a table of numbers)
``"en"``. Cyrillic, Arabic and the other scripts are named by their letters only.

Chinese script is told apart with OpenCC's character tables (shipped by
opencc-python-reimplemented): a character that ``TSCharacters.txt`` maps only to other characters
is a Traditional-only form, one that ``STCharacters.txt`` maps only to other characters is a
Simplified-only form. Characters common to both scripts count for neither. Reading the tables
into two sets once makes a check a set lookup per character (it runs on every generated pair).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

import opencc

from .language_scripts import WORD, letter_counts, prose, stop_word_counts

LANGUAGE_NAMES = {
    "en": "English", "zh-TW": "Traditional Chinese", "zh-CN": "Simplified Chinese", "ja": "Japanese",
    "ko": "Korean", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "uk": "Ukrainian", "el": "Greek", "he": "Hebrew", "th": "Thai",
    "hy": "Armenian", "ka": "Georgian", "km": "Khmer", "ta": "Tamil", "ar": "Arabic",
}
"""English names of the language codes :func:`detect_language` returns (``und-*`` excepted)."""

SCRIPT_CODES = {
    "Latin": "Latn", "Han": "Hani", "Kana": "Kana", "Hangul": "Hang", "Cyrillic": "Cyrl", "Greek": "Grek",
    "Arabic": "Arab", "Hebrew": "Hebr", "Thai": "Thai", "Devanagari": "Deva", "Bengali": "Beng",
    "Tamil": "Taml", "Armenian": "Armn", "Georgian": "Geor", "Ethiopic": "Ethi", "Khmer": "Khmr",
    "Other": "Zyyy",
}
"""Script names of :data:`~dataset_gen.language_scripts.SCRIPTS` to ISO 15924 codes."""

_ONE_LANGUAGE = {"Greek": "el", "Hebrew": "he", "Thai": "th", "Armenian": "hy", "Georgian": "ka",
                 "Khmer": "km", "Tamil": "ta"}
_SCRIPT_OF_LANGUAGE = {"en": "Latin", "de": "Latin", "fr": "Latin", "es": "Latin", "it": "Latin",
                       "pt": "Latin", "nl": "Latin", "ru": "Cyrillic", "uk": "Cyrillic", "ar": "Arabic",
                       **{code: script for script, code in _ONE_LANGUAGE.items()}}
_UKRAINIAN = frozenset("ієїґІЄЇҐ")
_RUSSIAN = frozenset("ыэЫЭ")
_NOT_RUSSIAN = frozenset("ўјђљњћџѓќѕЎЈЂЉЊЋЏЃЌЅ")  # Belarusian, Serbian, Macedonian letters
_NOT_ARABIC = frozenset("پچژگکیٹڈڑںے")  # Persian and Urdu letters
_EAST_ASIAN = ("Han", "Kana", "Hangul")
_SAMPLE_WINDOW = 10_000
_MAX_CLEANED = 2_000_000


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


def language_name(code: str) -> str:
    """An English name for a code of :func:`detect_language`, for prompts: ``"German"``, or for
    ``"und-Cyrl"`` ``"the language of the document (Cyrillic script)"``. An unknown code is
    returned as it is."""
    if code.startswith("und-"):
        script = next((name for name, iso in SCRIPT_CODES.items() if iso == code[4:]), code[4:])
        return f"the language of the document ({script} script)"
    return LANGUAGE_NAMES.get(code, code)


def _sample(text: str) -> str:
    """The prose of ``text``: all of it up to three windows' worth, else its start, middle and
    end (so a long document whose first pages are a table of contents is still read)."""
    cleaned = prose(text[:_MAX_CLEANED])
    if len(cleaned) <= 3 * _SAMPLE_WINDOW:
        return cleaned
    middle = len(cleaned) // 2 - _SAMPLE_WINDOW // 2
    return "\n".join((cleaned[:_SAMPLE_WINDOW], cleaned[middle:middle + _SAMPLE_WINDOW], cleaned[-_SAMPLE_WINDOW:]))


def _east_asian(counts: Counter[str], text: str) -> str:
    han, kana, hangul = (counts[s] for s in _EAST_ASIAN)
    if hangul >= 0.3 * (han + kana + hangul) and hangul >= kana:
        return "ko"
    if kana >= 0.1 * (han + kana):
        return "ja"
    traditional, simplified = script_counts(text)
    return "zh-CN" if simplified > traditional else "zh-TW"


def _clearly(text: str) -> str | None:
    """The Latin-script language whose stop words are at least 3, at least 3% of the words and
    more than 1.2 times any other language's; ``None`` when none is."""
    words = len(WORD.findall(text))
    ranked = [*stop_word_counts(text).most_common(2), ("", 0), ("", 0)]
    (best, hits), (_, second) = ranked[0], ranked[1]
    return best if hits >= 3 and hits >= 0.03 * words and hits > 1.2 * second else None


def _latin(text: str) -> str:
    found = _clearly(text)
    if found:
        return found
    return "und-Latn" if len(WORD.findall(text)) >= 200 else "en"


def _of_script(script: str, text: str) -> str:
    if script == "Latin":
        return _latin(text)
    if script in _ONE_LANGUAGE:
        return _ONE_LANGUAGE[script]
    letters = set(text)
    if script == "Cyrillic" and not letters & _NOT_RUSSIAN:
        if letters & _UKRAINIAN:
            return "uk"
        if letters & _RUSSIAN:
            return "ru"
    if script == "Arabic" and not letters & _NOT_ARABIC:
        return "ar"
    return f"und-{SCRIPT_CODES[script]}"


def detect_language(text: str) -> str:
    """The language code of ``text`` (a whole document or one chunk), by the rules in the module
    docstring. Text with no letters at all (numbers, only code) is ``"en"``. Up to the first
    2,000,000 characters are cleaned; of long texts three 10,000-character windows of the cleaned
    text (start, middle, end) are read."""
    sample = _sample(text)
    counts = letter_counts(sample)
    letters = sum(counts.values())
    if not letters:
        return "en"
    if sum(counts[s] for s in _EAST_ASIAN) >= 0.2 * letters:
        return _east_asian(counts, sample)
    return _of_script(max(counts, key=lambda s: (0 if s in _EAST_ASIAN else counts[s])), sample)


def script_of_language(code: str) -> str | None:
    """The script name a language is written in (``"Latin"`` for ``"de"``, ``"Cyrillic"`` for
    ``"und-Cyrl"``); ``None`` for the East Asian codes, which are checked by their own rules."""
    if code.startswith("und-"):
        return next((name for name, iso in SCRIPT_CODES.items() if iso == code[4:]), None)
    return _SCRIPT_OF_LANGUAGE.get(code)


def _described(text: str) -> str:
    """What a reply is written in, for a re-ask: a language name or a script."""
    found = detect_language(text)
    return language_name(found) if not found.startswith("und-") else f"{script_of_language(found)} script"


def _mix(counts: Counter[str]) -> str:
    """``"12 Han, 30 Latin"``: the letters per script, most first."""
    return ", ".join(f"{n} {script}" for script, n in counts.most_common())


def script_problem(text: str, language: str) -> str | None:
    """Say what is wrong with the language or script of ``text`` (a reply, or one pair's question
    and answer) for ``language``, or ``None`` when it fits. Counted on :func:`prose` letters, so
    code and URLs in an answer are neither for nor against it; text without letters fits any
    language. The rules (shares are of all letters unless said otherwise):

    - ``"zh-TW"``, ``"zh-CN"``, ``"ja"``, ``"ko"``: Han, kana and Hangul, each counted three
      times (a character carries about what three Latin letters do), at least a quarter of the
      letters so weighted: a question in Chinese whose answer quotes a command passes, a reply in
      English does not. Then, among those letters:
      ``zh-*``: kana under 10% of Han plus kana (more is Japanese), Hangul under 30%, and not more
      characters only the other Chinese script uses than ones only this one uses (OpenCC tables);
      ``ja``: at least one kana and kana at least 5% of Han plus kana (kanji alone is Chinese),
      Hangul not more than kana; ``ko``: Hangul at least half.
    - ``"en"`` and the other Latin-script codes: Han, kana and Hangul under 20%, the Latin script
      the most used, and the stop words not clearly another of the seven languages (the rule of
      :func:`detect_language`; a short answer with few stop words passes).
    - any other code: Han, kana and Hangul under 20% and its script (:func:`script_of_language`)
      has the most letters; a code this module does not know is not checked.

    The returned phrase completes "the reply is …", e.g. ``"written in English; use Japanese"``.
    """
    cleaned = prose(text)
    counts = letter_counts(cleaned)
    letters = sum(counts.values())
    if not letters:
        return None
    han, kana, hangul = (counts[s] for s in _EAST_ASIAN)
    east = han + kana + hangul
    wanted = language_name(language)

    def wrong() -> str:
        described = _described(cleaned)
        return (f"written in {described}; use {wanted}" if described != wanted else
                f"written in {wanted} mixed with other scripts ({_mix(counts)}); use {wanted} only")

    if language in ("zh-TW", "zh-CN", "ja", "ko"):
        if 3 * east < 0.25 * (3 * east + letters - east):
            return wrong()
        if language == "ko":
            return wrong() if hangul < 0.5 * east else None
        if language == "ja":
            return wrong() if kana == 0 or kana < 0.05 * (han + kana) or hangul > kana else None
        if kana >= 0.1 * (han + kana) or hangul >= 0.3 * east:
            return wrong()
        traditional, simplified = script_counts(cleaned)
        if language == "zh-TW" and simplified > traditional:
            return f"written in Simplified Chinese ({simplified} Simplified-only characters); use Traditional Chinese"
        if language == "zh-CN" and traditional > simplified:
            return f"written in Traditional Chinese ({traditional} Traditional-only characters); use Simplified Chinese"
        return None
    script = script_of_language(language)
    if script is None:
        return None  # an unknown code: nothing to check against
    others = {s: n for s, n in counts.items() if s not in _EAST_ASIAN}
    if east >= 0.2 * letters or not others or max(others, key=lambda s: others[s]) != script:
        return wrong()
    if script == "Latin":
        found = _clearly(cleaned)
        if found is not None and found != language and language != "und-Latn":
            return wrong()
    return None


def language_matches(text: str, language: str) -> bool:
    """``True`` when ``text`` is in ``language``: :func:`script_problem` finds nothing."""
    return script_problem(text, language) is None
