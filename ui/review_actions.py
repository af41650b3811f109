"""What the Review page changes, each undoable: one pair's status or text, and bulk status changes.

Every change is written at once as one batch of the project's review trail in the database
(:mod:`dataset_gen.store_audit`), so Undo takes back the newest batch even after a reload or from
another tab. An undo never overwrites a later change: a pair that has moved on since is kept as
it is (the store skips it, and the page says how many).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.store import Store
from dataset_gen.store_audit import Batch
from dataset_gen.store_pairs import StaleEditError
from ui.i18n import t


@dataclass
class Desk:
    """What every part of the Review page shares in one run: the store, the project, the filters
    (keyword arguments of :meth:`Store.list_pairs`), how many pairs they match, whether
    nothing can be saved, and the project's tag paths by tag id (for the filter and the grid)."""

    store: Store
    project_id: int
    filters: dict[str, Any]
    total: int
    locked: bool
    notes: list[str] = field(default_factory=list)
    tags: dict[int, str] = field(default_factory=dict)


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


def undo_label(batch: Batch) -> str:
    """What Undo would take back, for its button."""
    if batch.edited_pair is not None:
        return t("review.undo_edit", id=batch.edited_pair)
    return t("review.undo_status", n=batch.count, status=t(f"status.{batch.status}"))


def undo_last(store: Store, project_id: int, batch_id: int | None = None) -> None:
    """Take back the project's newest change in the trail (only if it is still ``batch_id``, the
    one the button named); the outcome (one line) goes to ``rv_notice`` or ``rv_errors``."""
    try:
        result = store.undo_last(project_id, batch_id)
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
        return
    if result is None:
        return
    for pair_id in set(result.restored) & ticked().keys():
        saw(pair_id, store.get_pair(pair_id).revision)
    if result.batch.edited_pair is not None:
        st.session_state["rv_notice"] = t("review.undo_stale" if result.kept else "review.undone_edit",
                                          id=result.batch.edited_pair)
    else:
        st.session_state["rv_notice"] = t("review.undone_status", n=len(result.restored), kept=len(result.kept))
    bump_version()


def set_one_status(store: Store, pair_id: int, revision: int, status: str) -> bool:
    """Give one pair ``status`` from the revision the person saw (one batch of the trail).
    Returns whether the store took it (a stale pair is kept for the conflict panel)."""
    from ui.review_conflicts import refused  # a cycle otherwise: the conflict panel saves too

    try:
        if store.change_status([pair_id], status, expected_revisions={pair_id: revision}).count:
            saw(pair_id, revision + 1)
        st.session_state["rv_saved"] = True
        return True
    except StaleEditError as exc:
        refused(exc, {"question": exc.current.question, "answer": exc.current.answer, "status": status})
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
    return False


def bulk(desk: Desk, ids: list[int], status: str, *, untick: bool = False) -> None:
    """Give ``ids`` ``status`` in one transaction (one batch of the trail). With ``untick``
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
    if untick:
        st.session_state["rv_ticked"] = {}
    st.session_state["rv_notice"] = t("review.bulk_done", n=change.count, status=t(f"status.{status}"))
    bump_version()


def _dismissed() -> None:
    st.session_state.pop("rv_confirm", None)


def _yes(desk: Desk) -> None:
    """The confirmed bulk change, as the Yes button's callback (see :func:`bulk_bar`). A grid
    edit that reached the server with this click is saved first: the bulk change moves every
    pair's revision on, and the edit, saved after it, would be refused as made on older text."""
    from ui.review_grid import save_grid_edits

    ask = st.session_state.pop("rv_confirm", None)
    if ask is not None:
        save_grid_edits(desk)
        bulk(desk, ask["ids"], ask["status"], untick=ask["untick"])


@st.dialog(t("review.bulk_title"), width="small", on_dismiss=_dismissed)
def _confirm(desk: Desk) -> None:
    """Ask before a bulk change: how many pairs, to which status; Enter confirms."""
    ask = st.session_state.get("rv_confirm")
    if ask is None:  # answered (the callbacks ran) in this rerun of the dialog alone: redraw the page
        st.rerun()
    ids, status = ask["ids"], ask["status"]
    st.write(t("review.bulk_confirm", n=len(ids), status=t(f"status.{status}"), what=ask["what"]))
    yes, no = st.columns(2)
    yes.button(t("review.bulk_yes", n=len(ids)), key="rv_bulk_yes", type="primary", shortcut="Enter",
               on_click=_yes, args=(desk,))
    no.button(t("review.bulk_no"), key="rv_bulk_no", on_click=_dismissed)


def _asked(scope: str, status: str, filters: dict[str, Any]) -> None:
    """A bulk button's callback: remember what was asked (``scope`` "ticked" or "filtered", the
    ``filters`` the page showed when it was clicked) for :func:`bulk_bar` to ask about."""
    st.session_state["rv_asked"] = (scope, status, filters)


def bulk_bar(desk: Desk) -> None:
    """Buttons for the ticked pairs and for every filtered pair; each asks first with the count
    (the question stays open in ``rv_confirm`` until answered or dismissed).

    The buttons and the confirmation act through callbacks (``on_click``), which Streamlit runs
    at the very start of the run a click brings, before anything can interrupt it: a click sent
    together with a grid edit (the grid sends its edit when it loses the focus, just after the
    click) starts a run that the edit's own request interrupts at once, and a plain ``if
    st.button(...)`` would never see that click. The filters are those shown when clicked."""
    chosen = list(ticked())
    b1, b2, b3, b4 = st.columns(4)
    for column, status, key in ((b1, "accepted", "accept_sel"), (b2, "rejected", "reject_sel")):
        column.button(t(f"review.{key}", n=len(chosen)), key=f"rv_{key}", disabled=desk.locked or not chosen,
                      on_click=_asked, args=("ticked", status, dict(desk.filters)))
    for column, status, key in ((b3, "accepted", "accept_all"), (b4, "rejected", "reject_all")):
        column.button(t(f"review.{key}", n=desk.total), key=f"rv_{key}", disabled=desk.locked,
                      on_click=_asked, args=("filtered", status, dict(desk.filters)))
    asked = st.session_state.pop("rv_asked", None)
    if asked is not None:
        scope, status, filters = asked
        if scope == "ticked":
            ids = list(ticked())  # read after this run took in the grid's ticks
            what, untick = t("review.what_ticked"), True
        else:
            ids = desk.store.pair_ids(desk.project_id, **filters)
            what, untick = t("review.what_filtered"), False
        if ids:
            st.session_state["rv_confirm"] = {"ids": ids, "status": status, "what": what, "untick": untick}
    if "rv_confirm" in st.session_state and not desk.locked:
        _confirm(desk)


def history_panel(desk: Desk, limit: int = 50) -> None:
    """The project's newest ``limit`` changes from the review trail, newest first: which pair,
    its status before → after, its text before an edit, when, and whether Undo took it back (or
    kept it, changed since). Text is shown in a table, never as Markdown."""
    with st.expander(t("review.history")):
        try:
            rows = desk.store.review_history(desk.project_id, limit)
        except DatasetGenError as exc:
            st.session_state["rv_errors"] = [str(exc)]
            return
        if not rows:
            st.caption(t("review.history_none"))
            return
        st.dataframe(pd.DataFrame({
            t("review.history_batch"): [r[0] for r in rows],
            t("review.history_pair"): [r[1] for r in rows],
            t("review.history_status"): [f"{t(f'status.{r[2]}')} → {t(f'status.{r[3]}')}" for r in rows],
            t("review.history_before"): ["" if r[4] is None else f"Q: {r[4]}\nA: {r[5]}" for r in rows],
            t("review.history_when"): [r[8] for r in rows],
            t("review.history_undone"): [r[9] is not None for r in rows],
            t("review.history_kept"): [r[10] == 1 for r in rows],
        }), hide_index=True, width="stretch")
