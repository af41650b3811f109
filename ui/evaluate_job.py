"""Evaluation jobs of the web app: one background thread per project, owned by the server process.

Like generation jobs (:mod:`dataset_gen.jobs`), an evaluation runs in a daemon thread that touches
only the store and its own :class:`EvalJob`, so reloading the page or closing the tab neither stops
nor duplicates it; the page polls the job and its Cancel button sets the job's ``cancel``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import streamlit as st

from dataset_gen.backends import Backend
from dataset_gen.errors import DatasetGenError
from dataset_gen.evaluate import EvalSummary, run_evaluation
from dataset_gen.locks import ProjectLock


@dataclass
class EvalJob:
    """An evaluation job: ``state`` is ``running``, ``finished``, ``cancelled`` or ``failed``;
    ``done``/``total`` count answers scored (or failed) of those to get; ``error`` a fatal message."""

    project_id: int
    evaluation_id: int
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "running"
    done: int = 0
    total: int = 0
    summary: EvalSummary | None = None
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"


class EvalJobs:
    """Project id → its latest evaluation job; a project runs at most one at a time."""

    def __init__(self) -> None:
        self._jobs: dict[int, EvalJob] = {}
        self._lock = threading.Lock()

    def get(self, project_id: int) -> EvalJob | None:
        with self._lock:
            return self._jobs.get(project_id)

    def start(self, store, project_id: int, evaluation_id: int, backend: Backend, concurrency: int,
              lock: ProjectLock | None = None) -> EvalJob:
        """Start evaluation ``evaluation_id`` (or resume it) in a thread; a running job of the
        project is returned instead of a second one. ``lock``, the project's lock taken before the
        evaluation was created, is handed to the thread, which releases it when the job ends."""
        with self._lock:
            running = self._jobs.get(project_id)
            if running is not None and running.running:
                if lock is not None:
                    lock.release()
                return running
            job = self._jobs[project_id] = EvalJob(project_id, evaluation_id)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def work() -> None:
            try:
                job.summary = run_evaluation(store, project_id, backend, evaluation_id, concurrency=concurrency,
                                             on_progress=progress, cancel=job.cancel, lock=lock)
                job.total = job.total or job.summary.total
                job.error = job.summary.error
                job.state = job.summary.status
            except (DatasetGenError, ValueError) as exc:
                job.error, job.state = str(exc), "failed"
            except BaseException as exc:  # a crash: shown on the page, never lost in a thread
                job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"
            finally:
                if lock is not None:
                    lock.release()

        job.thread = threading.Thread(target=work, name=f"evaluate-{project_id}", daemon=True)
        job.thread.start()
        return job


@st.cache_resource
def get_eval_jobs() -> EvalJobs:
    """The process-wide evaluation jobs (they outlive reruns, tabs and reloads)."""
    return EvalJobs()
