"""Generate QA pairs for a project's chunks: bounded concurrency, progress, cancel and resume.

Chunks carry a generation status in the store (``pending``/``done``/``failed``). A run takes the
chunks that are not ``done`` (so a re-run resumes and retries failures), asks the model for each
with :func:`dataset_gen.qa.generate_pairs`, and saves each chunk's pairs in one transaction the
moment they arrive; a chunk that fails is stored with its error. Nothing done is ever redone.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one run per project is then up to the user
    fcntl = None

from .config import Settings
from .errors import BackendError, BackendUnreachableError, DatasetGenError, ModelNotFoundError, StoreError
from .language import detect_language
from .models import SamplingOptions
from .prompts import load_prompt
from .qa import (
    OUTPUT_TOKENS_PER_PAIR, ChunkResult, Partner, Task, estimate_tokens, generate_pairs, pairs_wanted, plan_num_ctx,
)

log = logging.getLogger(__name__)

FATAL = (BackendUnreachableError, ModelNotFoundError)
"""Errors that stop a run at once: every other chunk would fail the same way."""


@dataclass(frozen=True)
class Progress:
    """A run's progress, passed to ``on_progress`` after every chunk.

    ``done`` counts chunks finished either way, ``failed`` those that failed, ``pairs`` the pairs
    saved so far; ``eta_s`` is the estimated seconds left (``None`` before the first chunk);
    ``tokens_per_s`` is completion tokens per second of wall time.
    """

    done: int
    total: int
    pairs: int
    failed: int
    elapsed_s: float
    eta_s: float | None
    prompt_tokens: int
    completion_tokens: int

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
    (a fatal backend error stopped it; ``error`` says which)."""

    run_id: int
    status: str
    total: int
    done: int = 0
    pairs: int = 0
    failures: list[ChunkFailure] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    error: str | None = None


def check_server(backend) -> str:
    """Ask the server for its version before any work: fails fast, in one line, when nothing
    answers or when the host is not an Ollama server. Returns the version.

    :raises BackendUnreachableError: nothing answers at the host.
    :raises BackendError: something answers, but not like Ollama.
    """
    try:
        return backend.version()
    except BackendUnreachableError:
        raise
    except DatasetGenError as exc:
        raise BackendError(f"{backend.host} does not answer like an Ollama server ({exc}); "
                           "is the host right? Ollama listens on port 11434 by default") from None


def lock_project(store, project_id: int):
    """Take the project's generation lock: an exclusive ``flock`` on a file beside the database,
    released when the run ends or its process dies. Returns the open lock file (close it to release).

    :raises StoreError: another process is generating for this project.
    """
    path = store.path.parent / f"generate-project-{project_id}.lock"
    handle = open(path, "a+")
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError("Another run is generating for this project right now: wait for it to finish "
                             "or stop it, then run again (it resumes where the other stopped)") from None
    return handle


@dataclass
class _Plan:
    languages: dict  # document id -> language
    templates: dict  # language -> (qa_generate, qa_repair)
    wanted: dict  # chunk id -> pairs to ask for
    num_ctx: int
    partners: dict  # chunk id -> Partner (the next chunk of its document), for comparisons

    def tasks(self, settings: Settings, chunk) -> list[Task]:
        """The tasks for one chunk: each question type in turn (comparison only with a partner),
        with the chunk's audience (``settings.audiences`` used in turn by ordinal)."""
        audience = settings.audiences[chunk.ordinal % len(settings.audiences)] if settings.audiences else ""
        return [Task(kind, settings.reasoning, audience) for kind in settings.question_types
                if kind != "comparison" or chunk.id in self.partners]


def _plan(store, project_id, backend, model, settings: Settings, options: SamplingOptions, chunks) -> _Plan:
    """Languages, templates, pairs per chunk and the one ``num_ctx`` for a set of chunks."""
    overrides = store.prompt_overrides(project_id)
    languages = {}
    for doc_id in {c.document_id for c in chunks}:
        languages[doc_id] = (
            settings.language if settings.language != "auto" else detect_language(store.get_document(doc_id).text)
        )
    templates = {
        lang: (load_prompt("qa_generate", lang, overrides), load_prompt("qa_repair", lang, overrides))
        for lang in set(languages.values()) or {"en"}
    }
    wanted = {c.id: pairs_wanted(len(c.text), settings.pairs_per_chunk, settings.chars_per_pair) for c in chunks}
    partners: dict[int, Partner] = {}
    if "comparison" in settings.question_types and chunks:
        by_document: dict[int, list] = {}
        for c in store.list_chunks(project_id):
            by_document.setdefault(c.document_id, []).append(c)
        for siblings in by_document.values():
            for i, c in enumerate(siblings):
                if len(siblings) > 1:
                    other = siblings[i + 1] if i + 1 < len(siblings) else siblings[i - 1]
                    partners[c.id] = Partner(other.id, other.text, other.heading_path)
    num_ctx = 2048
    if chunks:
        longest = max(chunks, key=lambda c: estimate_tokens(c.text))
        sections = next(iter(templates.values()))[0].sections
        used = ["system", "user_comparison" if partners else "user", "reasoning_rule", "audience_rule",
                *(f"task_{kind}" for kind in settings.question_types)]
        template_text = "".join(sections.get(name, "") for name in used)
        partner_tokens = max((estimate_tokens(p.text) for p in partners.values()), default=0)
        prompt_tokens = estimate_tokens(longest.text) + partner_tokens + estimate_tokens(template_text) + 200
        out_tokens = options.num_predict if options.num_predict and options.num_predict > 0 else (
            max(wanted.values()) * OUTPUT_TOKENS_PER_PAIR * (2 if settings.reasoning else 1) + 256
        )
        try:
            limit = backend.context_length(model)
        except FATAL:
            raise
        except DatasetGenError:
            limit = None
        num_ctx = plan_num_ctx(prompt_tokens, out_tokens, limit)
    return _Plan(languages, templates, wanted, num_ctx, partners)


def trial_chunk(store, project_id: int, chunk_id: int, backend, model: str, settings: Settings,
                options: SamplingOptions = SamplingOptions()) -> ChunkResult:
    """Generate pairs for one chunk without saving them, to see whether a model can do the job.

    The result holds the exact prompt sent (``result.prompt.messages``), the model's raw reply and
    reasoning, and the checked pairs. The first of the chunk's tasks is tried (the first question
    type of ``settings``).

    :raises BackendError: Ollama not running, model not pulled, or invalid output after re-asks.
    """
    chunk = store.get_chunk(chunk_id)
    plan = _plan(store, project_id, backend, model, settings, options, [chunk])
    generate, repair = plan.templates[plan.languages[chunk.document_id]]
    tasks = plan.tasks(settings, chunk) or [Task("factual", settings.reasoning)]
    return generate_pairs(
        lambda **kw: backend.chat(model, **kw), generate, repair, chunk_text=chunk.text, document=chunk.document,
        heading_path=chunk.heading_path, n=plan.wanted[chunk.id], language=plan.languages[chunk.document_id],
        options=options, num_ctx=plan.num_ctx, max_reasks=settings.max_reasks, task=tasks[0],
        partner=plan.partners.get(chunk.id),
    )


def run_generation(
    store,
    project_id: int,
    backend,
    model: str,
    settings: Settings,
    *,
    options: SamplingOptions = SamplingOptions(),
    document_ids: list[int] | None = None,
    chunk_ids: list[int] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Generate pairs for every chunk of the project that is not done yet.

    Scope: all documents, or ``document_ids``, or exactly ``chunk_ids`` (still skipping done ones).
    ``settings`` gives concurrency, pairs per chunk, language (``auto`` follows each document) and
    re-asks. ``on_progress`` is called from worker threads, one call at a time. Setting ``cancel``
    stops new chunks from starting; chunks in flight finish and are saved. A fatal error (Ollama not
    running, model not pulled) cancels the rest and is returned in ``RunSummary.error``; the
    unstarted chunks stay pending for the next run.

    :raises PromptError: a prompt template is missing or broken (before any call is made).
    :raises BackendUnreachableError: nothing answers at the host (checked before the run starts).
    :raises BackendError: the host is not an Ollama server (checked before the run starts).
    :raises StoreError: another process is generating for this project.
    :raises ModelNotFoundError: the model is not pulled (checked before the run starts).
    """
    check_server(backend)
    lock = lock_project(store, project_id)
    try:
        return _run_locked(store, project_id, backend, model, settings, options, document_ids, chunk_ids,
                           on_progress, cancel)
    finally:
        lock.close()


def _run_locked(store, project_id, backend, model, settings, options, document_ids, chunk_ids, on_progress,
                cancel) -> RunSummary:
    cancel = cancel or threading.Event()
    chunks = store.list_chunks(project_id, statuses=("pending", "failed"))
    if document_ids is not None:
        chunks = [c for c in chunks if c.document_id in set(document_ids)]
    if chunk_ids is not None:
        chunks = [c for c in chunks if c.id in set(chunk_ids)]

    plan = _plan(store, project_id, backend, model, settings, options, chunks)
    languages, templates, wanted, num_ctx = plan.languages, plan.templates, plan.wanted, plan.num_ctx
    first_template = next(iter(templates.values()))[0]

    run_options = {**options.to_ollama(), "num_ctx": num_ctx}
    run_id = store.start_run(
        project_id, model, run_options, first_template.meta.name, first_template.meta.version, len(chunks)
    )
    summary = RunSummary(run_id=run_id, status="finished", total=len(chunks))
    lock = threading.Lock()
    started = time.monotonic()

    def chat(**kwargs):
        return backend.chat(model, **kwargs)

    def report() -> None:
        elapsed = time.monotonic() - started
        eta = elapsed / summary.done * (summary.total - summary.done) if summary.done else None
        if on_progress:
            on_progress(Progress(summary.done, summary.total, summary.pairs, len(summary.failures), elapsed,
                                 eta, summary.prompt_tokens, summary.completion_tokens))

    def work(chunk) -> None:
        if cancel.is_set():
            return
        generate, repair = templates[languages[chunk.document_id]]
        pairs, errors, usage = [], [], [0, 0, 0.0]
        for task in plan.tasks(settings, chunk):
            try:
                result = generate_pairs(
                    chat, generate, repair, chunk_text=chunk.text, document=chunk.document,
                    heading_path=chunk.heading_path, n=wanted[chunk.id], language=languages[chunk.document_id],
                    options=options, num_ctx=num_ctx, max_reasks=settings.max_reasks, task=task,
                    partner=plan.partners.get(chunk.id),
                )
            except DatasetGenError as exc:
                errors.append(exc)
                if isinstance(exc, FATAL):
                    break
                continue
            pairs.extend(result.pairs)
            usage[0] += result.prompt_tokens
            usage[1] += result.completion_tokens
            usage[2] += result.duration_s
        if pairs or not errors:
            store.save_chunk_pairs(chunk.id, run_id, pairs)
            store.add_run_usage(run_id, *usage)
        if errors:  # pairs of the tasks that worked are kept; a retry regenerates the chunk
            message = "; ".join(str(e) for e in errors)
            store.set_chunk_failed(chunk.id, message)
        with lock:
            summary.done += 1
            summary.pairs += len(pairs)
            summary.prompt_tokens += usage[0]
            summary.completion_tokens += usage[1]
            if errors:
                summary.failures.append(ChunkFailure(chunk.id, chunk.document, chunk.ordinal, message))
                fatal = next((e for e in errors if isinstance(e, FATAL)), None)
                if fatal and summary.error is None:
                    summary.error = str(fatal)
                    cancel.set()
            report()

    report()
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
            futures = [pool.submit(work, c) for c in chunks]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                cancel.set()  # before the pool's exit waits: queued chunks then return at once
                raise
    except BaseException:
        summary.status = "failed"
        raise
    finally:
        summary.elapsed_s = time.monotonic() - started
        if summary.error:
            summary.status = "failed"
        elif cancel.is_set() and summary.done < summary.total and summary.status != "failed":
            summary.status = "cancelled"
        store.finish_run(run_id, summary.status)
    return summary
