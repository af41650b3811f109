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

from .config import Settings
from .errors import BackendUnreachableError, DatasetGenError, ModelNotFoundError
from .language import detect_language
from .models import SamplingOptions
from .prompts import load_prompt
from .qa import OUTPUT_TOKENS_PER_PAIR, ChunkResult, estimate_tokens, generate_pairs, pairs_wanted, plan_num_ctx

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


@dataclass
class _Plan:
    languages: dict  # document id -> language
    templates: dict  # language -> (qa_generate, qa_repair)
    wanted: dict  # chunk id -> pairs to ask for
    num_ctx: int


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
    num_ctx = 2048
    if chunks:
        longest = max(chunks, key=lambda c: estimate_tokens(c.text))
        template_text = "".join(next(iter(templates.values()))[0].sections.values())
        prompt_tokens = estimate_tokens(longest.text) + estimate_tokens(template_text) + 200
        out_tokens = options.num_predict if options.num_predict and options.num_predict > 0 else (
            max(wanted.values()) * OUTPUT_TOKENS_PER_PAIR + 256
        )
        try:
            limit = backend.context_length(model)
        except FATAL:
            raise
        except DatasetGenError:
            limit = None
        num_ctx = plan_num_ctx(prompt_tokens, out_tokens, limit)
    return _Plan(languages, templates, wanted, num_ctx)


def trial_chunk(store, project_id: int, chunk_id: int, backend, model: str, settings: Settings,
                options: SamplingOptions = SamplingOptions()) -> ChunkResult:
    """Generate pairs for one chunk without saving them, to see whether a model can do the job.

    The result holds the exact prompt sent (``result.prompt.messages``), the model's raw reply and
    reasoning, and the checked pairs.

    :raises BackendError: Ollama not running, model not pulled, or invalid output after re-asks.
    """
    chunk = store.get_chunk(chunk_id)
    plan = _plan(store, project_id, backend, model, settings, options, [chunk])
    generate, repair = plan.templates[plan.languages[chunk.document_id]]
    return generate_pairs(
        lambda **kw: backend.chat(model, **kw), generate, repair, chunk_text=chunk.text, document=chunk.document,
        heading_path=chunk.heading_path, n=plan.wanted[chunk.id], language=plan.languages[chunk.document_id],
        options=options, num_ctx=plan.num_ctx, max_reasks=settings.max_reasks,
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
    :raises ModelNotFoundError: the model is not pulled (checked before the run starts).
    """
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
        try:
            result = generate_pairs(
                chat, generate, repair, chunk_text=chunk.text, document=chunk.document,
                heading_path=chunk.heading_path, n=wanted[chunk.id], language=languages[chunk.document_id],
                options=options, num_ctx=num_ctx, max_reasks=settings.max_reasks,
            )
        except DatasetGenError as exc:
            store.set_chunk_failed(chunk.id, str(exc))
            with lock:
                summary.done += 1
                summary.failures.append(ChunkFailure(chunk.id, chunk.document, chunk.ordinal, str(exc)))
                if isinstance(exc, FATAL) and summary.error is None:
                    summary.error = str(exc)
                    cancel.set()
                report()
            return
        store.save_chunk_pairs(chunk.id, run_id, result.pairs)
        store.add_run_usage(run_id, result.prompt_tokens, result.completion_tokens, result.duration_s)
        with lock:
            summary.done += 1
            summary.pairs += len(result.pairs)
            summary.prompt_tokens += result.prompt_tokens
            summary.completion_tokens += result.completion_tokens
            report()

    report()
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
            futures = [pool.submit(work, c) for c in chunks]
            for future in as_completed(futures):
                future.result()
    except BaseException:
        cancel.set()
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
