"""Background jobs owned by the server process, not by a browser tab: generation and judging.

The web app keeps one :class:`JobRegistry` per process. A job runs in a worker thread that touches
only the store and its own :class:`Job` record (never the UI), so reloading a page, closing a tab or
opening a second one neither stops nor duplicates it: a project has at most one running job of
each kind.

A generation job takes the project's lock (:mod:`dataset_gen.locks`) when it starts, which is also
when runs of that project whose process died are marked ``interrupted``. Creating a registry marks
nothing: a run that is ``running`` may belong to a live command line in another process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import DatasetGenError
from .generation import Progress, run_generation
from .judge import judge_pairs

KINDS = ("generate", "judge")


def interrupted_run(store, project_id: int):
    """The project's newest run when it is ``interrupted`` (its process stopped mid-run: a
    restarted server, a killed command line; see :func:`dataset_gen.locks.close_dead_runs`, which
    marks such runs), else ``None``. The chunks it left are those still pending or failed: a new
    run over the project generates exactly them (done chunks are never sent again), which is how
    the Generate page resumes it in one click.

    :raises StoreError: the store fails.
    """
    runs = store.list_runs(project_id)
    return runs[0] if runs and runs[0].status == "interrupted" else None


@dataclass
class Job:
    """A job. ``kind`` is ``generate`` or ``judge``; ``state`` is ``running``, ``finished``,
    ``cancelled`` or ``failed``. ``done``/``total`` count chunks (generate) or pairs (judge);
    ``progress`` is generation's latest :class:`Progress`; ``summary`` is the run's summary when it
    ends; ``error`` holds a fatal message (Ollama not running, model not pulled, a crash)."""

    project_id: int
    kind: str
    model: str
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "running"
    done: int = 0
    total: int = 0
    progress: Progress | None = None
    summary: Any = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"


class JobRegistry:
    """Thread-safe map of (project id, kind) → latest job. Starting a kind that is already running
    for the project returns the running job instead of a second one."""

    def __init__(self, store):
        self.store = store
        self._jobs: dict[tuple[int, str], Job] = {}
        self._lock = threading.Lock()

    def get(self, project_id: int, kind: str = "generate") -> Job | None:
        """The project's latest job of ``kind`` (running or ended), or ``None``."""
        with self._lock:
            return self._jobs.get((project_id, kind))

    def _start(self, project_id: int, kind: str, model: str, run: Callable[[Job], None]) -> Job:
        with self._lock:
            current = self._jobs.get((project_id, kind))
            if current and current.running:
                return current
            job = Job(project_id=project_id, kind=kind, model=model)
            self._jobs[(project_id, kind)] = job

        def work() -> None:
            try:
                run(job)
            except DatasetGenError as exc:
                job.error, job.state = str(exc), "failed"
            except Exception as exc:  # the thread must record every failure for the UI to show
                job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"

        job.thread = threading.Thread(target=work, name=f"{kind}-project-{project_id}", daemon=True)
        job.thread.start()
        return job

    def start(self, project_id: int, backend, model: str, settings, **kwargs) -> Job:
        """Start a generation run; ``kwargs`` go to ``run_generation`` (options, scope).

        The job ends ``failed`` with the error to show when the project is busy (a command line
        run or an upload holds its lock) or Ollama cannot be used."""

        def run(job: Job) -> None:
            def on_progress(progress: Progress) -> None:
                job.progress, job.done, job.total = progress, progress.done, progress.total

            summary = run_generation(self.store, project_id, backend, model, settings,
                                     on_progress=on_progress, cancel=job.cancel, **kwargs)
            job.summary, job.error, job.state = summary, summary.error, summary.status

        return self._start(project_id, "generate", model, run)

    def start_judging(self, project_id: int, backend, model: str, *, concurrency: int = 4) -> Job:
        """Start judging the project's unjudged pairs with ``model``."""

        def run(job: Job) -> None:
            def on_progress(done: int, total: int) -> None:
                job.done, job.total = done, total

            summary = judge_pairs(self.store, project_id, backend, model, concurrency=concurrency,
                                  on_progress=on_progress, cancel=job.cancel)
            job.summary, job.error = summary, summary.error
            job.done, job.total = summary.judged + len(summary.failures), summary.total
            job.state = "failed" if summary.error else ("cancelled" if job.cancel.is_set() else "finished")

        return self._start(project_id, "judge", model, run)

    def start_work(self, project_id: int, kind: str, model: str, run: Callable[[Job], None]) -> Job:
        """Start ``run(job)`` as the project's job of ``kind`` (e.g. ``distill``, ``expand``: any
        name but the two above), unless one of that kind is running (then that one is returned).
        ``run`` sets the job's ``done``/``total``, ``summary`` and ``state``; a
        :class:`DatasetGenError` it raises ends the job ``failed`` with its message."""
        return self._start(project_id, kind, model, run)

    def cancel(self, project_id: int, kind: str = "generate") -> None:
        """Ask the project's running job of ``kind`` to stop. Generation stops at once: requests in
        flight are abandoned and their chunks stay pending (every reply saved before stays saved);
        judging stops after the pairs in flight."""
        job = self.get(project_id, kind)
        if job and job.running:
            job.cancel.set()
