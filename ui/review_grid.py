"""The Review page's grid, for bulk work: a page of pairs to tick, and to edit in place.

Edits never go astray: the grid's rows are pairs by id, and each drawing of the grid is remembered
with the revision of every pair it showed (``rv_drawn``). A cell edit arrives with the next run as a
row position of *that* drawing, so it is applied to the pair that was shown there, with the revision
the person saw; when someone saved that pair since, the store refuses the edit and the conflict
panel shows the newer text beside the person's.

No click is lost: the edits are saved at the top of the run that brings them *without* a rerun, so
a button clicked in the same moment (the click that ended the cell edit) still runs its action in
that run. Ticks are kept by pair id in ``rv_ticked``, apart from any drawing, so saving an edit,
paging or filtering never clears them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.models import StoredPair
from dataset_gen.store_pairs import StaleEditError
from ui.i18n import flag_label, t
from ui.review_actions import Desk, bump_version, saw, ticked
from ui.review_conflicts import STATUSES, refused

PAGE_SIZE = 50

COLUMNS = ["status", "grounded", "language", "score", "type", "duplicate", "tag", "flags", "question", "answer",
           "edited", "document", "pages"]
"""Every column a person can show, in their order; ``select`` (the tick) and ``focus`` always show."""

DEFAULT_COLUMNS = COLUMNS[:10]
"""Shown until a person chooses: the verdicts first, so they fit on the first screen."""

SETTING = "review_columns"
"""Project settings key where the chosen columns are remembered."""


def _absorb_ticks(drawn: dict) -> None:
    state = (st.session_state.get(drawn["key"]) if drawn["key"] else None) or {}
    ids = ticked()
    for pos, change in state.get("edited_rows", {}).items():
        if int(pos) < len(drawn["rows"]) and "select" in change:
            row = drawn["rows"][int(pos)]
            if change["select"]:
                ids.setdefault(row["id"], row["revision"])
            else:
                ids.pop(row["id"], None)


def save_grid_edits(desk: Desk) -> None:
    """Take in the ticks and write the cell edits of the grid drawn in the previous run. With
    edits, the drawing is consumed and the grid is drawn from scratch in this same run."""
    drawn: dict | None = st.session_state.get("rv_drawn")
    if not drawn or not drawn["key"]:
        return
    _absorb_ticks(drawn)
    state = st.session_state.get(drawn["key"]) or {}
    edits = {int(pos): change for pos, change in state.get("edited_rows", {}).items()
             if int(pos) < len(drawn["rows"]) and set(change) - {"select"}}
    if not edits:
        return
    saved, errors = False, []
    for pos, change in sorted(edits.items()):
        row = drawn["rows"][pos]
        question, answer = (change.get(f, row[f]) or "" for f in ("question", "answer"))
        status = change.get("status") or row["status"]
        revision = row["revision"]
        try:
            if (question, answer) != (row["question"], row["answer"]):
                revision = desk.store.edit_pair(
                    row["id"], question=question if question != row["question"] else None,
                    answer=answer if answer != row["answer"] else None, expected_revision=revision).revision
                saw(row["id"], revision)
                saved = True
            if status != row["status"]:
                if desk.store.change_status([row["id"]], status, expected_revisions={row["id"]: revision}).count:
                    saw(row["id"], revision + 1)
                saved = True
        except StaleEditError as exc:
            refused(exc, {"question": question, "answer": answer, "status": status})
        except DatasetGenError as exc:
            errors.append(str(exc))
    st.session_state["rv_errors"] = st.session_state.get("rv_errors", []) + errors
    st.session_state["rv_saved"] = saved
    st.session_state["rv_drawn"] = {"key": None, "rows": [], "selected": []}
    bump_version()


def chosen_columns(desk: Desk) -> list[str]:
    """The columns the person chose (remembered in the project's settings), chosen above the grid."""
    settings = desk.store.get_settings(desk.project_id)
    saved = [c for c in settings.get(SETTING) or DEFAULT_COLUMNS if c in COLUMNS]
    chosen = st.multiselect(t("review.columns"), COLUMNS, default=saved, key=f"rv_columns_{desk.project_id}",
                            format_func=lambda c: t(f"review.col_{c}"))
    if chosen != saved and not desk.locked:
        try:
            desk.store.set_settings(desk.project_id, {**settings, SETTING: chosen})
        except DatasetGenError as exc:
            st.session_state["rv_errors"] = [str(exc)]
    return chosen


def _pages(p: StoredPair) -> str:
    if p.pages is None:
        return ""
    return str(p.pages[0]) if p.pages[0] == p.pages[1] else f"{p.pages[0]}–{p.pages[1]}"


ROW_PX = 35
"""Height of a grid row and of its header, in CSS pixels (Streamlit's data editor)."""


def _height(rows: int) -> int:
    """The grid's height in CSS pixels for ``rows`` rows: the header and up to 10 rows (then it
    scrolls), fixed so the page does not move while a grid is drawn again."""
    return (min(rows, 10) + 1) * ROW_PX + 3


def draw_grid(desk: Desk, pairs: list[StoredPair], page: int, focus_id: int) -> None:
    """The grid of ``pairs`` (page ``page`` of the filtered pairs), ``focus_id`` marked ▶."""
    columns = chosen_columns(desk)
    version = st.session_state.get("rv_version", 0)
    filters = hash(tuple(sorted((k, str(v)) for k, v in desk.filters.items())))
    key = f"rv_editor_{desk.project_id}_{filters}_{page}_{version}"
    seen = st.session_state.get("rv_drawn") or {"key": None, "rows": []}
    rows = [{"id": p.id, "revision": p.revision, "question": p.question, "answer": p.answer, "status": p.status}
            for p in pairs]
    same = key == seen["key"] and seen.get("focus") == focus_id and tuple(columns) == tuple(seen.get("columns", ()))
    if same and [(r["id"], r["revision"]) for r in rows] != [(r["id"], r["revision"]) for r in seen["rows"]]:
        same = False  # the pairs changed since (another tab, a run): draw from scratch, ticks kept by id
    if not same and key == seen["key"]:
        bump_version()
        key = f"rv_editor_{desk.project_id}_{filters}_{page}_{version + 1}"
    initial = seen["selected"] if same else sorted(ticked().keys() & {p.id for p in pairs})
    st.session_state["rv_drawn"] = {"key": key, "rows": rows, "selected": initial, "focus": focus_id,
                                    "columns": tuple(columns)}
    frame = pd.DataFrame(
        {
            "select": [p.id in initial for p in pairs],
            "focus": ["▶" if p.id == focus_id else "" for p in pairs],
            "status": [p.status for p in pairs],
            "grounded": [p.grounded for p in pairs],
            "language": [p.language_ok for p in pairs],
            "score": [p.lowest_score for p in pairs],
            "type": [f"conversation ({len(p.turns)})" if p.turns else p.question_type for p in pairs],
            "duplicate": [p.duplicate_of is not None for p in pairs],
            "tag": [desk.tags.get(p.tag_id, "") if p.tag_id is not None else "" for p in pairs],
            "flags": [", ".join(flag_label(code) for code in p.flags) for p in pairs],
            "question": [p.question for p in pairs],
            "answer": [p.answer for p in pairs],
            "edited": [p.edited for p in pairs],
            "document": [p.document for p in pairs],
            "pages": [_pages(p) for p in pairs],
        },
        index=pd.Index([p.id for p in pairs], name="id"),
    )
    st.container(key="rv_grid").data_editor(  # the container's class finds the grid in the page
        frame, key=key, hide_index=True, width="stretch", num_rows="fixed", height=_height(len(pairs)), column_order=["select", "focus", *columns],
        disabled=True if desk.locked else [c for c in frame.columns if c not in ("select", "status", "question", "answer")],
        column_config={
            "select": st.column_config.CheckboxColumn("✓", width="small"),
            "focus": st.column_config.TextColumn("", width="small"),
            "status": st.column_config.SelectboxColumn(t("review.col_status"), options=STATUSES, required=True,
                                                       width="small"),
            "grounded": st.column_config.CheckboxColumn(t("review.col_grounded"), width="small"),
            "language": st.column_config.CheckboxColumn(t("review.col_language"), width="small"),
            "score": st.column_config.NumberColumn(t("review.col_score"), width="small"),
            "type": st.column_config.TextColumn(t("review.col_type"), width="small"),
            "duplicate": st.column_config.CheckboxColumn(t("review.col_duplicate"), width="small"),
            "tag": st.column_config.TextColumn(t("review.col_tag"), width="small"),
            "flags": st.column_config.TextColumn(t("review.col_flags"), help=t("review.flags_help"), width="small"),
            "question": st.column_config.TextColumn(t("review.col_question"), width="medium"),
            "answer": st.column_config.TextColumn(t("review.col_answer"), width="medium"),
            "edited": st.column_config.CheckboxColumn(t("review.col_edited"), width="small"),
            "document": st.column_config.TextColumn(t("review.col_document"), width="small"),
            "pages": st.column_config.TextColumn(t("review.col_pages"), width="small"),
        },
    )
