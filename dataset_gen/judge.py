"""An LLM judge that sees the source: scores each pair's faithfulness, relevance and clarity (1–5).

Unlike judges that see only the pair, the prompt (``dataset_gen/prompts/qa_judge.<language>.txt``)
holds the pair's source text (its chunk, and the second chunk of a comparison), so faithfulness
means "backed by the document". Each source chunk is shown as generation showed it: after the
header row of a pipe table it continues (:func:`dataset_gen.table_context.with_table_header`; an
edited chunk as it is). A reply that is no usable verdict is answered with
``qa_judge_repair.<language>.txt`` and asked again.

Every kind of item is judged (:mod:`dataset_gen.judge_kinds`): a ``choice`` item with its
options shown and the correct one marked; a ``conversation`` as a whole, every turn in order, with
``conversation_judge.<language>.txt``, one verdict per conversation; and an item with no source
chunk (``origin`` ``model`` or ``examples``) with ``nosource_judge.<language>.txt``, which scores it
from the judge's own knowledge: its faithfulness means "factually correct as far as the judge
knows", not "backed by the document" (:attr:`JudgeSummary.sourceless` counts them).

The language of both templates is chosen as generation chooses it (:func:`pair_languages`): the
project's language setting, or with ``auto`` the pair's document's language, or its chunk's own
when that is clearly another (:func:`dataset_gen.chunk_language.chunk_language`); a language
without templates of its own gets ``<name>.any.txt`` naming it (:func:`dataset_gen.prompts.load_prompt`).

Judging is a run (kind ``judge`` in the ``runs`` table): model, template name and version,
options, and the token counts and durations of every reply, added as each arrives. Each verdict is
saved the moment it arrives, naming its run (``qa_pairs.judge_run_id``); a re-run judges only
unjudged pairs. The run holds the project's lock (:mod:`dataset_gen.locks`) like a generation run,
so a judge run whose process was killed is found and recorded ``interrupted`` by the next taker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from .backends import Backend
from .backends.json_reply import first_object
from .chunk_language import chunk_language
from .config import ProjectConfig
from .errors import BackendUnreachableError, DatasetGenError, InvalidModelOutputError, ModelNotFoundError
from .judge_kinds import Shape, render, shape_of, try_shape, values_for
from .language import detect_language
from .locks import ProjectLock, project_locked
from .models import SamplingOptions
from .prompts import PromptTemplate, load_prompt
from .qa import estimate_tokens, plan_num_ctx
from .store_rows import ChunkRow
from .table_context import with_table_header
from .workers import Abandoned, WorkerPool, run_pool

JUDGE_PROMPT = "qa_judge"
"""The judge's template (``dataset_gen/prompts/qa_judge.<language>.txt``)."""
REPAIR_PROMPT = "qa_judge_repair"
"""The re-ask after a reply that is no usable verdict; its ``user`` section takes ``{{problem}}``."""

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "faithfulness": {"type": "integer", "minimum": 1, "maximum": 5},
        "relevance": {"type": "integer", "minimum": 1, "maximum": 5},
        "clarity": {"type": "integer", "minimum": 1, "maximum": 5},
        "reason": {"type": "string"},
    },
    "required": ["faithfulness", "relevance", "clarity", "reason"],
}
"""JSON schema of a verdict, sent as Ollama's ``format``."""


class Verdict(BaseModel):
    """A judge's verdict on one pair."""

    faithfulness: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    clarity: int = Field(ge=1, le=5)
    reason: str = ""


def parse_verdict(content: str) -> Verdict:
    """Read a verdict from a reply (the first JSON object in it).

    :raises ValueError: no JSON object, or scores missing or outside 1–5.
    """
    return first_object(content, Verdict, "verdict")


@dataclass
class JudgeSummary:
    """Outcome of :func:`judge_pairs`: pairs judged, failures ``(pair id, error)``, fatal ``error``;
    ``cancelled`` when it was stopped (cancel or Ctrl-C) before every pair was judged.

    ``run_id`` is the judge run (``None`` when there was nothing to judge, so no run was started)
    and ``status`` how it ended (``finished``, ``cancelled`` or ``failed``, as stored); token counts
    are the server's, summed over every reply that was kept; ``elapsed_s`` is wall time in seconds.
    ``sourceless`` counts the judged items that have no source chunk (``origin`` ``model`` or
    ``examples``): scored from the judge's own knowledge, so their faithfulness means "factually
    correct as far as the judge knows" (:data:`dataset_gen.judge_kinds.NO_SOURCE`).
    """

    total: int
    judged: int = 0
    cancelled: bool = False
    failures: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    run_id: int | None = None
    status: str = "finished"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sourceless: int = 0

    def sourceless_line(self) -> str:
        """One line saying how many judged items had no source (``""`` when none had)."""
        if not self.sourceless:
            return ""
        noun = "item has" if self.sourceless == 1 else "items have"
        return (f"{self.sourceless} judged {noun} no source document, so the judge scored them from its own "
                "knowledge (faithfulness = factually correct as far as it knows)")


def judge_pairs(
    store,
    project_id: int,
    backend: Backend,
    model: str,
    *,
    concurrency: int = 4,
    pair_ids: list[int] | None = None,
    rejudge: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_reasks: int = 1,
    threshold: int | None = None,
    language: str | None = None,
    lock: ProjectLock | None = None,
) -> JudgeSummary:
    """Score the project's items with ``model`` in a judge run and store each verdict as it arrives.

    Every kind is judged, each with its own request (:mod:`dataset_gen.judge_kinds`): a QA pair
    or ``choice`` item (its options shown) against its source, a conversation as a whole, and an
    item with no source chunk from the judge's own knowledge (counted in ``sourceless``).

    Judges pairs without scores (all of them with ``rejudge``), or only ``pair_ids``. Rejected
    pairs are skipped. ``on_progress(done, total)`` is called after each pair, one call at a time,
    ``done`` counting pairs judged or failed. Temperature is 0 so a verdict is repeatable. A pair
    whose verdict stays invalid after ``max_reasks`` re-asks is listed in ``failures``; Ollama not
    running or the model not pulled stops the run (``error``). Setting ``cancel`` (or Ctrl-C in
    the calling thread) stops at once: requests in flight are abandoned and nothing they bring back
    is saved (:class:`~dataset_gen.workers.WorkerPool`), so ``judged`` is exactly what the store
    holds. A Ctrl-C is re-raised after the summary and the run's row are final.

    ``language`` (a code of :func:`dataset_gen.language.detect_language`) judges every pair with
    that language's templates; ``None`` chooses per pair (:func:`pair_languages`).

    The run (:meth:`Store.start_judge_run`) records ``model``, the name and version of the first
    item's template (``qa_judge``, ``conversation_judge`` or ``nosource_judge``), and the options sent (``temperature``, ``num_predict``, ``num_ctx``);
    each reply's token counts and duration are added to it (:meth:`Store.add_run_usage`), and it
    ends ``finished``, ``cancelled`` or ``failed`` like a generation run. No run is started when no
    pair is to be judged. The project's lock is held for the run, unless the caller passes the
    ``lock`` it holds.

    Once a pair is judged (or when there is nothing to judge) the project records the judge
    (:func:`record_judge`): ``model`` as its ``judge_model`` and ``threshold`` (1–5; ``None`` keeps
    the recorded one, default 3) as its ``judge_threshold``, which every export (CLI or app) then
    applies. A run that judged nothing (the model is not pulled, the server stopped) records nothing.

    :raises ValueError: ``threshold`` outside 1–5.
    :raises PromptError: a template is missing or broken (before any call).
    :raises ProjectBusyError: another run or upload holds the project's lock.
    :raises StoreError: the store failed during the run (the run is then recorded ``failed``).
    """
    store.require_writable()  # before any call: verdicts that cannot be saved are not worth asking for
    _check_threshold(threshold)
    with project_locked(store, project_id, lock):
        pairs = store.list_pairs(project_id, statuses=("generated", "accepted"))
        if pair_ids is not None:
            wanted = set(pair_ids)
            pairs = [p for p in pairs if p.id in wanted]
        if not rejudge:
            pairs = [p for p in pairs if p.faithfulness is None]
        if not pairs:
            record_judge(store, project_id, model, threshold)
            return JudgeSummary(total=0)
        judging = _Judging(store, project_id, backend, model, pairs, language, max_reasks, on_progress)
        summary = judging.execute(concurrency, cancel or threading.Event())
        if summary.judged:  # a model that judged nothing (not pulled, not running) is not recorded
            record_judge(store, project_id, model, threshold)
        return summary


class _Judging:
    """One judge run over a :class:`~dataset_gen.workers.WorkerPool`: every save goes through the
    pool's lock and is refused once the pool has stopped."""

    def __init__(self, store, project_id, backend, model, pairs, language, max_reasks, on_progress):
        self.store, self.project_id, self.backend, self.model = store, project_id, backend, model
        self.max_reasks, self.on_progress = max_reasks, on_progress
        texts = _Texts(store)
        if language is not None:
            self.languages = {p.id: language for p in pairs}
        else:
            self.languages = pair_languages(store, project_id, pairs, texts)
        overrides = store.prompt_overrides(project_id)
        self.shapes: dict[int, Shape] = {p.id: shape_of(p) for p in pairs}
        self.templates: dict[tuple[str, Shape], tuple[PromptTemplate, PromptTemplate]] = {}
        self.values: dict[int, dict[str, str]] = {}
        for p in pairs:
            key = (self.languages[p.id], self.shapes[p.id])
            if key not in self.templates:
                self.templates[key] = (load_prompt(key[1].judge, key[0], overrides),
                                       load_prompt(key[1].repair, key[0], overrides))
                try_shape(key[1], *self.templates[key])
            source = "" if key[1].sourceless else texts.source(p)
            self.values[p.id] = values_for(key[1], self.templates[key][0], p, source)
        longest = max(estimate_tokens("".join(v.values())) for v in self.values.values())
        self.num_ctx = plan_num_ctx(longest + 600, 300)
        self.options = SamplingOptions(temperature=0.0, num_predict=300)
        self.pairs = pairs

    def execute(self, concurrency: int, cancel: threading.Event) -> JudgeSummary:
        store, pairs = self.store, self.pairs
        first = self._templates(pairs[0])[0]
        run_options = {**self.options.to_ollama(), "num_ctx": self.num_ctx}
        run_id = store.start_judge_run(self.project_id, self.model, run_options, first.meta.name,
                                       first.meta.version, len(pairs))
        self.summary = summary = JudgeSummary(total=len(pairs), run_id=run_id)
        started = time.monotonic()
        self.pool = pool = WorkerPool(pairs, self._work, concurrency=concurrency, cancel=cancel,
                                      name=f"judge-run-{run_id}")

        def finish(interrupted: BaseException | None) -> JudgeSummary:
            # The pool has stopped: no worker saves anything, the counts below are final.
            summary.elapsed_s = time.monotonic() - started
            left = summary.judged + len(summary.failures) < summary.total
            summary.cancelled = left and summary.error is None
            stopped_by_hand = cancel.is_set() or isinstance(interrupted, KeyboardInterrupt)
            if pool.crash is not None or summary.error or (interrupted is not None and not stopped_by_hand):
                summary.status = "failed"
            elif left and stopped_by_hand:
                summary.status = "cancelled"
            store.finish_run(run_id, summary.status)
            return summary

        return run_pool(pool, finish)

    def _templates(self, pair) -> tuple[PromptTemplate, PromptTemplate]:
        """The pair's judge and re-ask templates (its language and its shape)."""
        return self.templates[(self.languages[pair.id], self.shapes[pair.id])]

    def _ask(self, pair) -> Verdict:
        """The pair's verdict, re-asking up to ``max_reasks`` times; each reply's usage is added to
        the run as it arrives.

        :raises Abandoned: the pool stopped. :raises DatasetGenError: no usable verdict, or the call failed.
        """
        pool, summary = self.pool, self.summary
        judge, repair = self._templates(pair)
        messages = render(self.shapes[pair.id], judge, self.values[pair.id])
        problem, raw = "", ""
        for _ in range(max(0, self.max_reasks) + 1):
            if pool.should_stop():
                raise Abandoned()
            reply = self.backend.chat(self.model, messages, schema=JUDGE_SCHEMA, options=self.options,
                                      context_tokens=self.num_ctx)
            with pool.lock:
                if pool.stopped:
                    raise Abandoned()
                self.store.add_run_usage(summary.run_id, reply.prompt_tokens, reply.completion_tokens,
                                         reply.duration_s)
                summary.prompt_tokens += reply.prompt_tokens
                summary.completion_tokens += reply.completion_tokens
            try:
                return parse_verdict(reply.content)
            except ValueError as exc:
                problem, raw = str(exc), reply.content
                messages = [*messages, {"role": "assistant", "content": reply.content},
                            {"role": "user", "content": repair.part("user", problem=problem)}]
        raise InvalidModelOutputError(f"The judge's reply was not usable: {problem}", raw=raw)

    def _work(self, pair) -> None:
        pool, summary, store = self.pool, self.summary, self.store
        try:
            verdict = self._ask(pair)
            with pool.lock:
                if pool.stopped:
                    raise Abandoned()
                store.save_judgement(summary.run_id, pair.id, verdict.faithfulness, verdict.relevance,
                                     verdict.clarity, verdict.reason.strip())
                summary.judged += 1
                summary.sourceless += self.shapes[pair.id].sourceless
                self._report()
        except DatasetGenError as exc:
            with pool.lock:
                if pool.stopped:
                    raise Abandoned() from None
                store.add_judge_failure(summary.run_id)
                summary.failures.append((pair.id, str(exc)))
                if isinstance(exc, (BackendUnreachableError, ModelNotFoundError)) and summary.error is None:
                    summary.error = str(exc)
                    pool.halt.set()
                self._report()

    def _report(self) -> None:
        """Tell ``on_progress`` (call with the pool's lock held, in the block that changed the counts)."""
        if self.on_progress is not None:
            self.on_progress(self.summary.judged + len(self.summary.failures), self.summary.total)


def pair_languages(store, project_id: int, pairs, texts: _Texts | None = None) -> dict[int, str]:
    """Pair id → the language the pair is judged in, chosen as generation chooses a chunk's
    (:func:`dataset_gen.generation_plan.plan_run`): the project's ``language`` setting when it is not
    ``auto``; else its document's language (:func:`dataset_gen.language.detect_language` of the whole
    text), or its chunk's own when clearly another (:func:`dataset_gen.chunk_language.chunk_language`).

    ``pairs`` are :class:`~dataset_gen.models.StoredPair`; ``texts`` reuses chunks and documents
    already read. An item with no source chunk is in the language of its own question and answer.

    :raises StoreError: a pair's chunk or document is missing.
    """
    configured = ProjectConfig.load(store.get_settings(project_id)).language
    if configured != "auto":
        return {p.id: configured for p in pairs}
    texts = texts or _Texts(store)
    return {p.id: chunk_language(p.chunk_text, texts.document_language(p)) if p.chunk_id is not None
            else detect_language(f"{p.question}\n{p.answer}") for p in pairs}


def record_judge(store, project_id: int, model: str, threshold: int | None = None) -> None:
    """Record in the project's settings that ``model`` judges its pairs (``judge_model``) and, when
    given, the ``threshold`` (1–5) below which exports hold a pair back (``judge_threshold``).
    Other settings are kept as stored.

    :raises ValueError: ``threshold`` outside 1–5. :raises StoreError: the project is missing.
    """
    _check_threshold(threshold)
    settings = store.get_settings(project_id)
    wanted = {"judge_model": model, **({"judge_threshold": threshold} if threshold is not None else {})}
    if any(settings.get(k) != v for k, v in wanted.items()):
        store.set_settings(project_id, {**settings, **wanted})


def _check_threshold(threshold: int | None) -> None:
    """:raises ValueError: ``threshold`` is given and not a whole number from 1 to 5."""
    if threshold is not None and (isinstance(threshold, bool) or not 1 <= threshold <= 5):
        raise ValueError(f"A judge threshold must be a whole number from 1 to 5, got {threshold!r}")


class _Texts:
    """The stored chunks and documents the judge reads, each read once."""

    def __init__(self, store):
        self.store = store
        self.chunks: dict[int, ChunkRow | None] = {}
        self.documents: dict[int, str] = {}
        self.languages: dict[int, str] = {}

    def chunk(self, chunk_id: int) -> ChunkRow | None:
        """The chunk, or ``None`` when it was deleted since the pair was made."""
        if chunk_id not in self.chunks:
            try:
                self.chunks[chunk_id] = self.store.get_chunk(chunk_id)
            except DatasetGenError:
                self.chunks[chunk_id] = None
        return self.chunks[chunk_id]

    def document(self, document_id: int) -> str:
        if document_id not in self.documents:
            self.documents[document_id] = self.store.get_document(document_id).text
        return self.documents[document_id]

    def source(self, pair) -> str:
        """The source text the judge sees: the pair's chunk, then its further chunks, each after the
        header of a table it continues, joined by a blank line. A chunk deleted or edited since the
        pair was made is shown as the pair holds it."""
        shown = []
        for chunk_id, stored in zip((pair.chunk_id, *pair.context_chunk_ids), pair.reference_contexts, strict=False):
            chunk = self.chunk(chunk_id)
            if chunk is None or chunk.edited:
                shown.append(stored)
            else:
                shown.append(with_table_header(self.document(chunk.document_id), chunk.start, stored))
        return "\n\n".join(shown)

    def document_language(self, pair) -> str:
        """The language of the pair's document (of its chunk's text when the chunk is gone)."""
        chunk = self.chunk(pair.chunk_id)
        if chunk is None:
            return detect_language(pair.chunk_text)
        if chunk.document_id not in self.languages:
            self.languages[chunk.document_id] = detect_language(self.document(chunk.document_id))
        return self.languages[chunk.document_id]
