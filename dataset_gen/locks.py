"""Project locks: one process at a time changes a project's chunks or generates for it.

A project's lock is an exclusive ``flock`` on ``project-<id>.lock`` in the data folder (beside the
database). The operating system releases it when its process ends however it ends (kill -9, a
crash, a power cut), so holding the lock proves that no live process owns a ``running`` run of the
project: whoever takes a project's lock calls :meth:`Store.close_interrupted_runs` for it, and a
run whose process died is then recorded as ``interrupted``.

A project that does not exist yet is locked by its name first (``project-name-<slug>-<hash>.lock``),
so two commands creating the same project cannot both create, split and generate.

Within a process the lock is re-entrant only for its holder, by passing the :class:`ProjectLock`
down (``ingest_bytes(..., lock=held)``, ``run_generation(..., lock=held)``): a second attempt to
take it, from any thread, is refused like one from another process. Without ``fcntl`` (Windows)
the lock works within the process only, and runs left ``running`` are not closed, since nothing
can prove their process is gone.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks across processes
    fcntl = None  # type: ignore[assignment]

from .errors import StoreError
from .names import safe_slug

__all__ = ["ProjectBusyError", "ProjectLock", "close_dead_runs", "lock_project", "lock_project_name", "project_locked"]

BUSY_MESSAGE = ("{what} is busy: another generate run, judge run or upload is using it right now; wait for it "
                "to end or stop it, then run again (a run resumes where the other stopped)")

_held: dict[str, ProjectLock] = {}  # resolved lock path -> the lock this process holds on it
_table = threading.Lock()


class ProjectBusyError(StoreError):
    """Another process (or another part of this one) holds the project's lock."""


class ProjectLock:
    """A held project lock. Release it with :meth:`release` or by leaving its ``with`` block;
    releasing twice is fine. ``project_id`` is ``None`` for a lock taken by name only."""

    def __init__(self, path: Path, handle: IO[str], project_id: int | None, name: str | None):
        self.path = path
        self.project_id = project_id
        self.name = name
        self._handle: IO[str] | None = handle

    @property
    def held(self) -> bool:
        """Whether this lock is still held."""
        return self._handle is not None

    def release(self) -> None:
        """Let the lock go (closing the file releases the ``flock``)."""
        with _table:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            if _held.get(str(self.path)) is self:
                del _held[str(self.path)]
        handle.close()

    def __enter__(self) -> ProjectLock:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"ProjectLock({self.path.name!r}, held={self.held})"


def _acquire(path: Path, what: str, project_id: int | None, name: str | None) -> ProjectLock:
    """Take the lock file ``path`` without waiting.

    :raises ProjectBusyError: it is held, by this process or another.
    :raises StoreError: the lock file cannot be created.
    """
    busy = ProjectBusyError(BUSY_MESSAGE.format(what=what))
    key = str(path.resolve())
    with _table:
        if key in _held:
            raise busy
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the project's lock file ({exc.strerror or exc}): "
                             "check that the data folder is writable") from None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise busy from None
        lock = ProjectLock(Path(key), handle, project_id, name)
        _held[key] = lock
        return lock


def lock_project(store, project_id: int) -> ProjectLock:
    """Take project ``project_id``'s lock (file ``project-<id>.lock`` in the store's folder),
    then mark the project's runs still ``running`` as ``interrupted``: their processes are gone.

    :raises ProjectBusyError: the project is locked (another run or upload is using it).
    :raises StorageError: the store is read-only (nothing can change, so no lock is taken).
    :raises StoreError: the lock file cannot be created, or the store fails.
    """
    store.require_writable()
    lock = _acquire(Path(store.path).parent / f"project-{int(project_id)}.lock", "The project",
                    project_id, None)
    try:
        if fcntl is not None:
            store.close_interrupted_runs(project_id)
    except BaseException:
        lock.release()
        raise
    return lock


def lock_project_name(store, name: str) -> ProjectLock:
    """Take the lock of the project *name* (for a project that may not exist yet): file
    ``project-name-<safe slug>-<hash>.lock`` in the store's folder. Take the project's own lock
    (:func:`lock_project`) as well once its id is known.

    :raises ProjectBusyError: another command holds this name's lock.
    :raises StorageError: the store is read-only.
    :raises StoreError: the lock file cannot be created.
    """
    store.require_writable()
    clean = (name or "").strip()
    digest = hashlib.sha256(clean.encode("utf-8")).hexdigest()[:16]
    path = Path(store.path).parent / f"project-name-{safe_slug(clean)}-{digest}.lock"
    return _acquire(path, f"Project {clean!r}", None, clean)


def close_dead_runs(store, project_id: int) -> bool:
    """Mark the project's runs whose process died as ``interrupted``, if the project is free:
    takes its lock for a moment and lets it go. Returns ``False`` when the project is busy (its
    ``running`` run, if any, is live) and nothing was looked at. For a page that lists runs.

    :raises StoreError: the lock file cannot be created, or the store fails.
    """
    try:
        with lock_project(store, project_id):
            return True
    except ProjectBusyError:
        return False


@contextmanager
def project_locked(store, project_id: int, lock: ProjectLock | None = None) -> Iterator[ProjectLock]:
    """Hold project ``project_id``'s lock for a ``with`` block: ``lock`` when the caller already
    holds it (it is then left held), else a lock taken here and released at the end.

    :raises ValueError: ``lock`` is released or belongs to another project.
    :raises ProjectBusyError: the lock had to be taken and is held elsewhere.
    """
    if lock is not None:
        if not lock.held or lock.project_id != project_id:
            raise ValueError(f"{lock!r} is not a held lock of project {project_id}")
        yield lock
        return
    with lock_project(store, project_id) as taken:
        yield taken
