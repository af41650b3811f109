"""Checks by code on every generated pair: is it text at all, does it stand on its own, is it in the
document's language, and does its evidence really support it?

Each check is a pure function of a pair, its chunk and the document's language; a failed check
gives a reason code from :data:`REASONS` (each with a one-line text a person reads). The codes are
stored with the pair (``qa_pairs.flags``) and exports hold flagged pairs back unless a person asks
for them (:mod:`dataset_gen.gate`). The rules, found on replies of small models (SmolLM2-135M,
Gemma-3-270M) that looked like success:

- ``empty``: the question has fewer than 2 letters (digits and symbols alone, ``2.23.4.17`` or a
  timestamp, ask nothing), or the answer no letter or digit.
- ``placeholder``: a field with no letter or digit at all (``...``, ``…``, ``?``), a bracketed
  word (``<question>``, ``[answer]``, ``{evidence}``), or a field name as the whole field
  (``question``, ``answer``, ``string``, ``問題``, ``答案`` ...).
- ``echo``: the question or answer repeats a sentence of the generation or re-ask prompts
  (every built-in language, conversation prompts too): a prompt fragment of at least :data:`MIN_ECHO_CHARS` characters
  (6 for CJK) is in the field, or the field of at least that length is inside the prompts.
- ``not_self_contained``: the question uses a phrase of :data:`NOT_SELF_CONTAINED`
  ("What is the purpose of this document?", "The document explains that …", or a question about
  itself: "What is the answer to this question?").
- ``wrong_language``: :func:`dataset_gen.language.script_problem` finds the question and answer
  together, an answer of at least :data:`MIN_ANSWER_LETTERS` letters alone, or a question of at
  least :data:`MIN_QUESTION_LETTERS` letters alone, not in ``language`` (the question always
  without what it quotes: :func:`unquoted`); for Chinese, any kana letter in an answer whose
  chunk has none.
- ``trivial_evidence``: the evidence is shorter than :data:`MIN_EVIDENCE_WORDS` words (a Han,
  kana or Hangul character counts half a word), is a heading of the chunk (a Markdown ``#`` line
  or a heading-path entry), or shares none of the answer's key terms (words of 4+ letters that
  are not stop words, numbers of 2+ digits, pairs of adjacent CJK characters). Questions of type
  ``unanswerable`` skip the key-term rule (their evidence is only the passage nearest the
  question), and so does a placeholder answer (it has no terms to support).
- ``repeated``: the pair asks the same question as an earlier pair of the same reply, or gives the
  same answer of 10+ letters (compared with whitespace runs as one space, case folded).
- ``not_an_option``: a ``choice`` item whose answer is not exactly one of its options (a person
  edited it to other text; generation never stores one: :func:`dataset_gen.choice.option_problem`).
  Set by the re-check after an edit (:func:`dataset_gen.store_review.recheck`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from .language import script_problem
from .language_scripts import letter_counts, prose
from .prompts import PROMPTS_DIR

REASONS: dict[str, str] = {
    "empty": "the question or the answer is empty or nearly so",
    "placeholder": "a field is a placeholder ('...', '<question>'), not text",
    "echo": "the question or answer copies the prompt's or the re-ask's own wording",
    "not_self_contained": "the question leans on text the reader has not seen ('this document')",
    "wrong_language": "the question or answer is not in the document's language or script",
    "trivial_evidence": "the evidence is a heading, a few words, or does not support the answer",
    "repeated": "the pair repeats an earlier question or answer of the same reply",
    "not_an_option": "the answer of a choice question is not exactly one of its options",
}
"""Reason code → one line saying what is wrong, in the order checks are listed."""

NOT_SELF_CONTAINED = (
    "according to the text", "according to the passage", "according to the document",
    "in the text", "in this passage", "in the passage", "the above text", "this document",
    "the document explains", "the document says", "the answer to this question", "this question",
    "這個問題", "这个问题", "この質問", "이 질문",
    "根據上文", "根據本文", "根據文中", "根據這段", "根據以上", "本段", "上文", "這段文字", "這份文件",
    "根据上文", "根据本文", "根据文中", "这段文字", "这份文档",
    "本文によると", "この文書", "この段落", "上記の文章", "본문에 따르면", "이 문서", "이 단락",
    "first passage", "second passage", "第一段", "第二段", "一つ目の文章", "二つ目の文章", "첫 번째 글", "두 번째 글",
)
"""Phrases that make a question depend on unseen text (matched in the lower-cased question)."""

MIN_ECHO_CHARS = 12
"""Shortest prompt fragment (characters, 6 when it holds CJK) whose copy counts as an echo."""

MIN_EVIDENCE_WORDS = 4
"""Fewest words evidence must have (a CJK character counts half a word)."""

MIN_ANSWER_LETTERS = 15
"""An answer with at least this many letters is checked for language on its own too."""

MIN_QUESTION_LETTERS = 8
"""A question with at least this many letters outside its quotes is checked for language on its
own too (quotes removed: :func:`unquoted`)."""

_QUOTED = re.compile(
    r'"[^"\n]*"|“[^”\n]*”|‘[^’\n]*’|「[^」\n]*」|『[^』\n]*』|«[^»\n]*»|`[^`\n]*`'
    r"|(?<!\w)'[^'\n]*'(?!\w)"
)

_FIELD_NAMES = frozenset({
    "question", "answer", "evidence", "reasoning", "string", "text", "quote", "n/a", "none", "null",
    "todo", "tbd", "問題", "问题", "答案", "回答", "證據", "证据", "質問", "根拠", "질문", "답변", "근거",
})
_BRACKETED = re.compile(r"^[<\[{(（【「]\s*[\w\s/-]{1,30}\s*[>\]})）】」]$")
_CJK = re.compile(r"[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W\d_]+|\d+")
_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")
_EDGES = " \t\n\"'“”‘’「」『』《》()（）[]【】.,;:!?。，、；：！？…-—*`>#"
_STOP = frozenset({
    "about", "above", "after", "also", "been", "before", "being", "between", "both", "could",
    "does", "each", "from", "have", "into", "itself", "more", "most", "much", "only", "other",
    "over", "same", "should", "some", "such", "than", "that", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "under", "very", "were", "what", "when", "where",
    "which", "while", "whom", "whose", "with", "would", "your",
})


def _fold(text: str) -> str:
    """NFKC, case folded, whitespace runs as one space, edge punctuation removed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(_EDGES)


@cache
def _prompt_text() -> tuple[tuple[str, ...], str]:
    """``(fragments, all prompt text)`` of the built-in generation and re-ask templates, folded."""
    fragments: list[str] = []
    paths = [*sorted(PROMPTS_DIR.glob("qa_generate.*.txt")), *sorted(PROMPTS_DIR.glob("qa_repair.*.txt")),
             *sorted(PROMPTS_DIR.glob("conversation_*.txt"))]
    for path in paths:
        body = path.read_text(encoding="utf-8").split("\n---\n", 1)[-1]
        for line in body.splitlines():
            if line.startswith("=== "):
                continue
            for piece in _PLACEHOLDER.split(line):
                folded = _fold(piece.lstrip("- "))
                if len(folded) >= MIN_ECHO_CHARS or (_CJK.search(folded) and len(folded) >= 6):
                    fragments.append(folded)
    return tuple(dict.fromkeys(fragments)), "\n".join(fragments)


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _is_placeholder(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    return _alnum(stripped) == 0 or bool(_BRACKETED.match(stripped)) or _fold(stripped) in _FIELD_NAMES


def _is_echo(text: str) -> bool:
    folded = _fold(text)
    if not folded:
        return False
    fragments, whole = _prompt_text()
    if any(fragment in folded for fragment in fragments):
        return True
    long_enough = len(folded) >= MIN_ECHO_CHARS or (_CJK.search(folded) and len(folded) >= 6)
    return bool(long_enough) and folded in whole


def _words(text: str) -> float:
    cjk = len(_CJK.findall(text))
    latin = len(_WORD.findall(_CJK.sub(" ", text)))
    return latin + cjk / 2


def _key_terms(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    terms = {w[:5] for w in _WORD.findall(_CJK.sub(" ", folded))
             if (w.isdigit() and len(w) >= 2) or (not w.isdigit() and len(w) >= 4 and w not in _STOP)}
    for run in _CJK_RUN.findall(folded):
        terms.update(run[i:i + 2] for i in range(len(run) - 1))
    return terms


def _headings(chunk_text: str, heading_path: Sequence[str]) -> set[str]:
    lines = {_fold(line.lstrip("#")) for line in chunk_text.splitlines() if line.lstrip().startswith("#")}
    return {h for h in lines | {_fold(h) for h in heading_path} if h}


def _trivial_evidence(evidence: str, answer: str, chunk_text: str, heading_path: Sequence[str],
                      question_type: str) -> bool:
    if _words(evidence) < MIN_EVIDENCE_WORDS or _fold(evidence) in _headings(chunk_text, heading_path):
        return True
    if question_type == "unanswerable":
        return False
    wanted = _key_terms(answer)
    if not wanted:
        return False
    have = _key_terms(evidence)
    return not wanted & have


def unquoted(text: str) -> str:
    """``text`` without the passages it quotes (``"…"``, ``“…”``, ``‘…’``, ``'…'``, ``「…」``,
    ``『…』``, ``«…»``, ```…```), each replaced by a space: a question may quote the document in
    its own language while asking in another, so the quotes say nothing of the asker's language."""
    return _QUOTED.sub(" ", text)


def _wrong_language(question: str, answer: str, chunk_text: str, language: str) -> bool:
    asked = unquoted(question)
    if script_problem(f"{asked} {answer}", language) is not None:
        return True
    if sum(letter_counts(prose(asked)).values()) >= MIN_QUESTION_LETTERS and script_problem(asked, language):
        return True
    letters = letter_counts(prose(answer))
    if sum(letters.values()) >= MIN_ANSWER_LETTERS and script_problem(answer, language) is not None:
        return True
    return language.startswith("zh") and letters["Kana"] > 0 and letter_counts(prose(chunk_text))["Kana"] == 0


def check_pair(
    question: str,
    answer: str,
    evidence: str,
    chunk_text: str,
    language: str,
    *,
    question_type: str = "factual",
    heading_path: Sequence[str] = (),
) -> tuple[str, ...]:
    """The reason codes (keys of :data:`REASONS`, in that order) one pair fails, ``()`` when it
    passes. ``chunk_text`` is the text the pair rests on (both chunks of a comparison, joined);
    ``language`` a code such as ``"zh-TW"`` or ``"en"``. The rules are in the module docstring;
    ``repeated`` needs the whole reply (:func:`check_reply`)."""
    found: list[str] = []
    placeholders = [_is_placeholder(field) for field in (question, answer, evidence)]
    if (not placeholders[0] and _letters(question) < 2) or (not placeholders[1] and _alnum(answer) < 1):
        found.append("empty")
    if any(placeholders):
        found.append("placeholder")
    if _is_echo(question) or _is_echo(answer):
        found.append("echo")
    lowered = question.lower()
    if any(phrase in lowered for phrase in NOT_SELF_CONTAINED):
        found.append("not_self_contained")
    if _wrong_language(question, answer, chunk_text, language):
        found.append("wrong_language")
    if _trivial_evidence(evidence, "" if placeholders[1] else answer, chunk_text, heading_path, question_type):
        found.append("trivial_evidence")
    return tuple(found)


def check_reply(
    pairs: Sequence[tuple[str, str, str]],
    chunk_text: str,
    language: str,
    *,
    question_type: str = "factual",
    heading_path: Sequence[str] = (),
) -> list[tuple[str, ...]]:
    """:func:`check_pair` for each ``(question, answer, evidence)`` of one reply, in order, plus
    ``repeated`` for a pair whose question, or answer of 10+ letters or digits, an earlier pair of
    the reply already has."""
    questions: set[str] = set()
    answers: set[str] = set()
    result = []
    for question, answer, evidence in pairs:
        codes = check_pair(question, answer, evidence, chunk_text, language,
                           question_type=question_type, heading_path=heading_path)
        q, a = _fold(question), _fold(answer)
        if (q and q in questions) or (_alnum(a) >= 10 and a in answers):
            codes = (*codes, "repeated")
        questions.add(q)
        answers.add(a)
        result.append(codes)
    return result


def describe(code: str) -> str:
    """The one-line text of a reason code; the code itself when it is not one of :data:`REASONS`."""
    return REASONS.get(code, code)
