"""The store's schema as numbered migrations.

``MIGRATIONS[i]`` is the SQL script that brings the schema to version ``i + 1``. Scripts are applied
in order, each inside its own transaction together with its row in ``schema_migrations(version,
applied_at)``, so a failed script leaves the database at the previous version. Never edit a
released script: append a new one.

A script that rebuilds a table (SQLite cannot change a CHECK constraint in place) starts with the
line :data:`REBUILDS`: it then runs with ``PRAGMA foreign_keys=OFF`` (so dropping the old table
cascades nothing), and ``PRAGMA foreign_key_check`` must find no broken reference before it commits.
The rebuild follows SQLite's "making other kinds of table schema changes" procedure
(https://www.sqlite.org/lang_altertable.html#otheralter): create the new table, copy, drop the
old one, rename the new one, recreate its indexes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from .errors import StoreError
from .schema import MIGRATIONS, REBUILDS

__all__ = ["MIGRATIONS", "REBUILDS", "applied_versions", "migrate", "pending_versions", "statements"]


_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""


def statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (``;`` inside triggers or strings is kept)."""
    found: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"Incomplete SQL statement at the end of a migration: {pending[:80]!r}")
    return found


def applied_versions(conn: sqlite3.Connection) -> list[int]:
    """Versions already recorded in ``schema_migrations``, ascending (the table must exist)."""
    rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [row[0] for row in rows]


def pending_versions(
    conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS
) -> tuple[list[int], list[int]]:
    """``(pending, applied)``: the versions ``conn`` still lacks and those it has, ascending.

    Only reads, so it works on a read-only connection; a database without ``schema_migrations``
    has applied nothing.

    :raises StoreError: the file was written by a newer dataset-gen (it has versions we lack).
    """
    tracked = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    have = applied_versions(conn) if tracked else []
    _refuse_newer(have, migrations)
    return [v for v in range(1, len(migrations) + 1) if v not in have], have


def _refuse_newer(have: list[int], migrations: tuple[str, ...]) -> None:
    if have and have[-1] > len(migrations):
        raise StoreError(
            f"The database has schema version {have[-1]} but this dataset-gen knows only up to "
            f"{len(migrations)}: upgrade dataset-gen, or use another data directory"
        )


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations ``conn`` does not have yet; return the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each script runs in a
    ``BEGIN IMMEDIATE`` transaction that also re-checks the version, so two processes opening the
    same file at once apply each script once.

    :raises StoreError: the file was written by a newer dataset-gen (it has versions we lack).
    """
    conn.execute(_TRACKING)
    have = applied_versions(conn)
    _refuse_newer(have, migrations)
    done: list[int] = []
    for version, script in enumerate(migrations, start=1):
        if version in have:
            continue
        rebuilds = script.startswith(REBUILDS)
        if rebuilds:
            conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction, so before BEGIN
        conn.execute("BEGIN IMMEDIATE")
        try:
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if not already:
                for statement in statements(script):
                    conn.execute(statement)
                if rebuilds and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise StoreError(f"Schema migration {version} would break references: nothing was changed")
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat(timespec="seconds")),
                )
                done.append(version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if rebuilds:
                conn.execute("PRAGMA foreign_keys = ON")
    return done
