"""The SQLite store: projects, documents, chunks, generation runs and QA pairs.

One file per data directory (``dataset_gen.sqlite3``). The schema comes from
:mod:`dataset_gen.migrations`. Example::

    with Store.open(Path("data")) as store:
        project = store.ensure_project("notes")
        doc_id = store.add_document(project, document)
        chunk_ids = store.replace_chunks(doc_id, chunks)

Threads: a :class:`Store` holds one connection shared by all threads (generation saves pairs from
several workers), serialised by a re-entrant lock. Every write is committed before the method
returns. WAL mode lets other processes (the CLI next to the app) read while one writes, and the busy
timeout makes a second writer wait instead of failing.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from .errors import StorageError, StoreError
from .migrations import MIGRATIONS, migrate, pending_versions
from .store_chunks import ChunkEditMethods
from .store_documents import DocumentMethods
from .store_eval import EvalMethods
from .store_generated import GeneratedPairMethods
from .store_pairs import PairMethods
from .store_projects import ProjectRunMethods
from .store_review import ReviewMethods
from .store_rows import (
    ChunkRow,
    DocumentRow,
    ProjectRow,
    RunRow,
)
from .store_splits import SplitMethods
from .store_tags import TagMethods
from .store_turns import TurnMethods

__all__ = ["Store", "StorageError", "ProjectRow", "DocumentRow", "ChunkRow", "RunRow", "DB_FILENAME"]

DB_FILENAME = "dataset_gen.sqlite3"
BUSY_TIMEOUT_MS = 10_000
"""Default wait (milliseconds) for another program's write lock before "locked" is raised."""

_ELSEWHERE = "set DATASET_GEN_DATA_DIR / --data-dir to another folder"


class Store(ProjectRunMethods, DocumentMethods, ChunkEditMethods, PairMethods, GeneratedPairMethods, ReviewMethods,
            TurnMethods, EvalMethods, TagMethods, SplitMethods):
    """A dataset-gen database. Use as a context manager or call :meth:`close`.

    A file in a folder this process cannot write (or a file it cannot write) is opened read-only
    when its schema is up to date: everything can be read (listings, reports, exports to other
    folders) and every write raises :class:`StorageError` (``reason="read_only"``) saying the folder
    or file is read-only; :attr:`read_only` tells which mode the store is in. Storage failures (disk
    full, a value above SQLite's size limit, the file locked by another program past the busy
    timeout, a read-only folder, I/O errors) are raised as one-line :class:`StorageError` messages
    naming the folder or file and the fix; a write that fails leaves the database as it was before
    the call, and the store stays usable.

    :param path: the SQLite file; it and its parent directories are created when missing.
    :param busy_timeout_ms: how long (milliseconds) to wait for another program's write lock
        before giving up with the "locked by another program" error.
    :raises StoreError: the file is not a SQLite database or was written by a newer dataset-gen.
    :raises StorageError: its folder cannot be created, or it cannot be opened: a read-only folder
        without a database, or with one that needs a schema upgrade; locked; disk full during an
        upgrade; a folder where the file should be.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = Path(path)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = "read_only" if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "cannot_open"
            raise StorageError(
                f"{folder}: cannot create the data folder ({error.strerror or error}): make the "
                f"folder above it writable or {_ELSEWHERE}", reason
            ) from error
        self._read_only = not _writable(folder) or (self.path.exists() and not _writable(self.path))
        try:
            conn = None
            if not self._read_only:
                try:
                    conn = self._open_read_write()
                except sqlite3.Error as error:
                    if _code(error) != sqlite3.SQLITE_READONLY:
                        raise
                    self._read_only = True  # a read-only condition os.access did not report
            if conn is None:
                conn = self._open_read_only()
        except (sqlite3.Error, OverflowError) as error:
            raise self._opening_error(error) from error
        self._conn = conn

    @classmethod
    def open(cls, data_dir: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Store:
        """The store of a data directory: ``data_dir / "dataset_gen.sqlite3"`` (see :class:`Store`)."""
        return cls(Path(data_dir) / DB_FILENAME, busy_timeout_ms=busy_timeout_ms)

    @property
    def busy_timeout_ms(self) -> int:
        """How long (milliseconds) a write waits for another program's write lock."""
        return self._busy_timeout_ms

    @property
    def read_only(self) -> bool:
        """``True`` when the store was opened read-only (its folder or file cannot be written):
        reads work, writes raise :class:`StorageError` with ``reason="read_only"``."""
        return self._read_only

    def close(self) -> None:
        """Close the connection; later calls raise :class:`StoreError`. Closing twice is fine."""
        with self._lock:
            if self._conn is not None:
                try:
                    if not self._read_only:
                        self._conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass  # only a planner hint; never keep the file open because of it
                finally:
                    self._conn.close()
                    self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- opening ---------------------------------------------------------------------------

    def _connect(self, target: str, *, uri: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target, uri=uri, check_same_thread=False, isolation_level=None,
            timeout=self._busy_timeout_ms / 1000,
        )
        conn.row_factory = sqlite3.Row
        conn.create_function("dg_fold", 1, _fold, deterministic=True)
        return conn

    def _open_read_write(self) -> sqlite3.Connection:
        """A read-write connection in WAL mode with the schema migrated."""
        conn = self._connect(str(self.path))
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection (``mode=ro``; ``immutable=1`` when SQLite cannot create the WAL
        index beside the file) to a database whose schema is up to date.

        With ``immutable=1`` SQLite reads the main file only. That is all there is after a clean
        close (the last writer folds the WAL back into the file and removes it); a non-empty
        ``-wal`` file left by a crash holds committed changes the main file lacks, so then the
        store refuses to open rather than show old data.
        """
        where = self._read_only_target()
        if not self.path.exists():
            raise StorageError(f"{where} is read-only and holds no dataset-gen database yet: make it "
                               f"writable or {_ELSEWHERE}", "read_only")
        base = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
        conn = self._connect(base, uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as error:
            conn.close()
            if _code(error) not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
                raise
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StorageError(
                    f"{where} is read-only and {wal} holds changes not yet folded into the database "
                    f"(left by a program that stopped): make it writable and open it once, or "
                    f"{_ELSEWHERE}", "read_only"
                ) from error
            conn = self._connect(base + "&immutable=1", uri=True)
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            conn.execute("PRAGMA foreign_keys = ON")
            pending, have = pending_versions(conn)
        except BaseException:
            conn.close()
            raise
        if pending:
            conn.close()
            if not have:
                raise StorageError(f"{where} is read-only and {self.path} holds no dataset-gen tables "
                                   f"yet: make it writable or {_ELSEWHERE}", "read_only")
            raise StorageError(
                f"{self.path} needs a schema upgrade (version {have[-1]} to {len(MIGRATIONS)}) but "
                f"{where} is read-only: make it writable once so dataset-gen can upgrade it, "
                f"or {_ELSEWHERE}", "read_only"
            )
        return conn

    def _opening_error(self, error: BaseException) -> StoreError:
        mapped = self._storage_error(error, writing=False)
        if mapped is not None and _code(error) not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return mapped
        return StoreError(
            f"{self.path}: not a usable dataset-gen database ({error}): move it away or pick "
            "another data directory"
        )

    # --- storage errors --------------------------------------------------------------------

    def _read_only_target(self) -> Path:
        """The folder when it cannot be written, else the file when it cannot, else the folder."""
        folder = self.path.parent
        if _writable(folder) and self.path.exists() and not _writable(self.path):
            return self.path
        return folder

    def require_writable(self) -> None:
        """Check, before a change begins, that the store can save it.

        :raises StorageError: the store is read-only (``reason="read_only"``; the message names the
            folder or file and the fix).
        """
        if self._read_only:
            raise self._read_only_error()

    def _read_only_error(self) -> StorageError:
        return StorageError(f"{self._read_only_target()} is read-only: nothing can be saved there (its "
                            f"projects can still be read); make it writable or {_ELSEWHERE}", "read_only")

    def _storage_error(
        self, error: BaseException, *, writing: bool, what: str | None = None
    ) -> StorageError | None:
        """The one-line :class:`StorageError` for a storage failure, or ``None`` when ``error`` is not
        one (a constraint or an SQL mistake is a bug and keeps its own exception).

        :param writing: the failure ended a write (the message then says nothing was saved).
        :param what: names the value being written, for "too big" (e.g. a document's text).
        """
        saved = "; nothing was saved from the step that failed" if writing else ""
        if isinstance(error, OverflowError):
            if "INT_MAX" not in str(error):
                return None
            return self._too_big(what, saved)
        if not isinstance(error, sqlite3.Error):
            return None
        code = _code(error)
        name = getattr(error, "sqlite_errorname", None) or type(error).__name__
        folder = self.path.parent
        if code == sqlite3.SQLITE_TOOBIG or isinstance(error, sqlite3.DataError):
            return self._too_big(what, saved)
        if code == sqlite3.SQLITE_FULL:
            return StorageError(f"{folder}: the disk is full: free some space and run again{saved}", "full")
        if name == "SQLITE_READONLY_DBMOVED":
            return StorageError(f"{self.path} was moved or deleted while open: put it back or open the "
                                f"data folder again{saved}", "moved")
        if code == sqlite3.SQLITE_READONLY:
            return self._read_only_error()
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StorageError(
                f"{self.path} is locked by another program (waited {self._busy_timeout_ms / 1000:g} s): "
                f"close the other program that has it open (another dataset-gen, a database "
                f"browser) and run again{saved}", "locked"
            )
        if code == sqlite3.SQLITE_IOERR:
            return StorageError(f"{self.path}: the disk could not be read or written ({name}): check the "
                                f"disk and that {folder} is still there, then run again{saved}", "io")
        if code == sqlite3.SQLITE_CANTOPEN:
            return StorageError(f"{self.path}: cannot open the database file ({error}): check that it is "
                                f"a file in a folder dataset-gen may write to, or {_ELSEWHERE}", "cannot_open")
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return StorageError(f"{self.path}: the database is damaged ({error}): restore it from a "
                                f"backup, or move it away and start again", "damaged")
        return None

    def _too_big(self, what: str | None, saved: str) -> StorageError:
        limit = self._conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) if self._conn is not None else None
        most = f" (SQLite takes at most {limit:,} bytes per value)" if limit else ""
        return StorageError(f"{self.path}: {what or 'a value'} is too big to store{most}: split it or "
                            f"leave it out{saved}", "too_big")

    @contextmanager
    def _storage_errors(self, *, writing: bool, what: str | None = None) -> Iterator[None]:
        """Raise storage failures inside the block as their one-line :class:`StorageError`."""
        try:
            yield
        except (sqlite3.Error, OverflowError) as error:
            mapped = self._storage_error(error, writing=writing, what=what)
            if mapped is None:
                raise
            raise mapped from error

    # --- connection and transactions -----------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed: open it again")
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the lock; storage failures become :class:`StorageError`."""
        with self._lock:
            conn = self._connection()
            with self._storage_errors(writing=False):
                yield conn

    @contextmanager
    def _write(self, what: str | None = None) -> Iterator[sqlite3.Connection]:
        """The connection inside a transaction, committed on exit, rolled back on an error.

        Nested use in one thread joins the outer transaction. Storage failures become one-line
        :class:`StorageError` messages; ``what`` names the value written (e.g. "the text of document
        'a.docx' (12 characters)") for the "too big" message.

        :raises StoreError: the store is closed.
        :raises StorageError: the store is read-only, or a storage failure (then nothing of the
            transaction was saved).
        """
        with self._lock:
            conn = self._connection()
            if self._depth:
                self._depth += 1
                try:
                    with self._storage_errors(writing=True, what=what):
                        yield conn
                finally:
                    self._depth -= 1
                return
            if self._read_only:
                raise self._read_only_error()
            _roll_back(conn)  # a transaction a failed ROLLBACK left open would refuse the BEGIN
            try:
                with self._storage_errors(writing=True, what=what):
                    conn.execute("BEGIN IMMEDIATE")
                    self._depth = 1
                    try:
                        yield conn
                    except BaseException:
                        _roll_back(conn)
                        raise
                    try:
                        conn.execute("COMMIT")
                    except BaseException:
                        _roll_back(conn)
                        raise
            finally:
                self._depth = 0


def _code(error: BaseException) -> int:
    """The primary SQLite result code of ``error`` (``SQLITE_FULL``…), 0 when it has none."""
    return (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def _roll_back(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so (it does on a full disk)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the error being raised says more; SQLite rolls back at the next BEGIN or close


def _fold(text: str | None) -> str | None:
    return None if text is None else text.casefold()
