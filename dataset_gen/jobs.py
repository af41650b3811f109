"""Background generation jobs owned by the server process, not by a browser tab.

The web app keeps one :class:`JobRegistry` per process. A job runs
:func:`dataset_gen.generation.run_generation` in a worker thread that touches only the store and
its own :class:`Job` record (never the UI), so reloading a page, closing a tab or opening a second
one neither stops nor duplicates it: there is at most one running job per project.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .errors import DatasetGenError
from .generation import Progress, RunSummary, run_generation


@dataclass
class Job:
    """A generation job. ``state`` is ``running``, ``finished``, ``cancelled`` or ``failed``;
    ``progress`` is the latest report; ``summary`` is set when it ends; ``error`` holds a fatal
    message (Ollama not running, model not pulled, or an unexpected error)."""

    project_id: int
    model: str
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "running"
    progress: Progress | None = None
    summary: RunSummary | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"


class JobRegistry:
    """Thread-safe map of project id → latest job. ``start`` returns the running job instead of a
    second one when the project already has one."""

    def __init__(self, store):
        self.store = store
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        store.close_interrupted_runs()  # a new process owns no runs yet: any "running" one died

    def get(self, project_id: int) -> Job | None:
        """The project's latest job (running or ended), or ``None``."""
        with self._lock:
            return self._jobs.get(project_id)

    def start(self, project_id: int, backend, model: str, settings, **kwargs) -> Job:
        """Start a run in a worker thread; ``kwargs`` go to ``run_generation`` (options, scope)."""
        with self._lock:
            current = self._jobs.get(project_id)
            if current and current.running:
                return current
            job = Job(project_id=project_id, model=model)
            self._jobs[project_id] = job

        def on_progress(progress: Progress) -> None:
            job.progress = progress

        def work() -> None:
            try:
                summary = run_generation(
                    self.store, project_id, backend, model, settings,
                    on_progress=on_progress, cancel=job.cancel, **kwargs,
                )
                job.summary = summary
                job.error = summary.error
                job.state = summary.status
            except DatasetGenError as exc:
                job.error = str(exc)
                job.state = "failed"
            except Exception as exc:  # the thread must record every failure for the UI to show
                job.error = f"{type(exc).__name__}: {exc}"
                job.state = "failed"

        job.thread = threading.Thread(target=work, name=f"generate-project-{project_id}", daemon=True)
        job.thread.start()
        return job

    def cancel(self, project_id: int) -> None:
        """Ask the project's running job to stop; chunks in flight still finish and are saved."""
        job = self.get(project_id)
        if job and job.running:
            job.cancel.set()
