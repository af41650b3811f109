"""Records passed between the core's stages: documents, chunks, QA pairs and sampling options.

All are small frozen dataclasses. Offsets and sizes are in characters (Python ``str`` indices) of
``Document.text``; page numbers are 1-based.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Document:
    """A parsed document.

    ``text`` is the extracted text (Markdown where the source has structure: headings as ``#``,
    tables as pipe tables). ``page_starts[i]`` is the offset in ``text`` where page ``i + 1``
    begins; it is empty for formats without pages (DOCX, Markdown, text). ``kind`` is the real type
    read from the bytes: ``"pdf"``, ``"docx"``, ``"markdown"`` or ``"text"``. ``encoding`` is the
    detected character encoding of a text file (``None`` for PDF and DOCX). ``warnings`` are
    one-line notes a person should see (e.g. a repaired stream); they never stop the parse.
    ``left_out`` is text of the file kept out of ``text`` on purpose, as ``(page, text)`` pairs
    (page 1-based, 0 for formats without pages): running headers, footers and page numbers, so a
    person can see what was left out; ``text`` alone is what chunks are cut from.
    """

    name: str
    text: str
    kind: str
    sha256: str
    page_starts: tuple[int, ...] = ()
    encoding: str | None = None
    warnings: tuple[str, ...] = ()
    left_out: tuple[tuple[int, str], ...] = ()

    @property
    def page_count(self) -> int | None:
        """Number of pages, or ``None`` for a format without pages."""
        return len(self.page_starts) or None

    def page_at(self, offset: int) -> int | None:
        """1-based page holding character ``offset`` of ``text``; ``None`` without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sent to the model.

    ``text == document.text[start:end]`` always holds (the span is half-open, in characters).
    ``heading_path`` is the chain of Markdown headings above the chunk, outermost first, e.g.
    ``("Ollama 筆記", "安裝")``. ``page_start``/``page_end`` are the first and last page the
    span touches (inclusive), or ``None`` for documents without pages. ``ordinal`` is 0-based order
    within the document.
    """

    document: str
    ordinal: int
    start: int
    end: int
    text: str
    heading_path: tuple[str, ...] = ()
    page_start: int | None = None
    page_end: int | None = None


@dataclass(frozen=True)
class QAPair:
    """One generated question-answer pair, before it is stored.

    ``evidence`` is the quote from the chunk that supports the answer; ``grounded`` is ``True`` when
    code found that quote in the chunk (see ``dataset_gen.grounding``). ``question_type`` is one of
    :data:`QUESTION_TYPES`; ``reasoning`` is an optional short chain of thought; ``audience`` the
    phrasing variation asked for (``""`` for none); ``context_chunk_ids`` are further chunks the
    pair rests on besides its own (the second chunk of a comparison question). ``language_ok`` is
    ``False`` when the pair's language or Chinese script differs from the one asked for. ``flags``
    are the reason codes of :data:`dataset_gen.checks.REASONS` the pair fails (``()``: none).
    ``kind`` is an :class:`ItemKind` value; ``choices`` the options of a ``choice`` item.
    """

    question: str
    answer: str
    evidence: str
    grounded: bool
    question_type: str = "factual"
    reasoning: str = ""
    audience: str = ""
    context_chunk_ids: tuple[int, ...] = ()
    language_ok: bool = True
    flags: tuple[str, ...] = ()
    kind: str = "qa"
    choices: tuple[str, ...] = ()


class QuestionType(StrEnum):
    """Kinds of question: a fact stated in the chunk; how/why explained by it; a comparison across
    two chunks of one document (multi-hop); a question the document does not answer (its reference
    answer says so: kept for RAG evaluation, left out of fine-tuning exports unless asked).

    The store checks none of these in SQL (schema version 8): a new type is a new member here."""

    FACTUAL = "factual"
    EXPLANATION = "explanation"
    COMPARISON = "comparison"
    UNANSWERABLE = "unanswerable"
    SINGLE_CHOICE = "single_choice"  # a ``choice`` item: four options, one right (dataset_gen.choice)
    TRUE_FALSE = "true_false"  # a ``choice`` item: a statement, true or false in its language


QUESTION_TYPES: tuple[str, ...] = tuple(t.value for t in QuestionType)
"""The values of :class:`QuestionType`, in order."""


class ItemKind(StrEnum):
    """What a stored item is, stored in ``qa_pairs.kind`` and checked only here (no SQL
    constraint), so a new kind is a new member: ``qa`` is one question and one answer;
    ``conversation`` a multi-turn dialogue (its first user turn and assistant reply in
    ``question``/``answer``, the turns stored turn by turn); ``choice`` an objective question whose
    options are in ``choices`` and whose ``answer`` is the correct option."""

    QA = "qa"
    CONVERSATION = "conversation"
    CHOICE = "choice"


GENERATED_KINDS: tuple[str, ...] = (ItemKind.QA.value, ItemKind.CONVERSATION.value, ItemKind.CHOICE.value)
"""The kinds ``generate`` can make from a chunk (``--kind``), default first: add a kind here."""


@dataclass(frozen=True)
class Turn:
    """One turn of a ``conversation`` item, as stored (``conversation_turns``).

    ``position`` is 0-based; user turns are at even positions, assistant turns at odd ones.
    ``evidence`` (assistant turns only; ``""`` for user turns) is the quote from the source chunk(s)
    checked by :func:`dataset_gen.grounding.is_grounded`; ``grounded`` its result (always ``True``
    for a user turn). ``original_content`` keeps the model's text once a person edited the turn.
    ``flags`` are the reason codes of :data:`dataset_gen.checks.REASONS` an assistant turn fails
    (checked with the user turn before it as its question)."""

    position: int
    role: str
    content: str
    evidence: str = ""
    grounded: bool = True
    edited: bool = False
    original_content: str | None = None
    flags: tuple[str, ...] = ()


class Origin(StrEnum):
    """Where an item's content comes from, stored in ``qa_pairs.origin``: ``document`` (grounded
    in a chunk), ``model`` (the model's own knowledge, e.g. distilled from a topic: never counted
    as grounded, no chunk) or ``examples`` (written in the style of a person's own examples, no
    chunk)."""

    DOCUMENT = "document"
    MODEL = "model"
    EXAMPLES = "examples"


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling options passed to the model unchanged (Ollama ``options`` keys, api/types.go).

    ``None`` means "leave the server's default". ``temperature=0`` is sent as 0.
    ``num_predict`` is the maximum number of tokens to generate (-1 = no limit).
    """

    temperature: float | None = 0.7
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    num_predict: int | None = None

    def to_ollama(self) -> dict:
        """The non-``None`` fields as an Ollama ``options`` dict."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class ChatReply:
    """A model reply as read from the server.

    ``content`` is the answer text with any ``<think>…</think>`` block removed; ``thinking`` is the
    reasoning (from ``message.thinking`` or the stripped block). Token counts come from Ollama's
    ``prompt_eval_count``/``eval_count``; ``duration_s`` is the server's ``total_duration`` in
    seconds (falls back to wall time when the server sends none).
    """

    content: str
    thinking: str = ""
    done_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0


@dataclass(frozen=True)
class ModelInfo:
    """A model the server has, from ``GET /api/tags``. ``size`` is in bytes."""

    name: str
    size: int = 0
    parameter_size: str = ""
    quantization_level: str = ""
    family: str = ""

    @property
    def is_embedding(self) -> bool:
        """``True`` for an embedding-only model (a BERT family, or "embed" in its name): it cannot chat."""
        return "bert" in self.family.lower() or "embed" in self.name.lower()


@dataclass(frozen=True)
class StoredPair:
    """A QA pair as kept in the store, with its provenance; the input of every export.

    ``status`` is ``"generated"``, ``"accepted"`` or ``"rejected"``. ``edited`` is ``True`` once a
    person changed the question or answer; ``original_question``/``original_answer`` then keep the
    model's text. ``pages`` is ``(first, last)`` or ``None``. ``created_at``/``updated_at`` are ISO
    8601 UTC strings. ``flags`` are the reason codes of :data:`dataset_gen.checks.REASONS` the pair
    fails, as stored (recomputed when a person edits the text). ``kind`` is an :class:`ItemKind`
    value and ``origin`` an :class:`Origin` value; an item with no source chunk (origin other than
    ``document``) has ``chunk_id`` ``None``, ``document`` ``""``, ordinal and span 0 and no chunk
    text. ``split`` is ``"train"``, ``"validation"`` or ``"test"`` once a held-out split was made
    (``None``: not assigned).
    """

    id: int
    project: str
    question: str
    answer: str
    evidence: str
    grounded: bool
    status: str
    edited: bool
    document: str
    chunk_id: int | None
    chunk_ordinal: int
    heading_path: tuple[str, ...]
    chunk_start: int
    chunk_end: int
    pages: tuple[int, int] | None
    model: str
    prompt_name: str
    prompt_version: str
    run_id: int
    created_at: str
    updated_at: str
    original_question: str | None = None
    original_answer: str | None = None
    chunk_text: str = field(default="", repr=False)
    question_type: str = "factual"
    reasoning: str = ""
    audience: str = ""
    context_chunk_ids: tuple[int, ...] = ()
    context_texts: tuple[str, ...] = field(default=(), repr=False)
    faithfulness: int | None = None
    relevance: int | None = None
    clarity: int | None = None
    judge_reason: str = ""
    duplicate_of: int | None = None
    language_ok: bool = True
    revision: int = 0  # +1 with every change a person makes (text or status): stale edits are refused
    flags: tuple[str, ...] = ()
    kind: str = ItemKind.QA.value
    origin: str = Origin.DOCUMENT.value
    choices: tuple[str, ...] = ()
    split: str | None = None
    tag_id: int | None = None  # its domain tag (dataset_gen.tags), None: untagged
    turns: tuple[Turn, ...] = field(default=(), repr=False)  # a conversation's turns, in order

    @property
    def lowest_score(self) -> int | None:
        """The lowest of the judge's three 1–5 scores, or ``None`` when the pair was not judged."""
        scores = [s for s in (self.faithfulness, self.relevance, self.clarity) if s is not None]
        return min(scores) if scores else None

    @property
    def reference_contexts(self) -> tuple[str, ...]:
        """The texts the answer rests on: its chunk, then any further chunks (multi-hop)."""
        return (self.chunk_text, *self.context_texts)
