"""Evaluate: start an evaluation of models on the reviewed items (progress, cancel, resume), its
table, the answers side by side, and a blind A/B vote."""

import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.evaluate import left_out, needs_judge, scope, start_or_resume
from dataset_gen.evaluate_report import build_report
from dataset_gen.locks import lock_project
from ui.common import base_settings, get_store, project_backend, project_config, read_only, require_project, show_error
from ui.evaluate_job import get_eval_jobs
from ui.evaluate_views import blind_vote, results_table, side_by_side
from ui.i18n import status_label, t
from ui.safe import md_escape
from ui.server import server_status, show_status

SPLITS = ("", "test", "validation", "train")

store = get_store()
jobs = get_eval_jobs()
project_id = require_project()
locked = read_only()
config = project_config(project_id)
settings = config.apply(base_settings())
st.title(t("eval.title"))
st.caption(t("eval.help"))

status = server_status(settings)
show_status(status, key="eval")
names = list(status.chat_models)
models = st.multiselect(t("eval.models"), names, key="eval_models", placeholder=t("server.pick"))
judge = st.selectbox(t("eval.judge"), ["", *names], key="eval_judge",
                     format_func=lambda n: n or t("eval.judge_none"))
c1, c2 = st.columns(2)
context = c1.radio(t("eval.context"), ["none", "reference"], horizontal=True, key="eval_context",
                   format_func=lambda c: t(f"eval.context.{c}"))
split = c2.selectbox(t("eval.split"), SPLITS, key="eval_split", format_func=lambda s: s or t("eval.split_all"))
items = scope(store, project_id, split or None)
job = jobs.get(project_id)
running = bool(job and job.running)
ready = bool(models) and bool(items)
skipped = left_out(store, project_id, split or None)
if not items and skipped:
    st.info(t("eval.only_conversations", n=skipped))
elif not items:
    st.info(t("eval.no_split", split=split) if split else t("eval.no_items"))
elif not models:
    st.info(t("eval.pick_models"))
elif needs_judge(items) and not judge:
    st.info(t("eval.need_judge"))
    ready = False
else:
    st.caption(t("eval.scope", n=len(items), m=len(models)))
if items and skipped:
    st.caption(t("eval.conversations_left_out", n=skipped))
if st.button(t("eval.start"), type="primary", key="eval_start", disabled=locked or running or not ready):
    started = False
    try:
        lock = lock_project(store, project_id)  # a busy project: refused before anything is created
        try:
            evaluation, _ = start_or_resume(store, project_id, models, judge, context, split or None)
            jobs.start(store, project_id, evaluation.id, project_backend(config), settings.concurrency, lock=lock)
        except BaseException:
            lock.release()
            raise
        st.session_state["eval_shown"] = evaluation.id
        started = True
    except DatasetGenError as exc:
        show_error(exc)
    if started:
        st.rerun()


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Polls the project's evaluation job; never touches the worker."""
    job = jobs.get(project_id)
    if job is None:
        return
    if job.running:
        st.progress(job.done / job.total if job.total else 0.0,
                    text=t("eval.progress", id=job.evaluation_id, done=job.done, total=job.total or "…"))
        if st.button(t("eval.cancel"), key="eval_cancel"):
            job.cancel.set()
        return
    if job.error:
        st.error(md_escape(job.error))
    if job.summary is not None:
        s = job.summary
        st.info(t("eval.finished", id=job.evaluation_id, state=status_label(job.state), answered=s.answered,
                  scored=s.scored, failed=len(s.failures)))


progress_panel()

evaluations = store.list_evaluations(project_id)
if not evaluations:
    st.info(t("eval.none_yet"))
    st.stop()
labels = {e.id: f"#{e.id} · {', '.join(e.models)} · {e.context} · {e.split or t('eval.split_all')} · "
                f"{status_label(e.status)}" for e in evaluations}
ids = list(labels)
shown = st.session_state.get("eval_shown")
chosen = st.selectbox(t("eval.pick"), ids, index=ids.index(shown) if shown in ids else 0,
                      format_func=lambda k: labels[k], key="eval_pick")
report = build_report(store, chosen)
table, side, blind = st.tabs([t("eval.table"), t("eval.side"), t("eval.blind")])
with table:
    results_table(report)
with side:
    side_by_side(report)
with blind:
    blind_vote(store, report, locked)
