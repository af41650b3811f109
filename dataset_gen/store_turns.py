"""The store's methods for conversation items: add one with its turns, list, edit a turn, and load
the turns of many items at once.

A conversation is one ``qa_pairs`` row (``kind = 'conversation'``; its ``question``/``answer`` are
the first user and assistant turns, its ``evidence`` the first assistant turn's) plus one
``conversation_turns`` row per turn and one ``conversations`` row with the language, scenario and
roles it was made with (schema version 9). :class:`TurnMethods` is mixed into
:class:`dataset_gen.store.Store`, which supplies ``_write``/``_read`` and ``get_pair``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

from .conversation import Conversation, check_turns
from .errors import StoreError
from .models import ItemKind, QAPair, StoredPair, Turn
from .store_generated import check_chunk_and_run, insert_generated
from .store_review import StaleEditError
from .store_rows import placeholders, utc_now

_BATCH = 500
_TURN_COLUMNS = "pair_id, position, role, content, evidence, grounded, edited, original_content, flags"


def _turn(row: Sequence) -> Turn:
    return Turn(row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6]), row[7], tuple(json.loads(row[8])))


def turns_of(conn: sqlite3.Connection, pair_ids: Iterable[int]) -> dict[int, tuple[Turn, ...]]:
    """The turns of each item id that has any, in position order, read ``500`` ids per query."""
    wanted = list(dict.fromkeys(pair_ids))
    found: dict[int, list[Turn]] = {}
    for first in range(0, len(wanted), _BATCH):
        batch = wanted[first:first + _BATCH]
        for row in conn.execute(f"SELECT {_TURN_COLUMNS} FROM conversation_turns WHERE pair_id IN"
                                f" ({placeholders(len(batch))}) ORDER BY pair_id, position", batch):
            found.setdefault(row[0], []).append(_turn(row))
    return {k: tuple(v) for k, v in found.items()}


def with_turns(conn: sqlite3.Connection, pairs: list[StoredPair]) -> list[StoredPair]:
    """``pairs`` with the turns of their conversation items filled in (batched: one query per 500
    conversations, none when there are none)."""
    ids = [p.id for p in pairs if p.kind == ItemKind.CONVERSATION.value]
    if not ids:
        return pairs
    turns = turns_of(conn, ids)
    return [replace(p, turns=turns.get(p.id, ())) if p.kind == ItemKind.CONVERSATION.value else p for p in pairs]


def _sources(conn: sqlite3.Connection, pair_id: int) -> tuple[list[str], tuple[str, ...], str] | None:
    """``(source texts, heading path, language)`` of conversation ``pair_id``; ``None`` when it is
    not a conversation with a chunk."""
    row = conn.execute(
        "SELECT c.text, c.heading_path, p.context_chunk_ids, v.language FROM qa_pairs p"
        " JOIN chunks c ON c.id = p.chunk_id JOIN conversations v ON v.pair_id = p.id WHERE p.id = ?",
        (pair_id,)).fetchone()
    if row is None:
        return None
    texts = [row[0]] + [found[0] for i in json.loads(row[2])
                        if (found := conn.execute("SELECT text FROM chunks WHERE id = ?", (i,)).fetchone())]
    return texts, tuple(json.loads(row[1])), row[3]


def sync_first_turns(conn: sqlite3.Connection, pair_id: int, question: str, answer: str) -> None:
    """After an item's question/answer were changed in the open transaction (the grid's cells):
    when it is a conversation, its first user and assistant turns take that text (originals kept)
    and the conversation is checked again as :meth:`TurnMethods.edit_turn` does. Other items are
    left as they are."""
    turns = list(turns_of(conn, [pair_id]).get(pair_id, ()))
    if len(turns) < 2:
        return
    for position, content in ((0, question), (1, answer)):
        if turns[position].content != content:
            conn.execute(
                "UPDATE conversation_turns SET content = ?, edited = 1,"
                " original_content = CASE WHEN edited = 1 THEN original_content ELSE content END"
                " WHERE pair_id = ? AND position = ?", (content, pair_id, position))
            turns[position] = replace(turns[position], content=content)
    TurnMethods._recheck(conn, pair_id, turns)


class TurnMethods:
    """Conversation methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    get_pair: Callable[[int], StoredPair]

    def add_conversation(self, chunk_id: int, run_id: int, conversation: Conversation) -> int:
        """Insert a generated conversation of chunk ``chunk_id`` as one ``"generated"`` item with its
        turns (one transaction); return the item's id.

        :raises StoreError: the chunk or run is missing or of different projects, or the
            conversation has no turns.
        """
        turns = conversation.turns
        if len(turns) < 2:
            raise StoreError(f"A conversation of chunk {chunk_id} needs at least two turns")
        item = QAPair(turns[0].content, turns[1].content, turns[1].evidence, conversation.grounded,
                      context_chunk_ids=conversation.context_chunk_ids, language_ok=conversation.language_ok,
                      flags=conversation.flags, kind=ItemKind.CONVERSATION.value)
        with self._write() as conn:
            check_chunk_and_run(conn, chunk_id, run_id)
            pair_id = insert_generated(conn, chunk_id, run_id, [item], utc_now())[0]
            conn.executemany(
                f"INSERT INTO conversation_turns ({_TURN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?)",
                [(pair_id, t.position, t.role, t.content, t.evidence, int(t.grounded), json.dumps(list(t.flags)))
                 for t in turns])
            conn.execute("INSERT INTO conversations (pair_id, language, scenario, roles) VALUES (?, ?, ?, ?)",
                         (pair_id, conversation.language, conversation.scenario,
                          json.dumps(list(conversation.roles), ensure_ascii=False)))
        return pair_id

    def list_turns(self, pair_id: int) -> list[Turn]:
        """The turns of item ``pair_id`` in order (``[]`` for an item that is no conversation)."""
        with self._read() as conn:
            return list(turns_of(conn, [pair_id]).get(pair_id, ()))

    def turns_for(self, pair_ids: Iterable[int]) -> dict[int, tuple[Turn, ...]]:
        """The turns of many items at once (batched); items without turns are left out."""
        with self._read() as conn:
            return turns_of(conn, pair_ids)

    def conversation_settings(self, pair_id: int) -> tuple[str, str, tuple[str, ...]] | None:
        """``(language, scenario, roles)`` conversation ``pair_id`` was made with; ``None`` for
        another item."""
        with self._read() as conn:
            row = conn.execute("SELECT language, scenario, roles FROM conversations WHERE pair_id = ?",
                               (pair_id,)).fetchone()
        return None if row is None else (row[0], row[1], tuple(json.loads(row[2])))

    def fresh_conversation_chunks(self, chunk_ids: Iterable[int]) -> set[int]:
        """The chunks among ``chunk_ids`` that already have a conversation made for their current
        text (created at or after the chunk's ``updated_at``): a resumed run skips them."""
        wanted = list(dict.fromkeys(chunk_ids))
        found: set[int] = set()
        with self._read() as conn:
            for first in range(0, len(wanted), _BATCH):
                batch = wanted[first:first + _BATCH]
                found.update(row[0] for row in conn.execute(
                    "SELECT DISTINCT p.chunk_id FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id"
                    f" WHERE p.chunk_id IN ({placeholders(len(batch))}) AND p.kind = 'conversation'"
                    " AND p.created_at >= c.updated_at", batch))
        return found

    def edit_turn(self, pair_id: int, position: int, content: str, *,
                  expected_revision: int | None = None) -> StoredPair:
        """Change the text of one turn of conversation ``pair_id``; return the item as stored now.

        The first change of a turn keeps the model's text in its ``original_content`` and sets
        ``edited``; the item's ``revision`` goes up by one and it is marked edited (a change of the
        first two turns also changes its ``question``/``answer``, the originals kept as
        :meth:`~dataset_gen.store_pairs.PairMethods.update_pair` keeps them). Every turn is then
        checked again against the conversation's sources and language
        (:func:`dataset_gen.conversation.check_turns`), and the item's ``flags``, ``grounded`` and
        ``language_ok`` follow. Text equal to the current text changes nothing.

        :raises StaleEditError: ``expected_revision`` is given and the stored revision differs.
        :raises StoreError: no such item or turn, or ``content`` is empty or only whitespace.
        """
        if not content.strip():
            raise StoreError(f"Turn {position + 1} of conversation {pair_id} cannot be empty: type some text")
        with self._write() as conn:
            row = conn.execute("SELECT revision FROM qa_pairs WHERE id = ?", (pair_id,)).fetchone()
            if row is None:
                raise StoreError(f"No conversation with id {pair_id}: it may have been deleted or regenerated")
            if expected_revision is not None and row[0] != expected_revision:
                raise StaleEditError(self.get_pair(pair_id), expected_revision)
            turns = list(turns_of(conn, [pair_id]).get(pair_id, ()))
            if not 0 <= position < len(turns):
                raise StoreError(f"Conversation {pair_id} has no turn {position + 1} (it has {len(turns)})")
            if turns[position].content == content:
                return self.get_pair(pair_id)
            conn.execute(
                "UPDATE conversation_turns SET content = ?, edited = 1,"
                " original_content = CASE WHEN edited = 1 THEN original_content ELSE content END"
                " WHERE pair_id = ? AND position = ?", (content, pair_id, position))
            turns[position] = replace(turns[position], content=content)
            sets = "question = ?," if position == 0 else "answer = ?," if position == 1 else ""
            conn.execute(
                f"UPDATE qa_pairs SET {sets} edited = 1, updated_at = ?, revision = revision + 1,"
                " original_question = CASE WHEN edited = 1 THEN original_question ELSE question END,"
                " original_answer = CASE WHEN edited = 1 THEN original_answer ELSE answer END WHERE id = ?",
                ((content,) if sets else ()) + (utc_now(), pair_id))
            self._recheck(conn, pair_id, turns)
        return self.get_pair(pair_id)

    @staticmethod
    def _recheck(conn: sqlite3.Connection, pair_id: int, turns: list[Turn]) -> None:
        found = _sources(conn, pair_id)
        if found is None:
            return
        sources, heading_path, language = found
        checked, grounded, flags, language_ok = check_turns(
            [t.content for t in turns], [t.evidence for t in turns if t.role == "assistant"], sources, language,
            heading_path)
        conn.executemany("UPDATE conversation_turns SET grounded = ?, flags = ? WHERE pair_id = ? AND position = ?",
                         [(int(t.grounded), json.dumps(list(t.flags)), pair_id, t.position) for t in checked])
        conn.execute("UPDATE qa_pairs SET flags = ?, grounded = ?, language_ok = ? WHERE id = ?",
                     (json.dumps(list(flags)), int(grounded), int(language_ok), pair_id))
