"""Evaluate models on a project's reviewed items: every candidate answers every question, a judge
scores each answer against the reference answer and the source chunk, ``choice`` items are scored
exactly by code.

Scope (:func:`scope`): the project's accepted items of kind ``qa`` or ``choice`` (conversations are
not evaluated), only those of one held-out split when ``split`` is given (``qa_pairs.split``).

A candidate sees the question alone (``context="none"``, closed-book) or the item's gold chunks too
(``"reference"``, the retrieval upper bound), through ``dataset_gen/prompts/eval_answer.<lang>.txt``
(its ``choices`` section lists a choice item's options as ``A. …``). The judge
(``eval_judge.<lang>.txt``, re-asked with ``eval_judge_repair.<lang>.txt`` when its reply is no
usable score) sees the source, the question, the reference answer and the candidate's answer and
replies ``{"score": 1-5, "reason": "…"}``. The language is the project's ``language`` setting, or
with ``auto`` the language detected in the item's chunk (its question when it has none).

Every answer is saved the moment it arrives and every score the moment it is given
(:mod:`dataset_gen.store_eval`), so a stopped evaluation (cancel, Ctrl-C, a killed process) keeps
them: running it again (:func:`run_evaluation` on the same evaluation) asks only for the answers
and scores still missing. Each call is an ``evaluate`` run in the ``runs`` table (options, token
counts and durations of every reply), holding the project's lock like judging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from .backends import Backend
from .backends.json_reply import first_object
from .choice import LETTERS, score_choice
from .config import ProjectConfig
from .errors import BackendUnreachableError, DatasetGenError, InvalidModelOutputError, ModelNotFoundError
from .language import detect_language
from .locks import ProjectLock, project_locked
from .models import ItemKind, SamplingOptions, StoredPair
from .prompts import PromptTemplate, fence_tag, load_prompt
from .qa import estimate_tokens, plan_num_ctx
from .store_eval import CONTEXTS, EvaluationRow
from .workers import Abandoned, WorkerPool, run_pool

ANSWER_PROMPT = "eval_answer"
JUDGE_PROMPT = "eval_judge"
REPAIR_PROMPT = "eval_judge_repair"
KINDS = (ItemKind.QA.value, ItemKind.CHOICE.value)
"""The item kinds an evaluation asks."""
EXACT_RIGHT, EXACT_WRONG = 5, 1
"""The score of an exactly scored ``choice`` answer: right, or wrong (or naming no option)."""

EVAL_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}
"""JSON schema of the judge's score, sent as the server's structured output."""


class EvalVerdict(BaseModel):
    """The judge's score of one answer."""

    score: int = Field(ge=1, le=5)
    reason: str = ""


NO_SCORE = "the judge's reply has no score from 1 to 5"


def parse_eval_verdict(content: str) -> EvalVerdict:
    """Read ``{"score": 1-5, "reason": "…"}`` from a reply (the first JSON object in it).

    :raises ValueError: no JSON object ("the reply held no JSON"), or an object without a whole
        score from 1 to 5 (:data:`NO_SCORE`).
    """
    try:
        return first_object(content, EvalVerdict, "score")
    except ValueError as exc:
        if str(exc).startswith("the score is not valid"):
            raise ValueError(NO_SCORE) from None
        raise


def exact_score(item: StoredPair, reply: str) -> tuple[int, str]:
    """Score a ``choice`` item's ``reply`` by code: ``(5, reason)`` when it names the correct option
    (``item.answer``, one of ``item.choices``), else ``(1, reason)``.

    The reply is read by :func:`dataset_gen.choice.score_choice`; ``None`` (no option named, or
    a hedge between several) scores 1.
    """
    right = score_choice(reply, tuple(item.choices), item.answer)
    if right is None:
        return EXACT_WRONG, "the reply names no option"
    return (EXACT_RIGHT, "the correct option") if right else (EXACT_WRONG, "another option")


def scope(store, project_id: int, split: str | None = None) -> list[StoredPair]:
    """The items an evaluation asks: accepted, of kind ``qa`` or ``choice``, of ``split`` when given."""
    filters = {"split": split} if split is not None else {}
    return [p for p in store.list_pairs(project_id, statuses=("accepted",), **filters) if p.kind in KINDS]


def left_out(store, project_id: int, split: str | None = None) -> int:
    """How many accepted items of the project (of ``split`` when given) an evaluation does not ask:
    conversations (only QA pairs and choice questions are evaluated)."""
    filters = {"split": split} if split is not None else {}
    return store.count_pairs(project_id, statuses=("accepted",), kind=ItemKind.CONVERSATION.value, **filters)


def needs_judge(items: list[StoredPair]) -> bool:
    """Whether any item needs a judge (every item not of kind ``choice``)."""
    return any(p.kind != ItemKind.CHOICE.value for p in items)


def source_text(item: StoredPair) -> str:
    """The gold source of an item: its chunk and further chunks, joined by a blank line (``""``
    for an item made from no document)."""
    return "\n\n".join(t for t in item.reference_contexts if t)


def find_evaluation(store, project_id: int, models: list[str], judge: str, context: str,
                    split: str | None) -> EvaluationRow | None:
    """The project's newest evaluation with exactly these models (same order), judge, context and
    split: the one the same command resumes. ``None`` when there is none."""
    for row in store.list_evaluations(project_id):
        if (list(row.models), row.judge, row.context, row.split) == (list(models), judge, context, split):
            return row
    return None


@dataclass
class EvalSummary:
    """Outcome of :func:`run_evaluation`. ``total`` answers to get or score in this call (those
    already answered and scored are not counted), ``kept`` answers found stored from before,
    ``answered`` and ``scored`` in this call; ``failures`` are ``(pair id, model, error)``; ``error``
    a fatal one (the server down, a model missing); ``status`` as stored (``finished``,
    ``cancelled``, ``failed``); ``elapsed_s`` wall time in seconds; tokens summed over every reply."""

    evaluation_id: int
    total: int
    kept: int = 0
    run_id: int | None = None
    answered: int = 0
    scored: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    status: str = "finished"
    elapsed_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def run_evaluation(store, project_id: int, backend: Backend, evaluation_id: int, *,
                   judge_backend: Backend | None = None, concurrency: int = 2,
                   on_progress: Callable[[int, int], None] | None = None,
                   cancel: threading.Event | None = None, max_reasks: int = 1,
                   lock: ProjectLock | None = None) -> EvalSummary:
    """Get and score every answer evaluation ``evaluation_id`` still lacks, saving each as it arrives.

    Candidates answer on ``backend``, the judge on ``judge_backend`` (default ``backend``); temperature
    is 0 for both so answers and scores are repeatable. ``on_progress(done, total)`` is called
    after each (item, model), one call at a time. ``cancel`` (or Ctrl-C in the calling thread)
    stops at once: requests in flight are abandoned and nothing they bring back is saved. A judge
    reply still unusable after ``max_reasks`` re-asks leaves the answer unscored (a failure; a
    re-run scores it). The server down or a model missing stops the run (``error``).

    :raises ValueError: the evaluation has no judge but an item in scope needs one.
    :raises PromptError: a template is missing or broken (before any call).
    :raises ProjectBusyError: another run holds the project's lock.
    :raises StoreError: the store failed (the run is then recorded ``failed``).
    """
    store.require_writable()
    evaluation = store.get_evaluation(evaluation_id)
    items = scope(store, project_id, evaluation.split)
    if needs_judge(items) and not evaluation.judge:
        raise ValueError("Only choice items are scored without a judge: pass --judge MODEL")
    with project_locked(store, project_id, lock):
        stored = {(a.pair_id, a.model): a for a in store.eval_answers(evaluation_id)}
        tasks = [(item, model) for item in items for model in evaluation.models
                 if (item.id, model) not in stored or stored[(item.id, model)].score is None]
        kept = sum(1 for item in items for m in evaluation.models if (item.id, m) in stored)
        if not tasks:
            store.set_evaluation_state(evaluation_id, "finished")
            return EvalSummary(evaluation_id, 0, kept=kept)
        job = _Evaluating(store, project_id, backend, judge_backend or backend, evaluation, tasks, stored,
                          max_reasks, on_progress)
        summary = job.execute(concurrency, cancel or threading.Event())
        summary.kept = kept
        return summary


class _Evaluating:
    """One evaluate run over a :class:`~dataset_gen.workers.WorkerPool`: every save goes through the
    pool's lock and is refused once the pool has stopped."""

    def __init__(self, store, project_id, backend, judge_backend, evaluation, tasks, stored, max_reasks,
                 on_progress):
        self.store, self.project_id, self.backend, self.judge_backend = store, project_id, backend, judge_backend
        self.evaluation, self.tasks, self.max_reasks, self.on_progress = evaluation, tasks, max_reasks, on_progress
        self.answers = {key: a.answer for key, a in stored.items()}
        configured = ProjectConfig.load(store.get_settings(project_id)).language
        items = list({item.id: item for item, _ in tasks}.values())
        self.languages = {p.id: configured if configured != "auto" else detect_language(p.chunk_text or p.question)
                          for p in items}
        overrides = store.prompt_overrides(project_id)
        self.templates: dict[str, tuple[PromptTemplate, PromptTemplate, PromptTemplate]] = {}
        for lang in dict.fromkeys(self.languages.values()):
            self.templates[lang] = (load_prompt(ANSWER_PROMPT, lang, overrides),
                                    load_prompt(JUDGE_PROMPT, lang, overrides),
                                    load_prompt(REPAIR_PROMPT, lang, overrides))
        longest = max(estimate_tokens(source_text(p) + p.question + p.answer) for p in items)
        self.num_ctx = plan_num_ctx(longest + 1200, 600)
        self.answer_options = SamplingOptions(temperature=0.0, num_predict=600)
        self.judge_options = SamplingOptions(temperature=0.0, num_predict=300)

    def execute(self, concurrency: int, cancel: threading.Event) -> EvalSummary:
        store, evaluation = self.store, self.evaluation
        first = self.templates[next(iter(self.templates))][0]
        label = ", ".join(evaluation.models) + (f"; judge {evaluation.judge}" if evaluation.judge else "")
        options = {**self.answer_options.to_ollama(), "num_ctx": self.num_ctx, "context": evaluation.context}
        run_id = store.start_eval_run(self.project_id, label, options, first.meta.name, first.meta.version,
                                      len(self.tasks))
        store.set_evaluation_state(evaluation.id, "running", run_id)
        self.summary = summary = EvalSummary(evaluation.id, len(self.tasks), run_id=run_id)
        started = time.monotonic()
        self.pool = pool = WorkerPool(self.tasks, self._work, concurrency=concurrency, cancel=cancel,
                                      name=f"evaluate-run-{run_id}")

        def finish(interrupted: BaseException | None) -> EvalSummary:
            summary.elapsed_s = time.monotonic() - started
            left = summary.scored + len(summary.failures) < summary.total
            stopped_by_hand = cancel.is_set() or isinstance(interrupted, KeyboardInterrupt)
            summary.cancelled = left and summary.error is None
            if pool.crash is not None or summary.error or (interrupted is not None and not stopped_by_hand):
                summary.status = "failed"
            elif left and stopped_by_hand:
                summary.status = "cancelled"
            store.finish_run(run_id, summary.status)
            done = summary.status == "finished" and not summary.failures
            store.set_evaluation_state(evaluation.id, "finished" if done else
                                       "failed" if summary.status == "finished" else summary.status)
            return summary

        return run_pool(pool, finish)

    def _call(self, backend: Backend, model: str, messages: list[dict], schema: dict | None,
              options: SamplingOptions):
        """One call; its usage is added to the run as it arrives. :raises Abandoned: the pool stopped."""
        pool, summary = self.pool, self.summary
        if pool.should_stop():
            raise Abandoned()
        reply = backend.chat(model, messages, schema=schema, options=options, context_tokens=self.num_ctx)
        with pool.lock:
            if pool.stopped:
                raise Abandoned()
            self.store.add_run_usage(summary.run_id, reply.prompt_tokens, reply.completion_tokens, reply.duration_s)
            summary.prompt_tokens += reply.prompt_tokens
            summary.completion_tokens += reply.completion_tokens
        return reply

    def _answer_messages(self, item: StoredPair) -> list[dict]:
        template = self.templates[self.languages[item.id]][0]
        question = item.question
        if item.kind == ItemKind.CHOICE.value:
            options = "\n".join(f"{letter}. {c}" for letter, c in zip(LETTERS, item.choices, strict=False))
            question = template.part("choices", question=item.question, options=options)
        if self.evaluation.context == "reference":
            source = source_text(item)
            return template.render("user_reference", question=question, source=source,
                                   fence=fence_tag("source", source, question)).messages
        return template.render(question=question).messages

    def _judge(self, item: StoredPair, answer: str) -> EvalVerdict:
        _, judge, repair = self.templates[self.languages[item.id]]
        values = {"source": source_text(item), "question": item.question, "reference": item.answer, "answer": answer}
        if "fence" in judge.variables:
            values["fence"] = fence_tag("source", *values.values())
        messages = list(judge.render(**values).messages)
        problem, raw = "", ""
        for _ in range(max(0, self.max_reasks) + 1):
            reply = self._call(self.judge_backend, self.evaluation.judge, messages, EVAL_SCHEMA, self.judge_options)
            try:
                return parse_eval_verdict(reply.content)
            except ValueError as exc:
                problem, raw = str(exc), reply.content
                messages = [*messages, {"role": "assistant", "content": reply.content},
                            {"role": "user", "content": repair.part("user", problem=problem)}]
        message = problem[0].upper() + problem[1:] if problem == NO_SCORE else f"The judge's reply was not usable: {problem}"
        raise InvalidModelOutputError(message, raw=raw)

    def _work(self, task: tuple[StoredPair, str]) -> None:
        item, model = task
        pool, summary, store, evaluation = self.pool, self.summary, self.store, self.evaluation
        try:
            answer = self.answers.get((item.id, model))
            if answer is None:
                reply = self._call(self.backend, model, self._answer_messages(item), None, self.answer_options)
                answer = reply.content.strip()
                with pool.lock:
                    if pool.stopped:
                        raise Abandoned()
                    store.save_eval_answer(evaluation.id, item.id, model, answer, prompt_tokens=reply.prompt_tokens,
                                           completion_tokens=reply.completion_tokens, duration_s=reply.duration_s)
                    summary.answered += 1
            if item.kind == ItemKind.CHOICE.value:
                score, reason = exact_score(item, answer)
            else:
                verdict = self._judge(item, answer)
                score, reason = verdict.score, verdict.reason.strip()
            with pool.lock:
                if pool.stopped:
                    raise Abandoned()
                store.save_eval_score(evaluation.id, item.id, model, score, reason)
                summary.scored += 1
                self._report()
        except DatasetGenError as exc:
            with pool.lock:
                if pool.stopped:
                    raise Abandoned() from None
                summary.failures.append((item.id, model, str(exc)))
                if isinstance(exc, (BackendUnreachableError, ModelNotFoundError)) and summary.error is None:
                    summary.error = str(exc)
                    pool.halt.set()
                self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.summary.scored + len(self.summary.failures), self.summary.total)


def start_or_resume(store, project_id: int, models: list[str], judge: str = "", context: str = "none",
                    split: str | None = None, *, new: bool = False) -> tuple[EvaluationRow, bool]:
    """``(evaluation, resumed)``: the newest evaluation with these settings (:func:`find_evaluation`),
    or a new one when there is none or ``new`` is set.

    :raises ValueError: ``context`` not in :data:`~dataset_gen.store_eval.CONTEXTS`, no model, a
        model named twice.
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    found = None if new else find_evaluation(store, project_id, models, judge, context, split)
    if found is not None:
        return found, True
    return store.get_evaluation(store.create_evaluation(project_id, models, judge, context, split)), False
