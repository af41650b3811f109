"""Generate QA pairs for a project's chunks: bounded concurrency, progress, cancel and resume.

Chunks carry a generation status in the store (``pending``/``done``/``failed``). A run of a kind
(QA pairs, conversations, objective questions) takes the chunks that are not ``done`` (so a re-run
resumes and retries failures) and the done ones with no item of its kind
(:meth:`~dataset_gen.store_generated.GeneratedPairMethods.lacking_chunk_ids`), and asks the model once per
question type of each with :func:`dataset_gen.qa.generate_pairs`. Each reply's pairs are saved the
moment the reply is parsed; a chunk is marked done after its last reply, or failed with its error.
A run that stops in between (cancelled, killed) loses nothing: the next run asks only for the
question types a chunk has no pairs of yet. Nothing done is ever redone.

A run holds the project's lock (:mod:`dataset_gen.locks`) from start to end. Cancelling abandons
the requests in flight at once: their chunks stay pending, and nothing they bring back later is
saved, so the summary's counts are exactly what the store holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .backends import Backend
from .choice import CHOICE_TYPES
from .choice_generation import generate_choices
from .config import Settings
from .errors import DatasetGenError
from .generation_conversation import conversation_chunk, neighbours_of
from .generation_plan import DEFAULT_OPTIONS, FATAL, check_server, check_servers, plan_run, trial_chunk
from .locks import ProjectLock, project_locked
from .models import ItemKind, SamplingOptions
from .qa import generate_pairs
from .workers import Abandoned, WorkerPool, run_pool

__all__ = ["ChunkFailure", "HostProgress", "Progress", "RunSummary", "check_server", "check_servers",
           "run_generation", "trial_chunk"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostProgress:
    """One model server of a run: its URL, the chunks it finished (either way) and whether it is
    still used (``False`` once it stopped answering and was taken out)."""

    host: str
    chunks: int
    up: bool = True


@dataclass(frozen=True)
class Progress:
    """A run's progress, passed to ``on_progress`` after every chunk.

    ``done`` counts chunks finished either way, ``failed`` those that failed, ``pairs`` the pairs
    saved so far; ``eta_s`` is the estimated seconds left (``None`` before the first chunk);
    ``tokens_per_s`` is completion tokens per second of wall time; ``hosts`` has one entry per
    model server of the run, in the order given.
    """

    done: int
    total: int
    pairs: int
    failed: int
    elapsed_s: float
    eta_s: float | None
    prompt_tokens: int
    completion_tokens: int
    hosts: tuple[HostProgress, ...] = ()

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk that failed in a run, with the error a person sees."""

    chunk_id: int
    document: str
    ordinal: int
    error: str


@dataclass
class RunSummary:
    """The outcome of :func:`run_generation`. ``status`` is ``finished``, ``cancelled`` or ``failed``
    (a fatal backend error stopped it; ``error`` says which).

    ``total`` chunks were in scope; ``done`` of them finished either way (``failures`` lists those
    that failed); ``pairs`` were saved in this run, into ``pair_chunks`` distinct chunks (a chunk
    left pending may hold pairs of the question types it got); ``elapsed_s`` is wall time in seconds.
    ``hosts`` counts the chunks each server finished; ``warnings`` are one-line notes on servers
    taken out of the run (not answering at the start, or stopping during it).
    """

    run_id: int
    status: str
    total: int
    done: int = 0
    pairs: int = 0
    pair_chunks: int = 0
    failures: list[ChunkFailure] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    hosts: list[HostProgress] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """Chunks of the scope left pending for the next run."""
        return self.total - self.done


def run_generation(
    store,
    project_id: int,
    backend: Backend | Sequence[Backend],
    model: str,
    settings: Settings,
    *,
    options: SamplingOptions = DEFAULT_OPTIONS,
    document_ids: list[int] | None = None,
    chunk_ids: list[int] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    lock: ProjectLock | None = None,
) -> RunSummary:
    """Generate items of ``settings.kind`` for every chunk of the project that lacks them.

    Scope: the chunks of :meth:`~dataset_gen.store_generated.GeneratedPairMethods.lacking_chunk_ids`
    (not done, or done with no item of this kind: QA pairs, conversations and objective questions
    of one chunk never stand in for each other, and a run deletes no item of another kind), of all
    documents, or ``document_ids``, or exactly ``chunk_ids`` (still skipping the others).
    Chunks with a skip reason (junk: base64 data, a table of contents, a garbage text layer, see
    :mod:`dataset_gen.junk`) are left out unless a person set ``send_anyway`` on them; they are
    not counted in ``RunSummary.total``.
    ``settings`` gives concurrency, pairs per chunk, language (``auto`` follows each document, and
    a chunk clearly in another language gets that language's template and check:
    :func:`dataset_gen.chunk_language.chunk_language`) and re-asks. The run row records the first
    template's name and version; each pair's ``language_ok`` is checked against its chunk's language. ``on_progress`` is called after every chunk, one call at a time. Setting ``cancel``
    ends the run within a fraction of a second: requests in flight are abandoned (their chunks stay
    pending, the pairs of their finished question types are kept) and the run ends ``cancelled``. A
    fatal error (Ollama not running, model not pulled) stops the run the same way, ``failed``, and
    is returned in ``RunSummary.error``. Workers are daemon threads: an abandoned request never
    keeps the process alive.

    ``backend`` may be several servers (one backend each, all with ``model``): chunks are spread
    over them by free slots, ``settings.concurrency`` requests at a time on each. A server that
    does not answer at the start, or stops answering (or lacks the model) during the run, is taken
    out with a warning (logged, and in ``RunSummary.warnings``) and its chunks go to the others; only
    when the last one goes does the run fail as it would with one server.

    The project's lock is taken for the run (closing runs whose process died as ``interrupted``),
    unless the caller passes the ``lock`` it holds.

    :raises PromptError: a prompt template is missing or broken (before any call is made).
    :raises BackendUnreachableError: nothing answers at any host (checked before the run starts).
    :raises BackendError: the host is not an Ollama server (checked before the run starts).
    :raises ProjectBusyError: another run or upload holds the project's lock.
    :raises ModelNotFoundError: the model is not pulled (checked before the run starts).
    :raises StoreError: the store failed during the run (the run is then recorded ``failed``).
    """
    backends = [backend] if isinstance(backend, Backend) else list(backend)
    backends, warnings = check_servers(backends)
    for line in warnings:
        log.warning("%s", line)
    with project_locked(store, project_id, lock):
        run = _Run(store, project_id, backends, model, settings, options, on_progress, cancel or threading.Event())
        run.warnings = warnings
        return run.execute(document_ids, chunk_ids)


class _Run:
    """One run over a :class:`~dataset_gen.workers.WorkerPool`: every save goes through the pool's
    lock and is refused once the pool has stopped, which happens exactly once, when the run ends."""

    def __init__(self, store, project_id, backends, model, settings, options, on_progress, cancel):
        self.store, self.project_id, self.backends, self.model = store, project_id, backends, model
        self.settings, self.options, self.on_progress, self.cancel = settings, options, on_progress, cancel
        self.pair_chunks: set[int] = set()
        self.host_chunks = [0] * len(backends)
        self.warnings: list[str] = []
        self.started = time.monotonic()

    def execute(self, document_ids, chunk_ids) -> RunSummary:
        store, kind = self.store, self.settings.kind
        # chunks not done, and done ones with no item of this run's kind (Store.lacking_chunk_ids)
        chunks = store.chunks_lacking(self.project_id, kind, self.settings.question_types)
        if document_ids is not None:
            chunks = [c for c in chunks if c.document_id in set(document_ids)]
        if chunk_ids is not None:
            chunks = [c for c in chunks if c.id in set(chunk_ids)]
        self.plan = plan_run(store, self.project_id, self.backends[0], self.model, self.settings, self.options, chunks)
        self.have = store.fresh_question_types([c.id for c in chunks], kind)
        conversations = self.settings.kind == ItemKind.CONVERSATION.value
        self.neighbours = neighbours_of(store, self.project_id, chunks, self.settings.turns) if conversations else {}
        # the run records the template of its kind (Store.lacking_chunk_ids reads a run's kind from it)
        first_template = next(iter((self.plan.choice_templates if kind == ItemKind.CHOICE.value
                                    and self.plan.choice_templates else self.plan.templates).values()))[0]
        run_options = {**self.options.to_ollama(), "num_ctx": self.plan.num_ctx}
        run_id = store.start_run(self.project_id, self.model, run_options, first_template.meta.name,
                                 first_template.meta.version, len(chunks))
        self.summary = RunSummary(run_id=run_id, status="finished", total=len(chunks), warnings=self.warnings)
        self.pool = pool = WorkerPool(chunks, self._work, concurrency=self.settings.concurrency,
                                      cancel=self.cancel, name=f"generate-run-{run_id}", lanes=len(self.backends))

        def finish(interrupted: BaseException | None) -> RunSummary:
            # The pool has stopped: no worker saves anything, the counts below are final.
            summary = self.summary
            summary.elapsed_s = time.monotonic() - self.started
            summary.pair_chunks = len(self.pair_chunks)
            summary.hosts = list(self._hosts())
            stopped_by_hand = self.cancel.is_set() or isinstance(interrupted, KeyboardInterrupt)
            if pool.crash is not None or summary.error or (interrupted is not None and not stopped_by_hand):
                summary.status = "failed"
            elif summary.done < summary.total and stopped_by_hand:
                summary.status = "cancelled"
            store.finish_run(run_id, summary.status)
            return summary

        return run_pool(pool, finish, before=self._report)

    def _hosts(self) -> tuple[HostProgress, ...]:
        return tuple(HostProgress(b.host, n, lane not in self.pool.retired)
                     for lane, (b, n) in enumerate(zip(self.backends, self.host_chunks, strict=True)))

    def _work(self, chunk, lane: int = 0) -> None:
        backend = self.backends[lane]

        def chat(**kwargs):
            if self.pool.should_stop():
                raise Abandoned()
            return backend.chat(self.model, **kwargs)

        self._do_chunk(chunk, lane, chat)

    def _take_out(self, chunk, lane: int, error: DatasetGenError) -> bool:
        """After a fatal error on ``lane``'s server: when other servers are still up, take this one
        out with a warning, give ``chunk`` back to the queue and return ``True``; when it was the
        last, ``False`` (the chunk fails and the run stops). Call with the pool's lock held."""
        pool = self.pool
        if lane in pool.retired:
            pool.put_back(chunk)  # its server was taken out while this chunk was in flight
            return True
        if len(pool.lanes_up()) <= 1:
            return False
        pool.retire(lane)
        others = ", ".join(self.backends[i].host for i in pool.lanes_up())
        warning = f"{self.backends[lane].host} was taken out of the run: {error}; its chunks go to {others}"
        log.warning("%s", warning)
        self.summary.warnings.append(warning)
        pool.put_back(chunk)
        self._report()
        return True

    def _do_chunk(self, chunk, lane: int, chat) -> None:
        plan, settings, store, summary = self.plan, self.settings, self.store, self.summary
        if settings.kind == ItemKind.CONVERSATION.value:
            return conversation_chunk(self, chunk, lane, chat)  # one call, one item with its turns
        language = plan.language(chunk)
        generate, repair = plan.templates[language]
        have = self.have.get(chunk.id, set())
        errors: list[DatasetGenError] = []
        for task in plan.tasks(settings, chunk):
            if task.question_type in have:
                continue  # its pairs were saved by an earlier run that stopped before the chunk's end
            choice = task.question_type in CHOICE_TYPES  # objective questions: their own templates and checks
            make, (template, fix) = (generate_choices, plan.choice_templates[language]) if choice else (
                generate_pairs, (generate, repair))
            try:
                result = make(
                    chat, template, fix, chunk_text=plan.texts[chunk.id], document=chunk.document,
                    heading_path=chunk.heading_path, n=plan.wanted[chunk.id], language=language,
                    options=self.options, context_tokens=plan.num_ctx, max_reasks=settings.max_reasks, task=task,
                    partner=plan.partners.get(chunk.id),
                )
            except DatasetGenError as exc:
                errors.append(exc)
                if isinstance(exc, FATAL):
                    break
                continue
            with self.pool.lock:
                if self.pool.stopped:
                    raise Abandoned()
                store.add_pairs(chunk.id, summary.run_id, result.pairs)
                self.have.setdefault(chunk.id, set()).add(task.question_type)  # kept if the chunk is put back
                store.add_run_usage(summary.run_id, result.prompt_tokens, result.completion_tokens,
                                    result.duration_s)
                summary.pairs += len(result.pairs)
                summary.prompt_tokens += result.prompt_tokens
                summary.completion_tokens += result.completion_tokens
                if result.pairs:
                    self.pair_chunks.add(chunk.id)
        message = "; ".join(str(e) for e in errors) if errors else None
        with self.pool.lock:
            if self.pool.stopped:
                raise Abandoned()
            fatal = next((e for e in errors if isinstance(e, FATAL)), None)
            if fatal is not None and self._take_out(chunk, lane, fatal):
                return
            if chunk.gen_status != "done":  # a chunk already done stays so: nothing of it is replaced
                store.finish_chunk(chunk.id, summary.run_id, message)
            summary.done += 1
            self.host_chunks[lane] += 1
            if message is not None:
                summary.failures.append(ChunkFailure(chunk.id, chunk.document, chunk.ordinal, message))
                if fatal and summary.error is None:
                    summary.error = str(fatal)
                    self.pool.halt.set()
            self._report()

    def _report(self) -> None:
        """Tell ``on_progress`` (call with the pool's lock held)."""
        if self.on_progress is None:
            return
        s = self.summary
        elapsed = time.monotonic() - self.started
        eta = elapsed / s.done * (s.total - s.done) if s.done else None
        self.on_progress(Progress(s.done, s.total, s.pairs, len(s.failures), elapsed, eta,
                                  s.prompt_tokens, s.completion_tokens, self._hosts()))
