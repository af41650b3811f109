"""Review: filter and page through pairs, edit them in place, accept or reject, see each beside its
source chunk with the evidence highlighted. Every change is written to the store at once.

Edits never go astray: the grid's rows are pairs by id, and each drawing of the grid is remembered
with the revision of every pair it showed (``rv_drawn``). A cell edit arrives with the next run as a
row position of *that* drawing, so it is applied to the pair that was shown there, with the revision
the person saw; when someone saved that pair since (another tab), the store refuses the edit and
the page shows the newer text beside the person's, which is kept until they save or discard it."""

import contextlib

import pandas as pd
import streamlit as st

from dataset_gen.checks import REASONS, describe
from dataset_gen.errors import DatasetGenError
from dataset_gen.gate import label
from dataset_gen.grounding import locate
from dataset_gen.models import QUESTION_TYPES
from dataset_gen.quality import convert_to_traditional, mark_duplicates
from dataset_gen.store_pairs import StaleEditError
from ui.common import (
    changed,
    get_registry,
    get_store,
    project_backend,
    project_config,
    read_only,
    require_project,
)
from ui.i18n import t
from ui.safe import highlighted, md_escape, one_line, text_block

PAGE_SIZE = 50
STATUSES = ["generated", "accepted", "rejected"]

store = get_store()
registry = get_registry()
project_id = require_project()
locked = read_only()  # nothing can be saved: editing, accepting and the quality checks are disabled
config = project_config(project_id)
if not locked:
    with contextlib.suppress(DatasetGenError):  # a full disk: pairs made before the checks show no flags
        store.fill_flags(project_id)
st.title(t("review.title"))


def bump_version(rerun: bool = True) -> None:
    """Reset the editor (its key changes) after a write, so stale edit state is never re-applied."""
    st.session_state["rv_version"] = st.session_state.get("rv_version", 0) + 1
    if rerun:
        st.rerun()


def refused(exc: StaleEditError, mine: dict) -> None:
    """Keep a change the store refused as stale (``mine``: the pair's question, answer and status
    as the person wanted them), to show beside the newer text until it is saved or discarded."""
    conflicts = st.session_state.setdefault("rv_conflicts", {})
    conflicts[exc.current.id] = {**mine, "revision": exc.current.revision}


def ticked_ids(drawn: dict) -> set[int]:
    """Ids of the pairs ticked in a drawing of the grid: ticked when drawn, then clicked by row."""
    ticked = set(drawn["selected"])
    state = (st.session_state.get(drawn["key"]) if drawn["key"] else None) or {}
    for pos, change in state.get("edited_rows", {}).items():
        if int(pos) < len(drawn["rows"]) and "select" in change:
            (ticked.add if change["select"] else ticked.discard)(drawn["rows"][int(pos)]["id"])
    return ticked


def save_grid_edits() -> None:
    """Write the cell edits of the grid drawn in the previous run, then redraw the grid.

    Each edit is a row position of that drawing (``rv_drawn``), so it goes to the pair shown there
    whatever has changed since, with the revision the person saw. Selecting rows writes nothing.
    """
    drawn: dict | None = st.session_state.get("rv_drawn")
    if not drawn or not drawn["key"]:
        return
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
                revision = store.update_pair(row["id"], question=question if question != row["question"] else None,
                                             answer=answer if answer != row["answer"] else None,
                                             expected_revision=revision).revision
                saved = True
            if status != row["status"]:
                store.set_status([row["id"]], status, expected_revisions={row["id"]: revision})
                saved = True
        except StaleEditError as exc:
            refused(exc, {"question": question, "answer": answer, "status": status})
        except DatasetGenError as exc:
            errors.append(str(exc))
    st.session_state["rv_errors"] = errors
    st.session_state["rv_saved"] = saved
    # Consumed: the next grid is drawn from scratch, with the same pairs ticked.
    st.session_state["rv_drawn"] = {"key": None, "rows": [], "selected": sorted(ticked_ids(drawn))}
    bump_version()


save_grid_edits()

documents = {d.id: d.name for d in store.list_documents(project_id)}
c1, c2, c3, c4 = st.columns(4)
statuses = c1.multiselect(t("review.status"), STATUSES, default=STATUSES, key="rv_status")
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
c9, c10 = st.columns([1, 3])
flag = c9.selectbox(t("review.flag"), [None, *REASONS], key="rv_flag",
                    format_func=lambda k: t("review.any") if k is None else label(k))
if flag is not None:
    c9.caption(describe(flag))
search = c10.text_input(t("review.search"), key="rv_search").strip() or None
filters = dict(statuses=statuses or STATUSES, document_id=doc_id, grounded=grounded, edited=edited, search=search,
               question_type=question_type, duplicate=duplicate, language_ok=language_ok,
               score_below=config.judge_threshold if low else None, flag=flag)

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
    if q3.button(t("review.convert"), disabled=locked):
        converted: list[int] = []
        if changed(lambda: converted.append(convert_to_traditional(store, project_id))):
            st.session_state["rv_notice"] = t("review.converted", n=converted[0])
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
            st.error(md_escape(job.error))
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


def conflict_panel(pair_id: int, mine: dict) -> None:
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
                    revision = store.update_pair(
                        pair_id, question=question if question != now.question else None,
                        answer=answer if answer != now.answer else None, expected_revision=conflicts[pair_id]["revision"],
                    ).revision
                    store.set_status([pair_id], status, expected_revisions={pair_id: revision})
                    conflicts.pop(pair_id)
                    st.session_state["rv_saved"] = True
                except StaleEditError as exc:
                    refused(exc, mine)
                except DatasetGenError as exc:
                    st.session_state["rv_errors"] = [str(exc)]
                bump_version()
            if b2.button(t("review.stale_discard"), key=f"rv_mine_discard_{pair_id}"):
                conflicts.pop(pair_id)
                bump_version()


for conflict_id, conflict in list(st.session_state.get("rv_conflicts", {}).items()):
    conflict_panel(conflict_id, conflict)

total = store.count_pairs(project_id, **filters)
st.caption(t("review.count", n=total))
if total == 0:
    st.info(t("review.none"))
    st.stop()
pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
page = st.number_input(t("review.page"), 1, pages, 1, key="rv_page") if pages > 1 else 1
pairs = store.list_pairs(project_id, **filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)


def editor_key() -> str:
    """The grid's key: it changes with the filters, the page and every redraw from scratch."""
    version = st.session_state.get("rv_version", 0)
    return f"rv_editor_{project_id}_{hash(tuple(sorted((k, str(v)) for k, v in filters.items())))}_{page}_{version}"


# What the person saw: the previous drawing, and which of its rows they have ticked.
seen = st.session_state.get("rv_drawn") or {"key": None, "rows": [], "selected": []}
ticked = ticked_ids(seen)
seen_revision = {row["id"]: row["revision"] for row in seen["rows"]}

rows = [{"id": p.id, "revision": p.revision, "question": p.question, "answer": p.answer, "status": p.status}
        for p in pairs]
key = editor_key()
if key == seen["key"] and [(r["id"], r["revision"]) for r in rows] != [(r["id"], r["revision"]) for r in seen["rows"]]:
    # The pairs changed since the grid was drawn (another tab, a new run): draw it from scratch,
    # keeping the ticks by pair id, so no tick or edit state lands on another row.
    bump_version(rerun=False)
    key = editor_key()
initial = seen["selected"] if key == seen["key"] else sorted(ticked & {p.id for p in pairs})
st.session_state["rv_drawn"] = {"key": key, "rows": rows, "selected": initial}
st.session_state["rv_editor_key"] = key

frame = pd.DataFrame(
    {
        "select": [p.id in initial for p in pairs],
        "status": [p.status for p in pairs],
        "question": [p.question for p in pairs],
        "answer": [p.answer for p in pairs],
        "flags": [", ".join(label(code) for code in p.flags) for p in pairs],
        "type": [p.question_type for p in pairs],
        "grounded": [p.grounded for p in pairs],
        "score": [p.lowest_score for p in pairs],
        "duplicate": [p.duplicate_of is not None for p in pairs],
        "language": [p.language_ok for p in pairs],
        "edited": [p.edited for p in pairs],
        "document": [p.document for p in pairs],
        "pages": ["" if p.pages is None else f"{p.pages[0]}–{p.pages[1]}" if p.pages[0] != p.pages[1] else str(p.pages[0]) for p in pairs],
    },
    index=pd.Index([p.id for p in pairs], name="id"),
)
result = st.data_editor(
    frame, key=key, hide_index=True, width="stretch", num_rows="fixed",
    disabled=True if locked else ["flags", "type", "grounded", "score", "duplicate", "language", "edited", "document", "pages"],
    column_config={
        "select": st.column_config.CheckboxColumn("✓", width="small"),
        "status": st.column_config.SelectboxColumn(t("review.status"), options=STATUSES, required=True),
        "question": st.column_config.TextColumn("question", width="large"),
        "answer": st.column_config.TextColumn("answer", width="large"),
        "flags": st.column_config.TextColumn(t("review.flag"), help=t("review.flags_help")),
    },
)

selected = [int(pair_id) for pair_id, chosen in zip(result.index, result["select"]) if chosen]


def set_selected(status: str) -> None:
    """Give the ticked pairs ``status``, each from the revision the person saw (refused when
    someone changed one since: then nothing changes and the newer text is shown)."""
    by_id = {p.id: p for p in pairs}
    expected = {i: seen_revision.get(i, by_id[i].revision) for i in selected}
    try:
        store.set_status(selected, status, expected_revisions=expected)
        st.session_state["rv_saved"] = True
    except StaleEditError as exc:
        mine = by_id[exc.current.id]
        refused(exc, {"question": mine.question, "answer": mine.answer, "status": status})
    except DatasetGenError as exc:
        st.session_state["rv_errors"] = [str(exc)]
    bump_version()


b1, b2, b3, b4 = st.columns(4)
if b1.button(t("review.accept_sel"), disabled=locked or not selected):
    set_selected("accepted")
if b2.button(t("review.reject_sel"), disabled=locked or not selected):
    set_selected("rejected")
if (b3.button(t("review.accept_all", n=total), disabled=locked)
        and changed(lambda: store.set_status(store.pair_ids(project_id, **filters), "accepted"))):
    bump_version()
if (b4.button(t("review.reject_all", n=total), disabled=locked)
        and changed(lambda: store.set_status(store.pair_ids(project_id, **filters), "rejected"))):
    bump_version()

st.subheader(t("review.source"))
focus = store.get_pair((selected or [pairs[0].id])[0])
pages_text = "" if focus.pages is None else f" · p. {focus.pages[0]}" + ("" if focus.pages[0] == focus.pages[1] else f"–{focus.pages[1]}")
st.caption(md_escape(f"{focus.document} · {' > '.join(focus.heading_path) or '—'}{pages_text} · chunk #{focus.chunk_ordinal}"))
left, right = st.columns(2)
with left:
    shown = [("Q:", focus.question), ("A:", focus.answer), ("Evidence:", focus.evidence)]
    if focus.reasoning:
        shown.append(("Reasoning:", focus.reasoning))
    if focus.edited:
        shown += [("Original Q:", focus.original_question or ""), ("Original A:", focus.original_answer or "")]
    st.html(text_block(shown, "focus-pair"))
    if focus.faithfulness is not None:
        st.caption(t("review.scores", f=focus.faithfulness, r=focus.relevance, c=focus.clarity,
                     reason=md_escape(focus.judge_reason)))
    if focus.duplicate_of is not None:
        st.caption(t("review.duplicate_of", id=focus.duplicate_of))
with right:
    text = "\n\n".join(focus.reference_contexts)
    st.html(highlighted(text, locate(focus.evidence, text), "source-chunk"))
