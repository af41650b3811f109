"""Focus review: one pair at a time beside the grid, with its source chunk and the evidence
highlighted, driven from the keyboard with Streamlit's own button shortcuts (``st.button(...,
shortcut=...)``, which Streamlit ignores while the cursor is in a text field unless a modifier is
held): J next, K previous, A accept, X reject, E edit (Ctrl+Enter saves, Esc cancels), U undo.
(Streamlit reserves C and R.)

The focused pair is a position in the filtered list (``rv_pos``). Accepting or rejecting moves on
to the next pair: when the pair stays in the filter the position goes up by one, when it leaves
the filter the next pair takes its place.

After every save the pair is shown re-checked (the store re-checks it in the same transaction):
its flags, grounding, language and script (with an offer to convert Simplified Chinese to
Traditional for a Traditional document), near-duplicate, and a mark when a judge score is from
before the edit.
"""

from __future__ import annotations

import streamlit as st

from dataset_gen.choice import LETTERS
from dataset_gen.errors import DatasetGenError
from dataset_gen.grounding import locate
from dataset_gen.language import detect_language, language_name, script_problem
from dataset_gen.models import StoredPair
from dataset_gen.quality import to_traditional
from dataset_gen.store_pairs import StaleEditError
from ui.i18n import flag_label, t
from ui.review_actions import Desk, bump_version, saw, set_one_status
from ui.review_conflicts import refused
from ui.review_conversation import conversation_body
from ui.review_keys import key_queue
from ui.safe import highlighted, md_escape, text_block

KEYS = {"next": "J", "previous": "K", "accept": "A", "reject": "X", "edit": "E", "undo": "U",
        "save": "Ctrl+Enter", "cancel": "Esc"}
"""The focus panel's keyboard shortcuts."""

BUTTONS = {"next": "rv_next", "previous": "rv_prev", "accept": "rv_accept", "reject": "rv_reject", "edit": "rv_edit",
           "undo": "rv_undo_button"}
"""The button each letter key presses (their ``key=``): :func:`ui.review_keys.key_queue` keeps
presses made while the page reruns."""


def position(total: int) -> int:
    """The focused position in the filtered list, kept within ``0 .. total - 1``."""
    pos = min(max(int(st.session_state.get("rv_pos", 0)), 0), max(total - 1, 0))
    st.session_state["rv_pos"] = pos
    return pos


def move(pos: int) -> None:
    """Focus position ``pos`` and redraw."""
    st.session_state["rv_pos"] = pos
    st.session_state.pop("rv_editing", None)
    st.rerun()


def _decide(desk: Desk, pair: StoredPair, pos: int, status: str) -> None:
    if set_one_status(desk.store, pair.id, pair.revision, status):
        # Only the status filter looks at the status, so the pair stays in the list exactly when
        # its new status is one the filter shows (no second count of every pair).
        pos = pos + 1 if status in desk.filters["statuses"] else pos
    bump_version()
    move(min(pos, max(desk.total - 1, 0)))


def _save_edit(desk: Desk, pair: StoredPair, question: str, answer: str) -> None:
    try:
        saved = desk.store.edit_pair(pair.id, question=question if question != pair.question else None,
                                       answer=answer if answer != pair.answer else None,
                                       expected_revision=pair.revision)
        if saved.revision != pair.revision:
            saw(pair.id, saved.revision)
            st.session_state["rv_rechecked"] = pair.id
        st.session_state["rv_saved"] = True
        st.session_state.pop("rv_editing", None)
    except StaleEditError as exc:
        refused(exc, {"question": question, "answer": answer, "status": pair.status})
        st.session_state.pop("rv_editing", None)
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]  # the edit stays open with the person's text
    bump_version()
    st.rerun()


def recheck_notes(desk: Desk, pair: StoredPair) -> None:
    """What the checks say about the pair's current text, with the offer to convert it."""
    language = detect_language(pair.chunk_text)
    flags = ", ".join(flag_label(code) for code in pair.flags) or t("review.no_flags")
    st.caption(t("review.rechecked_flags", flags=flags))
    st.caption(t("review.rechecked_grounded") if pair.grounded else t("review.rechecked_ungrounded"))
    problem = script_problem(f"{pair.question} {pair.answer}", language) or (
        script_problem(pair.answer, language) if "wrong_language" in pair.flags else None)
    if problem is None:
        st.caption(t("review.rechecked_language", name=language_name(language)))
    else:
        st.caption("⚠ " + t("review.rechecked_language_problem", problem=md_escape(problem)))
        converted = (to_traditional(pair.question), to_traditional(pair.answer))
        if language == "zh-TW" and converted != (pair.question, pair.answer) and st.button(
                t("review.convert_one"), key="rv_convert_one", disabled=desk.locked):
            _save_edit(desk, pair, *converted)
    if pair.duplicate_of is not None:
        st.caption(t("review.duplicate_of", id=pair.duplicate_of))
    if pair.id in desk.store.stale_judgements([pair.id]):
        st.caption("⚠ " + t("review.judge_stale"))
        if st.button(t("review.judge_again"), key="rv_judge_again", disabled=desk.locked):
            try:
                desk.store.clear_judgement(pair.id)
            except DatasetGenError as exc:
                st.session_state["rv_errors"] = [str(exc)]
            bump_version()
            st.rerun()


def focus_panel(desk: Desk) -> None:
    """One pair of the filtered list with its buttons, text, checks and source."""
    pos = position(desk.total)
    found = desk.store.list_pairs(desk.project_id, **desk.filters, limit=1, offset=pos)
    if not found:
        return
    pair = found[0]
    key_queue({KEYS[name]: button for name, button in BUTTONS.items()})  # first: in place as early as can be
    st.subheader(t("review.focus", n=pos + 1, total=desk.total))
    n1, n2, n3, n4, n5 = st.columns(5)
    if n1.button(t("review.previous"), key="rv_prev", shortcut=KEYS["previous"], disabled=pos == 0):
        move(pos - 1)
    if n2.button(t("review.next"), key="rv_next", shortcut=KEYS["next"], disabled=pos + 1 >= desk.total):
        move(pos + 1)
    if n3.button(t("review.accept"), key="rv_accept", shortcut=KEYS["accept"], type="primary", disabled=desk.locked):
        _decide(desk, pair, pos, "accepted")
    if n4.button(t("review.reject"), key="rv_reject", shortcut=KEYS["reject"], disabled=desk.locked):
        _decide(desk, pair, pos, "rejected")
    editing = st.session_state.get("rv_editing") == pair.id
    if n5.button(t("review.edit"), key="rv_edit", shortcut=KEYS["edit"], disabled=desk.locked or editing):
        st.session_state["rv_editing"] = pair.id
        st.rerun()
    pages = "" if pair.pages is None else f" · p. {pair.pages[0]}" + (
        "" if pair.pages[0] == pair.pages[1] else f"–{pair.pages[1]}")
    st.caption(t("review.focus_pair", id=pair.id, status=t(f"status.{pair.status}")))
    if pair.chunk_id is None:  # made from the model's own knowledge or from examples: no source to show
        st.caption(t("review.no_source", origin=t(f"origin.{pair.origin}")))
    else:
        st.caption(md_escape(
            f"{pair.document} · {' > '.join(pair.heading_path) or '—'}{pages} · chunk #{pair.chunk_ordinal}"))
    if pair.turns:  # a conversation: turn by turn, each turn editable
        return conversation_body(desk, pair)
    if editing:
        with st.form(f"rv_edit_form_{pair.id}_{pair.revision}", border=False):
            question = st.text_area(t("review.col_question"), pair.question, key=f"rv_fq_{pair.id}_{pair.revision}")
            answer = st.text_area(t("review.col_answer"), pair.answer, key=f"rv_fa_{pair.id}_{pair.revision}")
            s1, s2 = st.columns(2)
            save = s1.form_submit_button(t("review.save_edit"), type="primary", shortcut=KEYS["save"])
            cancel = s2.form_submit_button(t("review.cancel_edit"), shortcut=KEYS["cancel"])
        if save:
            _save_edit(desk, pair, question, answer)
        if cancel:
            st.session_state.pop("rv_editing", None)
            st.rerun()
    else:
        shown = [(t("review.label_q"), pair.question)]
        if pair.choices:  # an objective question: its options, the correct one marked
            shown += [(f"{letter}.", f"{option}  ✓" if option == pair.answer else option)
                      for letter, option in zip(LETTERS, pair.choices, strict=False)]
        shown += [(t("review.label_a"), pair.answer), (t("review.label_evidence"), pair.evidence)]
        if pair.reasoning:
            shown.append((t("review.label_reasoning"), pair.reasoning))
        if pair.edited:
            shown += [(t("review.label_original_q"), pair.original_question or ""),
                      (t("review.label_original_a"), pair.original_answer or "")]
        st.html(text_block(shown, "focus-pair"))
    if pair.faithfulness is not None:
        st.caption(t("review.scores", f=pair.faithfulness, r=pair.relevance, c=pair.clarity,
                     reason=md_escape(pair.judge_reason)))
    recheck_notes(desk, pair)
    if pair.chunk_id is not None:
        st.caption(t("review.source"))
        text = "\n\n".join(pair.reference_contexts)
        st.html(highlighted(text, locate(pair.evidence, text), "source-chunk"))
    st.caption(t("review.keys"))
