"""Review of a conversation item in the focus panel: its turns one by one, each assistant turn's
evidence highlighted in the source (its chunk and any neighbour chunk), every turn editable (the
model's text kept), the checks of every turn. Accept and reject are the focus panel's own buttons,
for the whole conversation.

All document and model text is shown as text (:mod:`ui.safe`), never as Markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.grounding import locate
from dataset_gen.models import StoredPair, Turn
from dataset_gen.store_pairs import StaleEditError
from ui.i18n import flag_label, t
from ui.review_actions import Desk, bump_version, saw
from ui.review_conflicts import refused
from ui.safe import highlighted, md_escape, text_block


def _save_turn(desk: Desk, pair: StoredPair, turn: Turn, content: str) -> None:
    try:
        saved = desk.store.edit_turn(pair.id, turn.position, content, expected_revision=pair.revision)
        saw(pair.id, saved.revision)
        st.session_state["rv_saved"] = True
        st.session_state.pop("rv_turn_editing", None)
    except StaleEditError as exc:
        refused(exc, {"question": pair.question, "answer": pair.answer, "status": pair.status})
        st.session_state.pop("rv_turn_editing", None)
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
    bump_version()
    st.rerun()


def _turn(desk: Desk, pair: StoredPair, turn: Turn, source: str) -> None:
    speaker = t("conv.user") if turn.role == "user" else t("conv.assistant")
    editing = st.session_state.get("rv_turn_editing") == (pair.id, turn.position)
    if editing:
        with st.form(f"rv_turn_form_{pair.id}_{turn.position}_{pair.revision}", border=False):
            content = st.text_area(t("conv.turn", n=turn.position + 1, role=speaker), turn.content,
                                   key=f"rv_turn_text_{pair.id}_{turn.position}_{pair.revision}")
            s1, s2 = st.columns(2)
            save = s1.form_submit_button(t("review.save_edit"), type="primary")
            cancel = s2.form_submit_button(t("review.cancel_edit"))
        if save:
            _save_turn(desk, pair, turn, content)
        if cancel:
            st.session_state.pop("rv_turn_editing", None)
            st.rerun()
        return
    rows = [(f"{turn.position + 1}. {speaker}:", turn.content)]
    if turn.role == "assistant":
        rows.append((t("conv.evidence"), turn.evidence))
    if turn.edited:
        rows.append((t("conv.original"), turn.original_content or ""))
    st.html(text_block(rows, f"conv-turn-{turn.position}"))
    if turn.role == "assistant":
        flags = ", ".join(flag_label(code) for code in turn.flags) or t("review.no_flags")
        grounded = t("review.rechecked_grounded") if turn.grounded else "⚠ " + t("review.rechecked_ungrounded")
        st.caption(md_escape(f"{grounded} · {flags}"))
        with st.expander(t("conv.in_source")):
            st.html(highlighted(source, locate(turn.evidence, source), f"conv-source-{turn.position}"))
    if st.button(t("conv.edit_turn", n=turn.position + 1), key=f"rv_turn_edit_{pair.id}_{turn.position}",
                 disabled=desk.locked):
        st.session_state["rv_turn_editing"] = (pair.id, turn.position)
        st.rerun()


def conversation_body(desk: Desk, pair: StoredPair) -> None:
    """The turns of conversation ``pair`` with their checks and evidence, each editable, then its
    source; the scenario and roles it was asked with above them."""
    settings = desk.store.conversation_settings(pair.id)
    if settings is not None and (settings[1] or settings[2]):
        st.caption(md_escape(t("conv.asked", scenario=settings[1] or "—", roles=" / ".join(settings[2]) or "—")))
    flags = ", ".join(flag_label(code) for code in pair.flags) or t("review.no_flags")
    st.caption(md_escape(t("conv.summary", n=len(pair.turns) // 2, flags=flags))
               + (" · ⚠ " + t("review.rechecked_ungrounded") if not pair.grounded else ""))
    source = "\n\n".join(text for text in pair.reference_contexts if text)
    for turn in pair.turns:
        _turn(desk, pair, turn, source)
    st.caption(t("review.source"))
    st.html(highlighted(source, None, "source-chunk"))
