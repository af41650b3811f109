"""Letters of a text by script, after taking out what is not prose; small stop-word lists.

Used by :mod:`dataset_gen.language`. Scripts are told by Unicode block (the Unicode Standard's
block chart, https://www.unicode.org/charts/): only letters count, never digits, punctuation or
symbols. What is not prose is removed before counting, because it is Latin letters whatever the
document's language: fenced code blocks (CommonMark ````` ``` ````` and ``~~~`` fences), inline
code spans, URLs, e-mail addresses, HTML/XML tags, comments and character references, and the
target of a Markdown link or image (``[text](target)`` keeps ``text``).
"""

from __future__ import annotations

import re
from collections import Counter

# (script, ranges) in the order they are tried; a letter outside every range is "Other".
# Han: CJK Unified Ideographs with extension A and the compatibility ideographs.
# Latin includes the fullwidth letters (FF21-FF3A, FF41-FF5A).
# Kana: hiragana (3041-309F) and katakana (30A1-30FA, 30FC-30FF, 31F0-31FF, halfwidth FF66-FF9D);
# the middle dot 30FB is punctuation. Hangul: syllables, jamo and compatibility jamo.
_RANGES: tuple[tuple[str, str], ...] = (
    ("Latin", "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a"),
    ("Han", "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"),
    ("Kana", "\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d"),
    ("Hangul", "\uac00-\ud7af\u1100-\u11ff\u3131-\u318e"),
    ("Cyrillic", "\u0400-\u04ff\u0500-\u052f"),
    ("Greek", "\u0370-\u03ff\u1f00-\u1fff"),
    ("Arabic", "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"),
    ("Hebrew", "\u0590-\u05ff"),
    ("Thai", "\u0e00-\u0e7f"),
    ("Devanagari", "\u0900-\u097f"),
    ("Bengali", "\u0980-\u09ff"),
    ("Tamil", "\u0b80-\u0bff"),
    ("Armenian", "\u0530-\u058f"),
    ("Georgian", "\u10a0-\u10ff"),
    ("Ethiopic", "\u1200-\u137f"),
    ("Khmer", "\u1780-\u17ff"),
)
SCRIPTS = tuple(name for name, _ in _RANGES)
"""Script names :func:`letter_counts` reports (plus ``"Other"`` for any other letter)."""

_SCRIPT_OF = re.compile("|".join(f"(?P<{name}>[{ranges}])" for name, ranges in _RANGES))
_LETTER = re.compile(r"[^\W\d_]")

_FENCED = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]{0,3}\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_NOT_PROSE = re.compile(
    r"`[^`\n]+`"  # inline code
    r"|<!--.*?-->"  # HTML comment
    r"|</?[A-Za-z][A-Za-z0-9:_-]*(?:\s[^<>]*)?/?>"  # HTML/XML tag with its attributes
    r"|&(?:[A-Za-z]+|#[0-9]+|#x[0-9A-Fa-f]+);"  # character reference
    r"|\b(?:https?|ftp|file)://\S+|\bwww\.\S+"  # URL
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail address
    re.DOTALL,
)
_LINK_TARGET = re.compile(r"\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """``text`` without code, URLs, e-mail addresses, markup and Markdown link targets (see the
    module docstring); each removed piece becomes one space, so words on either side stay apart."""
    text = _FENCED.sub(" ", text)
    text = _LINK_TARGET.sub("] ", text)
    return _NOT_PROSE.sub(" ", text)


def letter_counts(text: str) -> Counter[str]:
    """Letters of ``text`` (as it is: call :func:`prose` first to leave code out) per script name
    of :data:`SCRIPTS`, and ``"Other"``. Digits, punctuation, symbols and marks are not letters;
    Thai and Indic vowel signs are combining marks in Unicode and are not counted either."""
    counts: Counter[str] = Counter()
    for match in _LETTER.finditer(text):
        script = _SCRIPT_OF.match(match.group())
        counts[script.lastgroup if script and script.lastgroup else "Other"] += 1
    return counts


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent function words that are distinctive for each language (words shared by several of
# these languages, such as "de", "la", "in", "a", "es", are left out). Chosen for this heuristic
# from the languages' most frequent words; not an exhaustive list.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words("the and of to is that it for with as are this be was by not or which have from "
                 "you they their there been were has would"),
    "de": _words("der die das und ist nicht mit den von zu ein eine auch sich auf für dem des wird sind "
                 "oder wir ich bei nach werden kann"),
    "fr": _words("le les et est des une du dans pour qui pas sur au avec ce sont par il elle nous "
                 "vous mais ou être cette"),
    "es": _words("el los las y del una por con para su al lo como más pero sus le ya muy también "
                 "está son este"),
    "it": _words("il di che è gli della nel per non con sono anche questo una alla delle dei ma come "
                 "più essere"),
    "pt": _words("os do da em um uma para com não no na por mais como dos das ao ou seu sua são "
                 "também está"),
    "nl": _words("het een en van dat niet op te zijn met voor er ook als aan wordt bij om naar maar "
                 "dit deze heeft"),
}

WORD = re.compile(r"[^\W\d_]+")


def stop_word_counts(text: str) -> Counter[str]:
    """How many words of ``text`` (lower-cased) are in each language's :data:`STOP_WORDS`."""
    counts: Counter[str] = Counter()
    for word in WORD.findall(text.lower()):
        for language, words in STOP_WORDS.items():
            if word in words:
                counts[language] += 1
    return counts
