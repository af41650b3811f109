"""The store's methods for a project's domain tag tree and for items that have no source chunk.

:class:`TagMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the connection,
the lock and the ``_write``/``_read`` context managers used here.

A tag tree is stored in ``tags(id, project_id, parent_id, name)`` (schema version 9): a top-level
tag has ``parent_id`` NULL, its children name it. Items point at one tag (``qa_pairs.tag_id``, a
leaf as a rule; NULL: untagged). A tree is passed in and out as :data:`Tree`: a list of
``(name, [child names])`` in order, the shape of the JSON file a person edits
(:func:`dataset_gen.tags.tree_from_json`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from .errors import StoreError
from .models import ItemKind, Origin, QAPair
from .store_rows import placeholders, utc_now

Tree = list[tuple[str, list[str]]]
"""A two-level tag tree: ``[(top-level name, [child names, ...]), ...]``, in order."""


@dataclass(frozen=True)
class TagRow:
    """A stored tag. ``parent_id`` is ``None`` for a top-level tag; ``path`` is
    ``"parent > child"`` (or the name alone at the top)."""

    id: int
    parent_id: int | None
    name: str
    path: str


def require_run_of(conn: sqlite3.Connection, project_id: int, run_id: int) -> None:
    """:raises StoreError: no run ``run_id``, or it belongs to another project."""
    row = conn.execute("SELECT project_id FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise StoreError(f"No run with id {run_id}: start a run first")
    if row[0] != project_id:
        raise StoreError(f"Run {run_id} belongs to another project than project {project_id}")


class TagMethods:
    """Tag-tree and source-less item methods of :class:`dataset_gen.store.Store`."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def save_tag_tree(self, project_id: int, tree: Tree) -> list[TagRow]:
        """Replace the project's tag tree with ``tree`` (one transaction) and return the new tags
        in order (each parent before its children). Items keep their tag when a tag of the same
        path is in the new tree; the others become untagged. Blank names are dropped; a repeated
        name under one parent is kept once.

        :raises StoreError: no such project.
        """
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is None:
                raise StoreError(f"No project with id {project_id}: it may have been deleted")
            old = {row.id: row.path for row in _tags(conn, project_id)}
            tagged = conn.execute("SELECT id, tag_id FROM qa_pairs WHERE project_id = ? AND tag_id IS NOT NULL",
                                  (project_id,)).fetchall()
            conn.execute("UPDATE qa_pairs SET tag_id = NULL WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM tags WHERE project_id = ?", (project_id,))
            by_path: dict[str, int] = {}
            for name, children in tree:
                name = " ".join(name.split())
                if not name or name in by_path:
                    continue
                parent = conn.execute("INSERT INTO tags (project_id, parent_id, name) VALUES (?, NULL, ?)",
                                      (project_id, name)).lastrowid
                assert parent is not None
                by_path[name] = parent
                for child in children:
                    child = " ".join(child.split())
                    path = f"{name} > {child}"
                    if child and path not in by_path:
                        by_path[path] = conn.execute(
                            "INSERT INTO tags (project_id, parent_id, name) VALUES (?, ?, ?)",
                            (project_id, parent, child)).lastrowid or 0
            conn.executemany("UPDATE qa_pairs SET tag_id = ? WHERE id = ?",
                             [(by_path[old[tag]], pair) for pair, tag in tagged
                              if tag in old and old[tag] in by_path])
            return _tags(conn, project_id)

    def list_tags(self, project_id: int) -> list[TagRow]:
        """The project's tags, each top-level tag followed by its children, in insertion order."""
        with self._read() as conn:
            return _tags(conn, project_id)

    def tag_tree(self, project_id: int) -> Tree:
        """The project's tag tree as :data:`Tree` (``[]``: none)."""
        tree: Tree = []
        for row in self.list_tags(project_id):
            if row.parent_id is None:
                tree.append((row.name, []))
            else:
                tree[-1][1].append(row.name)
        return tree

    def set_pair_tags(self, tags: Mapping[int, int | None]) -> int:
        """Set each pair id's tag (``None``: untagged) in one transaction; return how many pairs
        changed. Ids of missing pairs are ignored."""
        with self._write() as conn:
            return sum(conn.execute("UPDATE qa_pairs SET tag_id = ? WHERE id = ?", (tag, pair)).rowcount
                       for pair, tag in tags.items())

    def pair_tags(self, project_id: int) -> dict[int, int | None]:
        """Pair id → its tag id (``None``: untagged), for every item of the project."""
        with self._read() as conn:
            return dict(conn.execute("SELECT id, tag_id FROM qa_pairs WHERE project_id = ?", (project_id,)).fetchall())

    def tag_counts(self, project_id: int, statuses: Sequence[str] = ("generated", "accepted")) -> dict[str, int]:
        """Items per tag path (``"parent > child"``), in tree order, then ``"untagged"`` when some
        have none; only items whose status is in ``statuses``. Tags with no item are left out."""
        with self._read() as conn:
            rows = dict(conn.execute(
                f"SELECT coalesce(tag_id, 0), count(*) FROM qa_pairs WHERE project_id = ?"
                f" AND status IN ({placeholders(len(statuses))}) GROUP BY coalesce(tag_id, 0)",
                (project_id, *statuses)).fetchall())
            counts = {row.path: rows[row.id] for row in _tags(conn, project_id) if rows.get(row.id)}
        if rows.get(0):
            counts["untagged"] = rows[0]
        return counts

    def start_item_run(self, project_id: int, kind: str, model: str, options: dict, prompt_name: str,
                       prompt_version: str, total: int = 0) -> int:
        """Record the start of a run that makes or tags items without chunks (kind ``"distill"``,
        ``"expand"`` or ``"tag"``, status ``"running"``; ``total`` items planned, in
        ``pairs_total``); return its id. Its token counts are added with :meth:`add_run_usage`.

        :raises ValueError: another kind. :raises StoreError: no such project.
        """
        if kind not in ("distill", "expand", "tag"):
            raise ValueError(f"Unknown item run kind {kind!r}: distill, expand or tag")
        return self._insert_run(project_id, kind, model, options, prompt_name, prompt_version,  # type: ignore[attr-defined]
                                pairs_total=total)

    def add_sourceless_pairs(self, project_id: int, run_id: int, pairs: Sequence[QAPair], origin: str,
                             tag_ids: Sequence[int | None] | None = None) -> list[int]:
        """Insert items that have no source chunk (``chunk_id`` NULL) as ``"generated"``, made by
        run ``run_id``, with ``origin`` (:class:`dataset_gen.models.Origin`, not ``document``) and
        each its tag of ``tag_ids`` (default: none); return their ids in order. ``grounded`` is
        stored as given (callers pass ``False``: nothing to ground in).

        :raises StoreError: the run is missing or of another project.
        :raises ValueError: ``origin`` is ``document`` or unknown, or ``tag_ids`` is not one per pair.
        """
        if origin not in {o.value for o in Origin} - {Origin.DOCUMENT.value}:
            raise ValueError(f"Items with no source chunk have origin model or examples, not {origin!r}")
        tags = list(tag_ids) if tag_ids is not None else [None] * len(pairs)
        if len(tags) != len(pairs):
            raise ValueError(f"{len(tags)} tags for {len(pairs)} items: one tag (or None) per item")
        now = utc_now()
        ids: list[int] = []
        with self._write() as conn:
            require_run_of(conn, project_id, run_id)
            for pair, tag in zip(pairs, tags):
                cursor = conn.execute(
                    "INSERT INTO qa_pairs (project_id, chunk_id, run_id, question, answer, evidence, grounded,"
                    " status, edited, created_at, updated_at, question_type, reasoning, audience,"
                    " context_chunk_ids, language_ok, flags, kind, origin, choices, tag_id)"
                    " VALUES (?, NULL, ?, ?, ?, ?, ?, 'generated', 0, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?)",
                    (project_id, run_id, pair.question, pair.answer, pair.evidence, int(pair.grounded), now, now,
                     pair.question_type, pair.reasoning, pair.audience, int(pair.language_ok),
                     json.dumps(list(pair.flags)), pair.kind or ItemKind.QA.value, origin,
                     json.dumps(list(pair.choices), ensure_ascii=False), tag))
                ids.append(cursor.lastrowid or 0)
        return ids


def _tags(conn: sqlite3.Connection, project_id: int) -> list[TagRow]:
    rows = conn.execute("SELECT id, parent_id, name FROM tags WHERE project_id = ? ORDER BY id",
                        (project_id,)).fetchall()
    names = {r[0]: r[2] for r in rows}
    tops = [r for r in rows if r[1] is None]
    out: list[TagRow] = []
    for top in tops:
        out.append(TagRow(top[0], None, top[2], top[2]))
        out.extend(TagRow(r[0], r[1], r[2], f"{names[top[0]]} > {r[2]}") for r in rows if r[1] == top[0])
    return out
