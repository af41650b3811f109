"""An LLM judge that sees the source: scores each pair's faithfulness, relevance and clarity (1–5).

Unlike judges that see only the pair, the prompt (``dataset_gen/prompts/qa_judge.<language>.txt``, the
language detected from the pair's chunk; ``qa_judge.any.txt`` naming it for a language without its own) holds the
pair's source text (its chunk, and the second chunk of a comparison), so faithfulness means "backed
by the document". Each source chunk is shown as generation showed it: after the header row of a
pipe table it continues (:func:`dataset_gen.table_context.with_table_header`; an edited chunk as
it is). Scores are saved the moment each arrives; a re-run judges only unjudged pairs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError

from .backends import Backend
from .errors import BackendUnreachableError, DatasetGenError, InvalidModelOutputError, ModelNotFoundError
from .language import detect_language
from .models import SamplingOptions
from .prompts import fence_tag, load_prompt
from .qa import estimate_tokens, plan_num_ctx
from .table_context import with_table_header
from .workers import Abandoned, WorkerPool, run_pool

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
    start = content.find("{")
    if start < 0:
        raise ValueError("the reply held no JSON")
    try:
        data, _ = json.JSONDecoder().raw_decode(content[start:])
        return Verdict.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"the verdict is not valid: {str(exc).splitlines()[0]}") from None


@dataclass
class JudgeSummary:
    """Outcome of :func:`judge_pairs`: pairs judged, failures ``(pair id, error)``, fatal ``error``;
    ``cancelled`` when it was stopped (cancel or Ctrl-C) before every pair was judged."""

    total: int
    judged: int = 0
    cancelled: bool = False
    failures: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0


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
) -> JudgeSummary:
    """Score the project's pairs with ``model`` and store each verdict as it arrives.

    Judges pairs without scores (all of them with ``rejudge``), or only ``pair_ids``. Rejected
    pairs are skipped. ``on_progress(done, total)`` is called after each pair. Temperature is 0 so
    a verdict is repeatable. A pair whose verdict stays invalid after ``max_reasks`` re-asks is
    listed in ``failures``; Ollama not running or the model not pulled stops the run (``error``).
    Setting ``cancel`` (or Ctrl-C in the calling thread) stops at once: requests in flight are
    abandoned and nothing they bring back is saved (:class:`~dataset_gen.workers.WorkerPool`), so
    ``judged`` is exactly what the store holds. A Ctrl-C is re-raised after the summary is final.

    Before any call the project records the judge (:func:`record_judge`): ``model`` as its
    ``judge_model`` and ``threshold`` (1–5; ``None`` keeps the recorded one, default 3) as its
    ``judge_threshold``, which every export (CLI or app) then applies.

    :raises ValueError: ``threshold`` outside 1–5.
    """
    store.require_writable()  # before any call: verdicts that cannot be saved are not worth asking for
    record_judge(store, project_id, model, threshold)
    cancel = cancel or threading.Event()
    pairs = store.list_pairs(project_id, statuses=("generated", "accepted"))
    if pair_ids is not None:
        wanted = set(pair_ids)
        pairs = [p for p in pairs if p.id in wanted]
    if not rejudge:
        pairs = [p for p in pairs if p.faithfulness is None]
    summary = JudgeSummary(total=len(pairs))
    if not pairs:
        return summary
    overrides = store.prompt_overrides(project_id)
    templates = {}
    sources = _sources(store, pairs)
    longest = max(estimate_tokens(sources[p.id] + p.question + p.answer) for p in pairs)
    num_ctx = plan_num_ctx(longest + 600, 300)
    options = SamplingOptions(temperature=0.0, num_predict=300)
    started = time.monotonic()

    def work(pair) -> None:
        language = detect_language(pair.chunk_text)
        if language not in templates:
            templates[language] = load_prompt("qa_judge", language, overrides)
        values = {"source": sources[pair.id], "question": pair.question, "answer": pair.answer}
        if "fence" in templates[language].variables:  # an override without {{fence}} renders as written
            values["fence"] = fence_tag("source", *values.values())
        prompt = templates[language].render(**values)
        messages = list(prompt.messages)
        problem = ""
        try:
            for _ in range(max_reasks + 1):
                if pool.should_stop():
                    raise Abandoned()
                reply = backend.chat(model, messages, schema=JUDGE_SCHEMA, options=options, context_tokens=num_ctx)
                try:
                    verdict = parse_verdict(reply.content)
                    break
                except ValueError as exc:
                    problem = str(exc)
                    messages = [*messages, {"role": "assistant", "content": reply.content},
                                {"role": "user", "content": f"Invalid: {problem}. Reply with the JSON only."}]
            else:
                raise InvalidModelOutputError(f"The judge's reply was not usable: {problem}", raw=reply.content)
            with pool.lock:
                if pool.stopped:
                    raise Abandoned()
                store.set_judgement(pair.id, verdict.faithfulness, verdict.relevance, verdict.clarity,
                                    verdict.reason.strip())
                summary.judged += 1
        except DatasetGenError as exc:
            with pool.lock:
                if pool.stopped:
                    raise Abandoned() from None
                summary.failures.append((pair.id, str(exc)))
                if isinstance(exc, (BackendUnreachableError, ModelNotFoundError)) and summary.error is None:
                    summary.error = str(exc)
                    pool.halt.set()
        if on_progress:
            with pool.lock:
                on_progress(summary.judged + len(summary.failures), summary.total)

    pool = WorkerPool(pairs, work, concurrency=concurrency, cancel=cancel, name=f"judge-project-{project_id}")

    def finish(interrupted: BaseException | None) -> JudgeSummary:
        summary.elapsed_s = time.monotonic() - started
        summary.cancelled = summary.judged + len(summary.failures) < summary.total and summary.error is None
        return summary

    return run_pool(pool, finish)


def record_judge(store, project_id: int, model: str, threshold: int | None = None) -> None:
    """Record in the project's settings that ``model`` judges its pairs (``judge_model``) and, when
    given, the ``threshold`` (1–5) below which exports hold a pair back (``judge_threshold``).
    Other settings are kept as stored.

    :raises ValueError: ``threshold`` outside 1–5. :raises StoreError: the project is missing.
    """
    if threshold is not None and (isinstance(threshold, bool) or not 1 <= threshold <= 5):
        raise ValueError(f"A judge threshold must be a whole number from 1 to 5, got {threshold!r}")
    settings = store.get_settings(project_id)
    wanted = {"judge_model": model, **({"judge_threshold": threshold} if threshold is not None else {})}
    if any(settings.get(k) != v for k, v in wanted.items()):
        store.set_settings(project_id, {**settings, **wanted})


def _sources(store, pairs) -> dict[int, str]:
    """Pair id → the source text the judge sees: the pair's chunk, then its further chunks, each
    after the header of a table it continues, joined by a blank line. A chunk deleted since the
    pair was made is shown as the pair holds it."""
    documents: dict[int, str] = {}
    shown: dict[int, str] = {}

    def as_shown(chunk_id: int, stored: str) -> str:
        if chunk_id not in shown:
            try:
                chunk = store.get_chunk(chunk_id)
            except DatasetGenError:
                return stored
            if chunk.edited:
                shown[chunk_id] = stored
            else:
                if chunk.document_id not in documents:
                    documents[chunk.document_id] = store.get_document(chunk.document_id).text
                shown[chunk_id] = with_table_header(documents[chunk.document_id], chunk.start, stored)
        return shown[chunk_id]

    return {p.id: "\n\n".join(as_shown(cid, text) for cid, text in
                               zip((p.chunk_id, *p.context_chunk_ids), p.reference_contexts, strict=False))
            for p in pairs}
