"""The ``generate`` command: lock the project, read and split the files, generate, stop cleanly.

The project's lock is taken before anything is touched (by name first, since the project may not
exist yet), so a second command on the same project is refused in one line before it creates,
splits or asks anything. The first Ctrl-C (or SIGTERM) abandons the requests in flight, ends the run
``cancelled`` and says exactly what was saved (exit 130, or 143 for SIGTERM); a second one exits at
once. A command that fails leaves no empty new project behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from .backends import make_backends
from .config import ProjectConfig, Settings
from .errors import DocumentError, NoTextLayerError, StorageError, StoreError
from .gate import project_min_score, top_reasons
from .generation import HostProgress, Progress, RunSummary, check_servers, run_generation
from .ingest import ingest_bytes
from .locks import ProjectLock, lock_project, lock_project_name
from .models import ItemKind
from .names import printable
from .run_report import DocumentQuality, item_noun, plural, tally, totals, unusable_line

__all__ = ["generate", "ProgressBar", "Signals", "Stopped", "run_in_thread"]

T = TypeVar("T")


class ProgressBar:
    """A one-line progress bar on stderr (only the final line when stderr is not a terminal)."""

    def __init__(self, stream=None, noun: str = "pair"):
        self.stream = stream or sys.stderr
        self.noun = noun  # what the items are called (run_report.item_noun)
        self.lock = threading.Lock()
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        self.show(p.done, p.total, f"chunks, {p.pairs} {self.noun}s, {p.failed} failed, ETA {eta}{host_counts(p.hosts)}")

    def show(self, done: int, total: int, what: str) -> None:
        """Draw ``done`` of ``total`` followed by ``what``."""
        if not self.stream.isatty() and done < total:
            return  # a log file gets the final line only
        width = 30
        filled = int(width * done / total) if total else width
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}   "
        with self.lock:
            self.drawn = True
            self.stream.write(line)
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def host_counts(hosts: tuple[HostProgress, ...] | list[HostProgress]) -> str:
    """``" | 127.0.0.1:11434 12, gpu2:11434 9 (out)"``: chunks finished per server, for a run over
    more than one (``""`` for one)."""
    if len(hosts) < 2:
        return ""
    return " | " + ", ".join(f"{h.host.split('://', 1)[-1]} {h.chunks}{'' if h.up else ' (out)'}" for h in hosts)


class Stopped(BaseException):
    """A signal arrived before generation started: unwind what was begun."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM while the command runs. The first one raises :class:`Stopped` before the
    work starts (while files are read), and sets ``cancel`` once it runs; a second one exits at once."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.signum: int | None = None
        self.working = False

    def handle(self, signum, frame) -> None:
        if self.signum is not None:
            os.write(2, b"\nstopped at once; the run will show as interrupted. Run the same command again to resume.\n")
            os._exit(128 + self.signum)
        self.signum = signum
        if not self.working:
            raise Stopped(signum)
        self.cancel.set()  # the main thread only waits on the run's thread, never on this event

    @contextlib.contextmanager
    def installed(self):
        """Handle the signals for a ``with`` block (only possible in the main thread)."""
        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self.handle)
        except ValueError:  # not the main thread: leave the signals as they are
            pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def generate(args, config: ProjectConfig, settings: Settings, store, say: Callable[[str], None], *,
             save: bool = False) -> int:
    """Run ``generate`` for parsed ``args`` (files and project) with the run's ``config`` (the
    project's saved settings with the command line's over them: model, sampling) and ``settings``
    (``config`` applied to the environment's); return the exit code (see :mod:`dataset_gen.cli`).
    ``save`` stores ``config`` as the project's settings once it is locked (a project that had none).
    Every line for the person goes to ``say`` (the CLI writes it to stderr).

    :raises DatasetGenError: Ollama cannot be used, the project is busy (``ProjectBusyError``), or
        the store fails; the CLI prints it as one line.
    :raises ValueError: no model is saved in the project nor given.
    """
    if not config.model:
        raise ValueError(f"No model for project '{args.project.strip()}': pass --model NAME (e.g. qwen2.5:7b) "
                         "or set one in the project's settings")
    args.model = config.model
    if settings.kind != ItemKind.CONVERSATION.value:
        ignored = [f"--{name}" for name in ("turns", "scenario", "roles") if getattr(args, name, None) is not None]
        if ignored:
            say(f"note: {', '.join(ignored)} only shape conversations (--kind conversation); this run makes "
                f"{settings.kind} items")
    used = settings.chunking
    if (used.min_chars, used.overlap) != (config.chunk_min_chars, config.chunk_overlap):
        say(f"note: chunks of at most {used.max_chars} characters use smallest section {used.min_chars} and "
            f"overlap {used.overlap} (each at most half the largest chunk)")
    signals = Signals()
    with signals.installed():
        try:
            # before parsing: a long document should not wait to hear Ollama is down
            backend, warnings = check_servers(make_backends(settings))
            for line in warnings:
                say(f"warning: {line}")
            return _generate_locked(args, config, save, settings, store, backend, signals, say)
        except Stopped as stopped:
            say("\nstopped before generating; nothing was generated. Run the same command again.")
            return 128 + stopped.signum


def _generate_locked(args, config: ProjectConfig, save: bool, settings: Settings, store, backend,
                     signals: Signals, say) -> int:
    name = args.project.strip()
    if not name:
        raise StoreError("A project name cannot be empty: type a name")
    with lock_project_name(store, name):
        project_id = next((p.id for p in store.list_projects() if p.name == name), None)
        created = project_id is None
        if project_id is None:
            project_id = store.create_project(name)
        try:
            with lock_project(store, project_id) as lock:
                if save:
                    store.set_settings(project_id, config.model_dump())
                return _ingest_and_run(args, config, settings, store, backend, project_id, lock, signals, say)
        finally:
            if created:
                _drop_if_empty(store, project_id)


def _drop_if_empty(store, project_id: int) -> None:
    """Delete a project this command created if it holds no chunks (a failed or stopped command)."""
    with contextlib.suppress(StoreError):
        row = next((p for p in store.list_projects() if p.id == project_id), None)
        if row is not None and row.chunks == 0:
            store.delete_project(project_id)


def _ingest_and_run(args, config: ProjectConfig, settings: Settings, store, backend, project_id: int, lock: ProjectLock,
                    signals: Signals, say) -> int:
    bad = []
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            bad.append(f"{path}: cannot read the file ({exc.strerror})")
            continue
        try:
            result = ingest_bytes(store, project_id, data, path.name, settings.chunking,
                                  max_bytes=settings.max_file_bytes, lock=lock, ocr_language=settings.ocr_language)
        except NoTextLayerError as exc:
            bad.append(str(exc) if settings.ocr else f"{exc}; or run again with --ocr to read it by OCR here")
            continue
        except DocumentError as exc:
            bad.append(str(exc))
            continue
        state = "new" if result.new else "already in the project"
        say(printable(f"{path.name}: {plural(result.chunks, 'chunk')} ({state})"))
        for warning in result.document.warnings:
            named = warning if warning.startswith(f"{result.document.name}: ") else f"{path.name}: {warning}"
            say(printable(f"warning: {named}"))
    for line in bad:
        say(printable(f"error: {line}"))
    if len(bad) == len(args.files):
        return 2
    options = config.sampling()
    _say_resuming(store, project_id, say)
    scope = store.lacking_chunk_ids(project_id, settings.kind, settings.question_types)  # what the run takes
    try:
        summary = _run(store, project_id, backend, args.model, settings, options, lock, signals)
    except StorageError:
        _say_what_was_saved(store, project_id, say)
        raise
    noun = item_noun(settings.kind)
    if signals.signum is not None:
        say(f"stopped: {summary.pairs} {noun}s from {summary.pair_chunks} chunks saved in run {summary.run_id}; "
              f"{summary.pending} chunks left pending. Run the same command again to resume.")
        return 128 + signals.signum
    documents, with_pairs = _run_quality(store, project_id, summary.run_id, scope)
    partly = sum(1 for f in summary.failures if f.chunk_id in with_pairs)
    for line in summary.warnings:
        say(f"warning: {line}")
    say(f"{plural(summary.pairs, noun)} from {plural(summary.pair_chunks, 'chunk')}"
        + (f", {partly} of them partly failed" if partly else "")
        + f", in {summary.elapsed_s:.1f}s (project {args.project!r}, run {summary.run_id})"
        + host_counts(summary.hosts))
    for d in documents:
        if d.pairs or d.chunks_done or d.chunks_failed:
            say(d.line(noun))
    whole = totals(documents)
    if whole.pairs and len([d for d in documents if d.pairs]) > 1:
        say(f"{whole.passing} of {plural(whole.pairs, noun)} pass every check"
            + (f"; the rest: {top_reasons(whole.reasons)}" if whole.failing else ""))
    for f in summary.failures:
        say(f"failed: {f.document} chunk {f.ordinal}: {f.error}")
    if summary.error:
        left = summary.total - summary.done
        say(f"error: {summary.error}")
        say(f"{plural(left, 'chunk')} not tried yet; run the same command again once the server answers "
            "(what was saved is kept)" if left else "Run the same command again once the server answers.")
        return 2
    if summary.failures:
        say("Run the same command again to retry the failed chunks.")
    unusable = unusable_line(whole, args.model, noun)
    if unusable:
        say(unusable)
    if summary.failures or unusable:
        return 1
    return 2 if bad else 0


def _run_quality(store, project_id: int, run_id: int, scope: list[int]) -> tuple[list[DocumentQuality], set[int]]:
    """``(per document, ids of the chunks with pairs)`` of what run ``run_id`` did: of the chunks in
    its ``scope`` (ids), those now done and failed; its pairs and how many pass every check
    (:mod:`dataset_gen.run_report`)."""
    wanted = set(scope)
    counts: dict[str, tuple[int, int]] = {}
    for c in store.list_chunks(project_id):
        if c.id in wanted:
            done, failed = counts.get(c.document, (0, 0))
            counts[c.document] = (done + (c.gen_status == "done"), failed + (c.gen_status == "failed"))
    pairs = store.list_pairs(project_id, run_id=run_id)
    return (tally(pairs, counts, min_score=project_min_score(store.get_settings(project_id))),
            {p.chunk_id for p in pairs})


def _say_what_was_saved(store, project_id: int, say) -> None:
    """After a storage failure mid-run (a full disk): one line on what the run had saved, which the
    next run keeps."""
    try:
        runs = store.list_runs(project_id)
        if not runs:
            return
        chunks, pairs = store.run_saved(runs[0].id)
    except StoreError:
        return
    say(f"run {runs[0].id} saved {pairs} pairs from {chunks} of {runs[0].chunks_total} chunks before the failure; "
          "everything saved is kept, and running the same command again resumes")


def _say_resuming(store, project_id: int, say) -> None:
    """One line when the last run stopped before its end (interrupted, cancelled or failed) and
    chunks are left: this run resumes it."""
    runs = store.list_runs(project_id)
    if runs and runs[0].status in ("interrupted", "cancelled", "failed"):
        left = sum(1 for c in store.list_chunks(project_id, statuses=("pending", "failed")) if not c.skipped)
        if left:
            last = runs[0]
            say(f"resuming after run {last.id} ({last.status}): {left} chunks left; "
                  "everything saved before is kept")


def _run(store, project_id, backend, model, settings, options, lock, signals: Signals) -> RunSummary:
    """Generate in a thread of its own, so that this (main) thread is free to take signals."""
    bar = ProgressBar(noun=item_noun(settings.kind))
    try:
        return run_in_thread(lambda: run_generation(store, project_id, backend, model, settings, options=options,
                                                    on_progress=bar, cancel=signals.cancel, lock=lock),
                             signals, "generate")
    finally:
        bar.close()


def run_in_thread(work: Callable[[], T], signals: Signals, name: str) -> T:
    """Run ``work()`` in a daemon thread of its own, so that this (main) thread is free to take
    signals (which set ``signals.cancel``; ``work`` must honour it), and return its result.

    :raises BaseException: whatever ``work`` raised.
    """
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # handed to the main thread, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    signals.working = True
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except BaseException:  # signals not ours to handle (not the main thread): stop the work, then go
        signals.cancel.set()
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
