"""Changes the store refused as stale (someone saved the pair since the person saw it): each is
kept in ``rv_conflicts`` (pair id → the question, answer and status the person wanted, and the
revision now stored) and shown beside the newer text until the person saves or discards it."""

from __future__ import annotations

import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.store import Store
from dataset_gen.store_pairs import StaleEditError
from ui.i18n import t
from ui.review_actions import bump_version
from ui.safe import md_escape, text_block

STATUSES = ["generated", "accepted", "rejected"]


def refused(exc: StaleEditError, mine: dict) -> None:
    """Keep a change the store refused as stale (``mine``: the pair's question, answer and status
    as the person wanted them), to show beside the newer text until it is saved or discarded."""
    conflicts = st.session_state.setdefault("rv_conflicts", {})
    conflicts[exc.current.id] = {**mine, "revision": exc.current.revision}


def conflict_panel(store: Store, pair_id: int, mine: dict, locked: bool) -> None:
    """A refused change: the pair as saved now beside the person's version, which they can save
    over it (from the revision shown here) or discard."""
    conflicts = st.session_state["rv_conflicts"]
    try:
        now = store.get_pair(pair_id)
    except DatasetGenError as exc:
        st.error(md_escape(str(exc)))
        conflicts.pop(pair_id)
        return
    with st.container(border=True, key=f"rv_conflict_{pair_id}"):
        st.warning(t("review.stale", id=pair_id))
        theirs, yours = st.columns(2)
        with theirs:
            st.caption(t("review.stale_theirs"))
            st.html(text_block([("Q:", now.question), ("A:", now.answer), (t("review.status") + ":", now.status)],
                               f"stale-theirs-{pair_id}"))
        with yours:
            st.caption(t("review.stale_mine"))
            question = st.text_area("Q", mine["question"], key=f"rv_mine_q_{pair_id}")
            answer = st.text_area("A", mine["answer"], key=f"rv_mine_a_{pair_id}")
            status = st.selectbox(t("review.status"), STATUSES, index=STATUSES.index(mine["status"]),
                                  key=f"rv_mine_s_{pair_id}")
            b1, b2 = st.columns(2)
            if b1.button(t("review.stale_save"), key=f"rv_mine_save_{pair_id}", type="primary", disabled=locked):
                mine = {"question": question, "answer": answer, "status": status}
                try:
                    revision = store.edit_pair(
                        pair_id, question=question if question != now.question else None,
                        answer=answer if answer != now.answer else None, expected_revision=conflicts[pair_id]["revision"],
                    ).revision
                    store.change_status([pair_id], status, expected_revisions={pair_id: revision})
                    conflicts.pop(pair_id)
                    st.session_state["rv_saved"] = True
                except StaleEditError as exc:
                    refused(exc, mine)
                except DatasetGenError as exc:
                    st.session_state["rv_errors"] = [str(exc)]
                bump_version()
                st.rerun()
            if b2.button(t("review.stale_discard"), key=f"rv_mine_discard_{pair_id}"):
                conflicts.pop(pair_id)
                bump_version()
                st.rerun()


def conflicts(store: Store, locked: bool) -> None:
    """Every kept conflict's panel, oldest first."""
    for pair_id, mine in list(st.session_state.get("rv_conflicts", {}).items()):
        conflict_panel(store, pair_id, mine, locked)
