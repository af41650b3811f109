"""Review: filter and page through pairs, edit them in place, accept or reject, see each beside its
source chunk with the evidence highlighted. Every change is written to the store at once."""

import html

import pandas as pd
import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.grounding import locate
from dataset_gen.models import QUESTION_TYPES
from dataset_gen.quality import convert_to_traditional, mark_duplicates
from ui.common import get_registry, get_store, project_backend, project_config, require_project
from ui.i18n import t

PAGE_SIZE = 50
STATUSES = ["generated", "accepted", "rejected"]

store = get_store()
registry = get_registry()
project_id = require_project()
config = project_config(project_id)
st.title(t("review.title"))


def bump_version() -> None:
    """Reset the editor (its key changes) after a write, so stale edit state is never re-applied."""
    st.session_state["rv_version"] = st.session_state.get("rv_version", 0) + 1
    st.rerun()


documents = {d.id: d.name for d in store.list_documents(project_id)}
c1, c2, c3, c4 = st.columns(4)
statuses = c1.multiselect(t("review.status"), STATUSES, default=STATUSES, key="rv_status")
doc_id = c2.selectbox(t("chunks.document"), [None, *documents], key="rv_doc",
                      format_func=lambda i: t("review.any") if i is None else documents[i])
tri = {None: t("review.any"), True: t("review.yes"), False: t("review.no")}
grounded = c3.selectbox(t("review.grounded"), list(tri), format_func=tri.get, key="rv_grounded")
edited = c4.selectbox(t("review.edited"), list(tri), format_func=tri.get, key="rv_edited")
c5, c6, c7, c8 = st.columns(4)
kinds = [None, *QUESTION_TYPES]
question_type = c5.selectbox(t("review.type"), kinds, key="rv_type",
                             format_func=lambda k: t("review.any") if k is None else t(f"type.{k}"))
duplicate = c6.selectbox(t("review.duplicate"), list(tri), format_func=tri.get, key="rv_dup")
language_ok = c7.selectbox(t("review.language_ok"), list(tri), format_func=tri.get, key="rv_lang")
low = c8.checkbox(t("review.low_scores", n=config.judge_threshold), key="rv_low")
search = st.text_input(t("review.search"), key="rv_search").strip() or None
filters = dict(statuses=statuses or STATUSES, document_id=doc_id, grounded=grounded, edited=edited, search=search,
               question_type=question_type, duplicate=duplicate, language_ok=language_ok,
               score_below=config.judge_threshold if low else None)

with st.expander(t("review.quality")):
    q1, q2, q3 = st.columns(3)
    judge = registry.get(project_id, "judge")
    if q1.button(t("review.judge", model=config.judge_model or "—"), disabled=not config.judge_model
                 or bool(judge and judge.running)):
        registry.start_judging(project_id, project_backend(config), config.judge_model, concurrency=config.concurrency)
        st.rerun()
    if q2.button(t("review.dedupe")):
        try:
            found = mark_duplicates(store, project_id, backend=project_backend(config) if config.embedding_model else None,
                                    embedding_model=config.embedding_model)
            st.session_state["rv_notice"] = t("review.dedupe_done", clusters=len(found.clusters),
                                              marked=sum(len(c.members) - 1 for c in found.clusters))
        except DatasetGenError as exc:
            st.session_state["rv_notice"] = str(exc)
        bump_version()
    if q3.button(t("review.convert")):
        st.session_state["rv_notice"] = t("review.converted", n=convert_to_traditional(store, project_id))
        bump_version()

    @st.fragment(run_every=1.0)
    def judge_panel() -> None:
        """Progress of the background judge; never touches the worker."""
        job = registry.get(project_id, "judge")
        if job is None:
            return
        st.progress(job.done / job.total if job.total else (0.0 if job.running else 1.0),
                    text=t("review.judging", done=job.done, total=job.total, state=job.state))
        if job.error:
            st.error(job.error)
        if not job.running and st.session_state.get("rv_seen_judge") != job.started_at:
            st.session_state["rv_seen_judge"] = job.started_at
            st.rerun()

    judge_panel()
if "rv_notice" in st.session_state:
    st.info(st.session_state.pop("rv_notice"))

total = store.count_pairs(project_id, **filters)
st.caption(t("review.count", n=total))
if total == 0:
    st.info(t("review.none"))
    st.stop()
pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
page = st.number_input(t("review.page"), 1, pages, 1, key="rv_page") if pages > 1 else 1
pairs = store.list_pairs(project_id, **filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)

frame = pd.DataFrame(
    {
        "select": [False] * len(pairs),
        "status": [p.status for p in pairs],
        "question": [p.question for p in pairs],
        "answer": [p.answer for p in pairs],
        "type": [p.question_type for p in pairs],
        "grounded": [p.grounded for p in pairs],
        "score": [None if p.faithfulness is None else min(p.faithfulness, p.relevance, p.clarity) for p in pairs],
        "duplicate": [p.duplicate_of is not None for p in pairs],
        "language": [p.language_ok for p in pairs],
        "edited": [p.edited for p in pairs],
        "document": [p.document for p in pairs],
        "pages": ["" if p.pages is None else f"{p.pages[0]}–{p.pages[1]}" if p.pages[0] != p.pages[1] else str(p.pages[0]) for p in pairs],
        "id": [p.id for p in pairs],
    }
)
version = st.session_state.get("rv_version", 0)
editor_key = f"rv_editor_{hash(tuple(sorted((k, str(v)) for k, v in filters.items())))}_{page}_{version}"
st.session_state["rv_editor_key"] = editor_key  # the editor's key changes with filters, page and saves
result = st.data_editor(
    frame, key=editor_key, hide_index=True, width="stretch", num_rows="fixed",
    disabled=["type", "grounded", "score", "duplicate", "language", "edited", "document", "pages", "id"],
    column_config={
        "select": st.column_config.CheckboxColumn("✓", width="small"),
        "status": st.column_config.SelectboxColumn(t("review.status"), options=STATUSES, required=True),
        "question": st.column_config.TextColumn("question", width="large"),
        "answer": st.column_config.TextColumn("answer", width="large"),
        "id": None,
    },
)

changed = False
errors = []
for row, pair in zip(result.itertuples(index=False), pairs):
    try:
        if row.question != pair.question or row.answer != pair.answer:
            store.update_pair(pair.id, question=row.question if row.question != pair.question else None,
                              answer=row.answer if row.answer != pair.answer else None)
            changed = True
        if row.status != pair.status:
            store.set_status([pair.id], row.status)
            changed = True
    except DatasetGenError as exc:
        errors.append(str(exc))
for message in errors:
    st.error(message)


if changed:
    st.toast(t("review.saved"))
    bump_version()

selected = [pair.id for pair, chosen in zip(pairs, result["select"]) if chosen]
b1, b2, b3, b4 = st.columns(4)
if b1.button(t("review.accept_sel"), disabled=not selected):
    store.set_status(selected, "accepted")
    bump_version()
if b2.button(t("review.reject_sel"), disabled=not selected):
    store.set_status(selected, "rejected")
    bump_version()
if b3.button(t("review.accept_all", n=total)):
    store.set_status(store.pair_ids(project_id, **filters), "accepted")
    bump_version()
if b4.button(t("review.reject_all", n=total)):
    store.set_status(store.pair_ids(project_id, **filters), "rejected")
    bump_version()

st.subheader(t("review.source"))
focus_ids = selected or [pairs[0].id]
focus = store.get_pair(focus_ids[0])
pages_text = "" if focus.pages is None else f" · p. {focus.pages[0]}" + ("" if focus.pages[0] == focus.pages[1] else f"–{focus.pages[1]}")
st.caption(f"{focus.document} · {' > '.join(focus.heading_path) or '—'}{pages_text} · chunk #{focus.chunk_ordinal}")
left, right = st.columns(2)
with left:
    st.markdown(f"**Q:** {focus.question}")
    st.markdown(f"**A:** {focus.answer}")
    st.markdown(f"**Evidence:** {focus.evidence}")
    if focus.reasoning:
        st.markdown(f"**Reasoning:** {focus.reasoning}")
    if focus.faithfulness is not None:
        st.caption(t("review.scores", f=focus.faithfulness, r=focus.relevance, c=focus.clarity, reason=focus.judge_reason))
    if focus.duplicate_of is not None:
        st.caption(t("review.duplicate_of", id=focus.duplicate_of))
    if focus.edited:
        st.caption(f"Original Q: {focus.original_question}")
        st.caption(f"Original A: {focus.original_answer}")
with right:
    text = "\n\n".join(focus.reference_contexts)
    span = locate(focus.evidence, text)
    if span:
        body = (html.escape(text[: span[0]]) + "<mark>" + html.escape(text[span[0]: span[1]]) + "</mark>"
                + html.escape(text[span[1]:]))
    else:
        body = html.escape(text)
    st.html(f"<div style='white-space: pre-wrap; max-height: 30rem; overflow-y: auto; "
            f"font-size: 0.9rem' data-testid='source-chunk'>{body}</div>")
