"""Objective questions: single choice (four options) and true/false, checked and scored by code.

A ``choice`` item stores its options in ``choices`` (a JSON list) and the correct option's text,
exactly, in ``answer``. :func:`option_problem` says what is wrong with a set of options (four
distinct non-empty options with exactly one equal to the answer; true/false has exactly the two
options of the item's language, :data:`TRUE_FALSE`). :func:`score_choice` reads a model's reply
to the question (a letter ``A``–``D``, the option's text, or true/false in the item's language)
and says whether it is right, ``None`` when the reply does not say. :func:`choice_prompt` and
:func:`choice_response` are what fine-tuning exports show: the options as ``A. …`` lines under
the question, and ``B. <text>`` as the answer.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Sequence

__all__ = ["CHOICE_TYPES", "LETTERS", "TRUE_FALSE", "choice_prompt", "choice_response", "option_problem",
           "score_choice", "shuffle_options", "true_false_options"]

CHOICE_TYPES = ("single_choice", "true_false")
"""The question types (:class:`dataset_gen.models.QuestionType` values) of ``choice`` items."""

LETTERS = "ABCD"
"""The letters of the options, in order."""

TRUE_FALSE: dict[str, tuple[str, str]] = {
    "en": ("True", "False"),
    "zh-TW": ("正確", "錯誤"),
    "zh-CN": ("正确", "错误"),
    "ja": ("正しい", "誤り"),
    "ko": ("참", "거짓"),
}
"""The two options of a true/false question per language (others: English's)."""

_TRUE_WORDS = {"true", "yes", "correct", "對", "对", "是", "はい", "예", "맞다", "맞음", "○", "t"}
_FALSE_WORDS = {"false", "no", "incorrect", "不對", "不对", "否", "いいえ", "아니오", "틀림", "×", "f"}
_EDGES = " \t\r\n\"'`“”‘’「」『』*_.,!?;:。，！？；：、()（）[]【】"
_PREFIX = re.compile(r"^(?:(?:the\s+)?(?:correct\s+|right\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:：]?\s*"
                     r"|(?:正確答案|正确答案|答案|回答|選項|选项|正解|정답)\s*(?:是|為|为|は|은|는)?\s*[:：]?\s*)",
                     re.IGNORECASE)
_LETTER = re.compile(r"^[(（\[]?([A-D])[)）\]]?(?=$|[\s.．:：、,，)）])[\s.．:：、,，)）]*")


def true_false_options(language: str) -> tuple[str, str]:
    """The two options of a true/false question in ``language`` (e.g. ``("正確", "錯誤")`` for
    zh-TW); English's for a language without its own."""
    return TRUE_FALSE.get(language, TRUE_FALSE["en"])


def shuffle_options(question: str, options: Sequence[str]) -> tuple[str, ...]:
    """``options`` of a single-choice ``question`` in an order drawn from the question's text: a
    :class:`random.Random` seeded with the first 8 bytes of the SHA-256 of the question (UTF-8) shuffles
    them, so the same question always gets the same order (in every process: no use of
    :func:`hash`), and the correct option, which a model tends to put first, lands on A–D alike.
    True/false options are not given here: they keep the language's order (:data:`TRUE_FALSE`)."""
    seed = int.from_bytes(hashlib.sha256(question.encode("utf-8")).digest()[:8], "big")
    order = list(options)
    random.Random(seed).shuffle(order)  # noqa: S311 (an order, not a secret)
    return tuple(order)


def _fold(text: str) -> str:
    """NFKC, case folded, white space runs as one space, quotes and end punctuation stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(_EDGES)


def option_problem(question_type: str, choices: Sequence[str], answer: str, language: str) -> str | None:
    """What is wrong with a choice item's options, as a short phrase; ``None`` when they are right.

    ``single_choice``: exactly four options, none empty, no two the same (compared folded), and
    exactly one equal to ``answer`` (exact text). ``true_false``: the options are exactly
    :func:`true_false_options` of ``language`` and ``answer`` is one of them.
    """
    if question_type == "true_false":
        wanted = list(true_false_options(language))
        if list(choices) != wanted:
            return f"the options must be exactly {wanted}"
        return None if answer in wanted else f"the answer must be {wanted[0]!r} or {wanted[1]!r}"
    if len(choices) != 4:
        return f"it has {len(choices)} options, not 4"
    if any(not c.strip() for c in choices):
        return "an option is empty"
    if len({_fold(c) for c in choices}) < 4:
        return "two options are the same"
    matches = sum(1 for c in choices if c == answer)
    if matches != 1:
        return "the answer is not one of the options" if not matches else "the answer is more than one option"
    return None


def choice_prompt(question: str, choices: Sequence[str]) -> str:
    """The question with its options as ``A. …`` lines under it (a blank line between)."""
    return question + "\n\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def choice_response(choices: Sequence[str], answer: str) -> str:
    """The answer as its letter and text, ``B. <text>`` (the answer alone when it is not an option)."""
    return f"{LETTERS[list(choices).index(answer)]}. {answer}" if answer in choices else answer


def _picked(text: str, choices: Sequence[str]) -> int | None:
    """The index of the one option ``text`` names by its text (equal, or starting the reply and
    followed by punctuation or a space, or the only option the reply contains)."""
    folded = [_fold(c) for c in choices]
    if text in folded:
        return folded.index(text)
    inside = [i for i, f in enumerate(folded) if f and f in text]
    if len(inside) > 1 and len(choices) > 2:
        return None  # "Paris or Berlin": two options named
    starts = [i for i, f in enumerate(folded) if f and re.match(re.escape(f) + r"(?=$|[\s.,，。:：;；!！、(（])", text)]
    if len(starts) == 1:
        return starts[0]
    if len(inside) == 1 and len(choices) > 2:  # not for true/false: "不正確" contains "正確"
        return inside[0]
    return None


def score_choice(reply: str, choices: Sequence[str], answer: str) -> bool | None:
    """Whether ``reply`` picks ``answer`` among ``choices``: ``True`` right, ``False`` wrong,
    ``None`` when it cannot tell (an empty reply, no option named, two options named, a letter
    beyond the options, or ``answer`` not among ``choices``).

    Read in this order, after NFKC and case folding: an ``Answer:``/``答案：`` prefix is dropped;
    a leading letter ``A``–``D`` (``B``, ``(B)``, ``B.``, ``B) Paris``) picks that option, unless
    the text after it names another option or another letter; else the option's text (equal, or
    at the start, or the only option the reply holds; true/false also by ``yes``/``no``,
    ``是``/``否`` and the like).
    """
    if answer not in choices or not reply.strip():
        return None
    right = list(choices).index(answer)
    raw = unicodedata.normalize("NFKC", reply).strip().strip("*_`\"' ")
    raw = _PREFIX.sub("", raw, count=1)
    letter = _LETTER.match(raw.upper() if len(raw.strip(_EDGES)) == 1 else raw)  # "b" alone is a letter too
    if letter:
        index = LETTERS.index(letter.group(1))
        if index >= len(choices):
            return None
        rest = _fold(raw[letter.end():])
        if rest:
            named = _picked(rest, choices)
            if named is not None and named != index:
                return None
            if named is None and re.search(r"(?<![A-Za-z])[A-D](?![A-Za-z])", raw[letter.end():]):
                return None  # "A or B"
        return index == right
    text = _fold(raw)
    if not text:
        return None
    picked = _picked(text, choices)
    if picked is None and len(choices) == 2:
        first = re.split(r"[\s.,，。:：;；!！、]", text, maxsplit=1)[0]
        if first in _TRUE_WORDS or text in _TRUE_WORDS:
            picked = 0
        elif first in _FALSE_WORDS or text in _FALSE_WORDS:
            picked = 1
    return None if picked is None else picked == right
