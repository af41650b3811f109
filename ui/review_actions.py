"""What the Review page changes, each undoable: one pair's status or text, and bulk status changes.

Every change is written at once and pushed on this browser session's undo list
(``rv_undo``, newest last, at most :data:`UNDO_DEPTH`); Undo takes back the newest. An undo
never overwrites a later change: each entry holds the revision its change left, and a pair that
has moved on since is kept as it is (the store refuses or skips it, and the page says how many).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.store import Store
from dataset_gen.store_pairs import StaleEditError
from dataset_gen.store_review import StatusChange
from ui.i18n import t

UNDO_DEPTH = 50
"""Most changes a session can undo, newest first."""


@dataclass
class Desk:
    """What every part of the Review page shares in one run: the store, the project, the filters
    (keyword arguments of :meth:`Store.list_pairs`), how many pairs they match, and whether
    nothing can be saved."""

    store: Store
    project_id: int
    filters: dict[str, Any]
    total: int
    locked: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TextEdit:
    """An edit of one pair's text: what it read before, the revision it read so at (``prior``),
    and the revision the edit left."""

    pair_id: int
    question: str
    answer: str
    prior: int
    revision: int


def bump_version() -> None:
    """Draw the grid from scratch on this run (its key changes), so no stale edit is re-applied."""
    st.session_state["rv_version"] = st.session_state.get("rv_version", 0) + 1


def ticked() -> dict[int, int]:
    """The ticked pairs (any page, any filter): pair id → the revision the person saw it at."""
    return st.session_state.setdefault("rv_ticked", {})


def saw(pair_id: int, revision: int) -> None:
    """This session changed the pair to ``revision``: a tick on it now stands for that revision."""
    if pair_id in ticked():
        ticked()[pair_id] = revision


def push_undo(entry: StatusChange | TextEdit) -> None:
    """Remember a change so Undo can take it back."""
    undo = st.session_state.setdefault("rv_undo", [])
    undo.append(entry)
    del undo[:-UNDO_DEPTH]


def undo_label(entry: StatusChange | TextEdit) -> str:
    """What Undo would take back, for its button."""
    if isinstance(entry, TextEdit):
        return t("review.undo_edit", id=entry.pair_id)
    return t("review.undo_status", n=entry.count, status=t(f"status.{entry.status}"))


def _retarget(pair_id: int, old: int, new: int) -> None:
    """An undo put pair ``pair_id`` back to the state it had at revision ``old``, now stored as
    revision ``new``: the older undo entries that left it at ``old`` now expect ``new``."""
    undo = st.session_state.get("rv_undo") or []
    for i, entry in enumerate(undo):
        if isinstance(entry, TextEdit):
            if entry.pair_id == pair_id and entry.revision == old:
                undo[i] = replace(entry, revision=new)
        elif any(b[0] == pair_id and b[3] == old for b in entry.before):
            undo[i] = replace(entry, before=tuple((*b[:3], new) if b[0] == pair_id and b[3] == old else b
                                                  for b in entry.before))


def undo_last(store: Store) -> None:
    """Take back the newest change of the undo list; the outcome goes to ``rv_notice`` or
    ``rv_errors``."""
    undo = st.session_state.get("rv_undo") or []
    if not undo:
        return
    entry = undo.pop()
    try:
        if isinstance(entry, TextEdit):
            now = store.update_pair(entry.pair_id, question=entry.question, answer=entry.answer,
                                    expected_revision=entry.revision)
            _retarget(entry.pair_id, entry.prior, now.revision)
            saw(entry.pair_id, now.revision)
            st.session_state["rv_notice"] = t("review.undone_edit", id=entry.pair_id)
        else:
            restored, kept = store.undo_status_change(entry)
            for pair_id, _, prior, revision in entry.before:
                if pair_id in restored:
                    _retarget(pair_id, prior, revision + 1)
                    saw(pair_id, revision + 1)
            st.session_state["rv_notice"] = t("review.undone_status", n=len(restored), kept=len(kept))
    except StaleEditError:
        st.session_state["rv_notice"] = t("review.undo_stale", id=entry.pair_id)
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
    bump_version()


def set_one_status(store: Store, pair_id: int, revision: int, before: str, status: str) -> bool:
    """Give one pair ``status`` from the revision the person saw; push it on the undo list.
    Returns whether the store took it (a stale pair is kept for the conflict panel)."""
    from ui.review_conflicts import refused  # a cycle otherwise: the conflict panel saves too

    try:
        if store.set_status([pair_id], status, expected_revisions={pair_id: revision}):
            push_undo(StatusChange(status, ((pair_id, before, revision, revision + 1),)))
            saw(pair_id, revision + 1)
        st.session_state["rv_saved"] = True
        return True
    except StaleEditError as exc:
        refused(exc, {"question": exc.current.question, "answer": exc.current.answer, "status": status})
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
    return False


def bulk(desk: Desk, ids: list[int], status: str, *, untick: bool = False) -> None:
    """Give ``ids`` ``status`` in one transaction and push it on the undo list. With ``untick``
    (the ticked pairs) each must still be at the revision it was ticked at, else nothing changes
    and the newer text is shown; the ticks are cleared once done."""
    from ui.review_conflicts import refused

    try:
        change = desk.store.change_status(ids, status, expected_revisions=dict(ticked()) if untick else None)
    except StaleEditError as exc:
        refused(exc, {"question": exc.current.question, "answer": exc.current.answer, "status": status})
        bump_version()
        return
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
        return
    if change.count:
        push_undo(change)
    if untick:
        st.session_state["rv_ticked"] = {}
    st.session_state["rv_notice"] = t("review.bulk_done", n=change.count, status=t(f"status.{status}"))
    bump_version()


def _dismissed() -> None:
    st.session_state.pop("rv_confirm", None)


@st.dialog(t("review.bulk_title"), width="small", on_dismiss=_dismissed)
def _confirm(desk: Desk) -> None:
    """Ask before a bulk change: how many pairs, to which status; Enter confirms."""
    ask = st.session_state["rv_confirm"]
    ids, status = ask["ids"], ask["status"]
    st.write(t("review.bulk_confirm", n=len(ids), status=t(f"status.{status}"), what=ask["what"]))
    yes, no = st.columns(2)
    if yes.button(t("review.bulk_yes", n=len(ids)), key="rv_bulk_yes", type="primary", shortcut="Enter"):
        st.session_state.pop("rv_confirm", None)
        bulk(desk, ids, status, untick=ask["untick"])
        st.rerun()
    if no.button(t("review.bulk_no"), key="rv_bulk_no"):
        st.session_state.pop("rv_confirm", None)
        st.rerun()


def bulk_bar(desk: Desk) -> None:
    """Buttons for the ticked pairs and for every filtered pair; each asks first with the count
    (the question stays open in ``rv_confirm`` until answered or dismissed)."""
    chosen = list(ticked())
    b1, b2, b3, b4 = st.columns(4)
    for column, status, key in ((b1, "accepted", "accept_sel"), (b2, "rejected", "reject_sel")):
        if column.button(t(f"review.{key}", n=len(chosen)), key=f"rv_{key}", disabled=desk.locked or not chosen):
            st.session_state["rv_confirm"] = {"ids": chosen, "status": status, "what": t("review.what_ticked"),
                                              "untick": True}
    for column, status, key in ((b3, "accepted", "accept_all"), (b4, "rejected", "reject_all")):
        if column.button(t(f"review.{key}", n=desk.total), key=f"rv_{key}", disabled=desk.locked):
            st.session_state["rv_confirm"] = {"ids": desk.store.pair_ids(desk.project_id, **desk.filters),
                                              "status": status, "what": t("review.what_filtered"), "untick": False}
    if "rv_confirm" in st.session_state and not desk.locked:
        _confirm(desk)
