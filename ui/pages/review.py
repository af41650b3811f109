"""Review: filter the pairs, work through them one at a time from the keyboard (the focus panel,
:mod:`ui.review_focus`) or in bulk in the grid (:mod:`ui.review_grid`), each beside its source
chunk with the evidence highlighted. Every change is written to the store at once, re-checked
there, and can be undone (:mod:`ui.review_actions`); changes refused as stale are shown by
:mod:`ui.review_conflicts`."""

import contextlib

import streamlit as st

from dataset_gen.checks import REASONS, describe
from dataset_gen.errors import DatasetGenError
from dataset_gen.judge import JudgeSummary
from dataset_gen.models import GENERATED_KINDS, QUESTION_TYPES
from dataset_gen.quality import convert_to_traditional, mark_duplicates
from ui.common import (
    changed,
    get_registry,
    get_store,
    project_backend,
    project_config,
    read_only,
    require_project,
)
from ui.i18n import flag_label, t
from ui.review_actions import Desk, bulk_bar, bump_version, history_panel, undo_label, undo_last
from ui.review_conflicts import STATUSES, conflicts
from ui.review_focus import KEYS, focus_panel, position
from ui.review_grid import PAGE_SIZE, draw_grid, save_grid_edits
from ui.safe import md_escape, one_line

store = get_store()
registry = get_registry()
project_id = require_project()
locked = read_only()  # nothing can be saved: editing, accepting and the quality checks are disabled
config = project_config(project_id)
if not locked and not st.session_state.get(f"rv_flags_filled_{project_id}"):
    with contextlib.suppress(DatasetGenError):  # a full disk: pairs made before the checks show no flags
        store.fill_flags(project_id)  # once a session: only pairs made before the checks lack flags
        st.session_state[f"rv_flags_filled_{project_id}"] = True
st.title(t("review.title"))
desk = Desk(store, project_id, {}, 0, locked)
save_grid_edits(desk)  # first, and without a rerun: a button clicked with the edit still acts

documents = store.document_names(project_id)
c1, c2, c3, c4 = st.columns(4)
statuses = c1.multiselect(t("review.status"), STATUSES, default=STATUSES, key="rv_status",
                          format_func=lambda s: t(f"status.{s}"))
doc_id = c2.selectbox(t("chunks.document"), [None, *documents], key="rv_doc",
                      format_func=lambda i: t("review.any") if i is None else documents[i])
tri = {None: t("review.any"), True: t("review.yes"), False: t("review.no")}
grounded = c3.selectbox(t("review.grounded"), list(tri), format_func=lambda k: tri[k], key="rv_grounded")
edited = c4.selectbox(t("review.edited"), list(tri), format_func=lambda k: tri[k], key="rv_edited")
c5, c6, c7, c8 = st.columns(4)
kinds = [None, *QUESTION_TYPES]
question_type = c5.selectbox(t("review.type"), kinds, key="rv_type",
                             format_func=lambda k: t("review.any") if k is None else t(f"type.{k}"))
duplicate = c6.selectbox(t("review.duplicate"), list(tri), format_func=lambda k: tri[k], key="rv_dup")
language_ok = c7.selectbox(t("review.language_ok"), list(tri), format_func=lambda k: tri[k], key="rv_lang")
low = c8.checkbox(t("review.low_scores", n=config.judge_threshold), key="rv_low")
c9, c10, c11, c12 = st.columns(4)  # what an item is, where it comes from, its domain tag (dataset_gen.tags)
flag = c9.selectbox(t("review.flag"), [None, *REASONS], key="rv_flag",
                    format_func=lambda k: t("review.any") if k is None else flag_label(k))
item_kind = c10.selectbox(t("review.kind"), [None, *GENERATED_KINDS], key="rv_kind",
                          format_func=lambda k: t("review.any") if k is None else t(f"kind.{k}"))
origin = c11.selectbox(t("review.origin"), [None, "document", "model", "examples"], key="rv_origin",
                       format_func=lambda k: t("review.any") if k is None else t(f"origin.{k}"))
desk.tags = {r.id: r.path for r in store.list_tags(project_id)}
tag_names = {0: t("review.untagged"), **desk.tags}
tag_id = c12.selectbox(t("review.tag"), [None, *tag_names], key="rv_tag",
                       format_func=lambda k: t("review.any") if k is None else tag_names[k])
if flag is not None:
    st.caption(describe(flag))
search = st.text_input(t("review.search"), key="rv_search").strip() or None
desk.filters = dict(origin=origin, tag_id=tag_id, statuses=statuses or STATUSES, document_id=doc_id,
                    grounded=grounded, edited=edited, search=search,
                    question_type=question_type, duplicate=duplicate, language_ok=language_ok,
                    score_below=config.judge_threshold if low else None, flag=flag, kind=item_kind)

with st.expander(t("review.quality")):
    q1, q2, q3 = st.columns(3)
    judge = registry.get(project_id, "judge")
    if q1.button(t("review.judge", model=md_escape(config.judge_model) or "—"), disabled=locked
                 or not config.judge_model or bool(judge and judge.running)):
        registry.start_judging(project_id, project_backend(config), config.judge_model, concurrency=config.concurrency)
        st.rerun()
    if q2.button(t("review.dedupe"), disabled=locked):
        try:
            found = mark_duplicates(store, project_id, backend=project_backend(config) if config.embedding_model else None,
                                    embedding_model=config.embedding_model)
            st.session_state["rv_notice"] = t("review.dedupe_done", clusters=len(found.clusters),
                                              marked=sum(len(c.members) - 1 for c in found.clusters))
        except DatasetGenError as exc:
            st.session_state["rv_errors"] = [str(exc)]
        bump_version()
        st.rerun()
    if q3.button(t("review.convert"), disabled=locked):
        converted: list[int] = []
        if changed(lambda: converted.append(convert_to_traditional(store, project_id))):
            st.session_state["rv_notice"] = t("review.converted", n=converted[0])
            bump_version()
            st.rerun()

    # Ticks only while a judge runs: an idle page does not rerun every second (a click landing
    # in such a rerun could be lost, and at 100,000 pairs every rerun costs).
    @st.fragment(run_every=1.0 if judge and judge.running else None)
    def judge_panel() -> None:
        """Progress of the background judge; never touches the worker."""
        job = registry.get(project_id, "judge")
        if job is None:
            return
        st.progress(job.done / job.total if job.total else (0.0 if job.running else 1.0),
                    text=t("review.judging", done=job.done, total=job.total, state=job.state))
        if job.error:
            st.error(md_escape(job.error))
        sourceless = job.summary.sourceless if isinstance(job.summary, JudgeSummary) else 0
        if not job.running and sourceless:
            st.caption(t("review.judged_sourceless", n=sourceless))
        if not job.running and st.session_state.get("rv_seen_judge") != job.started_at:
            st.session_state["rv_seen_judge"] = job.started_at
            st.rerun()

    judge_panel()
if "rv_notice" in st.session_state:
    st.info(st.session_state.pop("rv_notice"))


for message in st.session_state.pop("rv_errors", []):
    st.error(md_escape(one_line(message)))
if st.session_state.pop("rv_saved", False):
    st.toast(t("review.saved"))
conflicts(store, locked)

counted = (project_id, repr(desk.filters), store.change_stamp())  # recounted only after a write
if st.session_state.get("rv_total", (None, 0))[0] != counted:
    st.session_state["rv_total"] = (counted, store.count_pairs(project_id, **desk.filters))
desk.total = st.session_state["rv_total"][1]
if st.session_state.get("rv_filters") != repr(desk.filters):  # other filters: start at their first pair
    st.session_state["rv_filters"] = repr(desk.filters)
    st.session_state["rv_pos"] = 0
undo = store.last_change(project_id)  # from the database: survives a reload, sees other tabs
shown = st.session_state.get("rv_undo_shown")  # the batch the button named when it was clicked
if st.button(undo_label(undo) if undo else t("review.undo"), key="rv_undo_button", shortcut=KEYS["undo"],
             disabled=locked or not undo):
    undo_last(store, project_id, shown)
    st.session_state.pop("rv_undo_shown", None)
    st.rerun()
st.session_state["rv_undo_shown"] = undo.batch_id if undo else None
history_panel(desk)
st.caption(t("review.count", n=desk.total))
if desk.total == 0:
    st.info(t("review.none"))
    st.stop()
pos = position(desk.total)
pages = (desk.total + PAGE_SIZE - 1) // PAGE_SIZE
st.session_state["rv_page"] = pos // PAGE_SIZE + 1
grid_side, focus_side = st.columns([3, 2], gap="medium")
with grid_side:
    page = st.number_input(t("review.page"), 1, pages, key="rv_page",
                           on_change=lambda: st.session_state.update(rv_pos=(st.session_state["rv_page"] - 1) * PAGE_SIZE))
    pairs = store.list_pairs(project_id, **desk.filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    focus_id = pairs[pos - (page - 1) * PAGE_SIZE].id if 0 <= pos - (page - 1) * PAGE_SIZE < len(pairs) else -1
    bulk_bar(desk)  # above the grid: a grid drawn again (other height) never moves these under the pointer
    draw_grid(desk, pairs, page, focus_id)
with focus_side:
    focus_panel(desk)
