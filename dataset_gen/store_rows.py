"""Rows the store returns for listings, and the small conversions shared by the store modules.

Pairs are returned as :class:`dataset_gen.models.StoredPair`; the rows here describe projects,
documents, chunks and runs as listed in the app and the CLI. Timestamps are ISO 8601 UTC strings.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import StoreError

PAIR_STATUSES = ("generated", "accepted", "rejected")
CHUNK_STATUSES = ("pending", "done", "failed")
RUN_STATUSES = ("running", "finished", "cancelled", "failed", "interrupted")
RUN_KINDS = ("generate", "judge", "evaluate", "distill", "expand", "tag")


@dataclass(frozen=True)
class ProjectRow:
    """A project with how many documents, chunks and pairs it holds."""

    id: int
    name: str
    settings: dict = field(compare=False)
    created_at: str
    documents: int = 0
    chunks: int = 0
    pairs: int = 0


@dataclass(frozen=True)
class DocumentRow:
    """A stored document without its text. ``chars`` is the text length; ``pages`` is ``None``
    for formats without pages."""

    id: int
    name: str
    kind: str
    sha256: str
    chars: int
    pages: int | None
    encoding: str | None
    warnings: tuple[str, ...]
    chunks: int
    pairs: int
    created_at: str


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk. ``document`` is the document's name; ``gen_status`` is ``"pending"``,
    ``"done"`` or ``"failed"`` (then ``gen_error`` says why); ``pairs`` counts its stored pairs;
    ``edited`` is ``True`` when a person changed ``text`` (the span still names its source);
    ``skip_reason`` says why the chunk is not sent to the model (one of
    :data:`dataset_gen.junk.REASONS`, ``None`` = it is sent) and ``send_anyway`` is ``True`` when a
    person chose to send it despite that reason (see :attr:`skipped`)."""

    id: int
    document_id: int
    document: str
    ordinal: int
    heading_path: tuple[str, ...]
    start: int
    end: int
    page_start: int | None
    page_end: int | None
    text: str = field(repr=False)
    gen_status: str
    gen_error: str | None
    pairs: int
    edited: bool = False
    skip_reason: str | None = None
    send_anyway: bool = False

    @property
    def skipped(self) -> bool:
        """``True`` when generation leaves this chunk out: it has a skip reason and no override."""
        return self.skip_reason is not None and not self.send_anyway


@dataclass(frozen=True)
class RunRow:
    """One run: what was asked of which model, and what it cost.

    ``kind`` is ``"generate"`` (it made pairs from chunks: the ``chunks_*`` counts) or ``"judge"``
    (it scored pairs: ``pairs_total`` in scope at its start, ``pairs_judged`` whose scores it saved,
    ``pairs_failed`` left without a usable verdict; its ``chunks_*`` counts are 0).
    ``status`` is ``"running"``, ``"finished"``, ``"cancelled"``, ``"failed"`` or ``"interrupted"``
    (its process died); ``finished_at`` is ``None`` while running. ``prompt_tokens`` and
    ``completion_tokens`` are the server's counts over every call of the run; ``duration_s``
    sums the model's reported durations, in seconds.
    """

    id: int
    project_id: int
    model: str
    options: dict = field(compare=False)
    prompt_name: str
    prompt_version: str
    started_at: str
    finished_at: str | None
    status: str
    chunks_total: int
    chunks_done: int
    chunks_failed: int
    prompt_tokens: int
    completion_tokens: int
    duration_s: float
    kind: str = "generate"
    pairs_total: int = 0
    pairs_judged: int = 0
    pairs_failed: int = 0


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row the cursor's ``INSERT`` just added.

    :raises StoreError: the statement inserted no row (a bug, never expected).
    """
    if cursor.lastrowid is None:
        raise StoreError("The database added no row where one was expected: nothing was saved")
    return cursor.lastrowid


def utc_now() -> str:
    """The current time as ISO 8601 UTC, e.g. ``2025-01-31T09:15:02.123456+00:00``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dump_json(value: Any) -> str:
    """``value`` as compact JSON text that keeps non-ASCII characters readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def checked(values: Iterable[str] | None, allowed: tuple[str, ...], what: str) -> list[str] | None:
    """``values`` as a list, or ``None`` when not given.

    :raises ValueError: a value is not one of ``allowed``.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    found = list(values)
    bad = [v for v in found if v not in allowed]
    if bad:
        raise ValueError(f"Unknown {what} {bad[0]!r}: expected one of {', '.join(allowed)}")
    return found


def placeholders(count: int) -> str:
    """``?, ?, ?`` for ``count`` SQL parameters."""
    return ", ".join("?" * count)


def chunk_row(row: sqlite3.Row) -> ChunkRow:
    """A :class:`ChunkRow` from a row of the store's chunk query."""
    return ChunkRow(
        id=row["id"],
        document_id=row["document_id"],
        document=row["document"],
        ordinal=row["ordinal"],
        heading_path=tuple(json.loads(row["heading_path"])),
        start=row["start"],
        end=row["end"],
        page_start=row["page_start"],
        page_end=row["page_end"],
        text=row["text"],
        gen_status=row["gen_status"],
        gen_error=row["gen_error"],
        pairs=row["pairs"],
        edited=bool(row["edited"]),
        skip_reason=row["skip_reason"],
        send_anyway=bool(row["send_anyway"]),
    )


def run_row(row: sqlite3.Row) -> RunRow:
    """A :class:`RunRow` from a ``runs`` row."""
    return RunRow(
        id=row["id"],
        project_id=row["project_id"],
        model=row["model"],
        options=json.loads(row["options"]),
        prompt_name=row["prompt_name"],
        prompt_version=row["prompt_version"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        chunks_total=row["chunks_total"],
        chunks_done=row["chunks_done"],
        chunks_failed=row["chunks_failed"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        duration_s=float(row["duration_s"]),
        kind=row["kind"],
        pairs_total=row["pairs_total"],
        pairs_judged=row["pairs_judged"],
        pairs_failed=row["pairs_failed"],
    )


def require_project(conn: sqlite3.Connection, project_id: int) -> sqlite3.Row:
    """The ``projects`` row with this id.

    :raises StoreError: no project has this id.
    """
    row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
    if row is None:
        raise StoreError(f"No project with id {project_id}: it may have been deleted")
    return row
