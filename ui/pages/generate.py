"""Generate: the server's status and models, a trial on one chunk, and the background run with progress."""

import streamlit as st

from dataset_gen.choice import LETTERS
from dataset_gen.config import ProjectConfig
from dataset_gen.errors import BackendError
from dataset_gen.generation import trial_chunk
from dataset_gen.jobs import interrupted_run
from dataset_gen.locks import close_dead_runs
from dataset_gen.models import GENERATED_KINDS, ItemKind
from ui.common import (
    base_settings,
    changed,
    get_registry,
    get_store,
    project_backend,
    project_config,
    read_only,
    require_project,
)
from ui.i18n import reason_label, status_label, t
from ui.safe import md_escape
from ui.server import missing_model_warning, model_picker, server_status, show_status

TRIAL_CHOICES = 500  # chunks offered for a trial: the first ones, so a big project opens quickly

store = get_store()
registry = get_registry()
project_id = require_project()
locked = read_only()  # nothing can be saved: runs are disabled (a trial saves nothing and stays)
config = project_config(project_id)
settings = config.apply(base_settings())
backend = project_backend(config)
st.title(t("gen.title"))

job = registry.get(project_id)
other_live = False  # a run of another process (the command line) holds the project
interrupted = None
if not (job and job.running):
    other_live = not locked and not close_dead_runs(store, project_id)  # also marks dead runs interrupted
    interrupted = None if other_live else interrupted_run(store, project_id)
    if other_live:
        st.info(t("gen.elsewhere"))
    elif interrupted is not None:
        st.warning(t("gen.interrupted", run=interrupted.id, done=interrupted.chunks_done,
                     total=interrupted.chunks_total))

status = server_status(settings)
show_status(status, key="gen")
model = model_picker(status, config.model, key="gen_model", label=t("gen.model"))
if not model:
    st.info(t("gen.pick_model"))
    st.stop()
if model != config.model and not locked:
    changed(lambda: store.set_settings(project_id, config.model_copy(update={"model": model}).model_dump()))
missing = missing_model_warning(status, model)
# What a run (and the trial) makes: the project's one setting (ProjectConfig.kind), also on the Projects page.
kind = st.selectbox(t("generate.kind"), list(GENERATED_KINDS), index=list(GENERATED_KINDS).index(config.kind),
                    format_func=lambda k: t(f"kind.{k}"), key="gen_kind", disabled=locked)
if kind != config.kind and not locked:
    wanted = ProjectConfig.model_validate({**config.model_dump(), "kind": kind})
    if changed(lambda: store.set_settings(project_id, wanted.model_dump())):
        config = wanted
        settings = config.apply(base_settings())
options = config.sampling()

trial_rows = [c for c, _ in store.chunk_page(project_id, limit=TRIAL_CHOICES)]
if not trial_rows:
    st.info(t("docs.empty"))
    st.stop()
chunks = trial_rows

with st.expander(t("gen.trial")):
    st.caption(t("gen.trial_help"))
    labels = {c.id: f"{c.document} #{c.ordinal} · {' > '.join(c.heading_path) or '—'}" for c in chunks}
    trial_id = st.selectbox(t("gen.trial_chunk"), list(labels), format_func=lambda k: labels[k], key="trial_chunk")
    if st.button(t("gen.trial"), key="trial_run"):
        with st.spinner("…"):
            try:
                st.session_state["trial"] = trial_chunk(store, project_id, trial_id, backend, model, settings, options)
                st.session_state.pop("trial_error", None)
            except BackendError as exc:
                st.session_state["trial_error"] = (str(exc), getattr(exc, "raw", ""))
                st.session_state.pop("trial", None)
    if "trial_error" in st.session_state:
        message, raw = st.session_state["trial_error"]
        st.error(md_escape(message))
        if raw:
            st.code(raw, language=None)
    if "trial" in st.session_state:
        trial = st.session_state["trial"]
        st.markdown(f"**{t('gen.prompt')}**")
        for message in trial.prompt.messages:
            st.caption(message["role"])
            st.code(message["content"], language=None, wrap_lines=True)
        if getattr(trial, "thinking", ""):  # a conversation result has no reasoning
            st.markdown(f"**{t('gen.thinking')}**")
            st.code(trial.thinking, language=None, wrap_lines=True)
        st.markdown(f"**{t('gen.raw')}**")
        st.code(trial.raw, language="json", wrap_lines=True)
        if getattr(trial, "conversation", None) is not None:  # a conversation: every turn, in order
            speaker = {"user": t("conv.user"), "assistant": t("conv.assistant")}
            st.dataframe([{t("col.turn"): t("conv.turn", n=turn.position + 1, role=speaker.get(turn.role, turn.role)),
                           t("col.text"): turn.content, t("col.evidence"): turn.evidence,
                           t("col.grounded"): turn.grounded}
                          for turn in trial.conversation.turns], hide_index=True, key="trial_turns")
        elif any(p.kind == ItemKind.CHOICE.value for p in trial.pairs):  # options shown, the correct one marked
            st.dataframe([{t("col.question"): p.question,
                           t("col.options"): "  ".join(f"{'✓ ' if c == p.answer else ''}{LETTERS[i]}. {c}"
                                                       for i, c in enumerate(p.choices)),
                           t("col.evidence"): p.evidence, t("col.grounded"): p.grounded}
                          for p in trial.pairs], hide_index=True, key="trial_choices")
        else:
            st.dataframe([{t("col.question"): p.question, t("col.answer"): p.answer, t("col.evidence"): p.evidence,
                           t("col.grounded"): p.grounded}
                          for p in trial.pairs], hide_index=True)

# A chunk held back as junk (a skip reason, not sent anyway) is not pending: a run leaves it out.
counts = store.chunk_counts(project_id)
skipped = store.skip_reason_counts(project_id)
if skipped:
    detail = ", ".join(f"{reason_label(reason)}: {n}" for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
    st.info(t("gen.skipped", n=sum(skipped.values()), detail=md_escape(detail)))
    st.page_link("ui/pages/chunks.py", label=t("gen.to_chunks"), icon=":material/view_agenda:")
documents = store.list_documents(project_id)
scope = st.radio(t("gen.scope"), ["all", "docs"], horizontal=True,
                 format_func=lambda s: t("gen.scope_all") if s == "all" else t("gen.scope_docs"))
doc_ids = None
if scope == "docs":
    names_by_id = {d.id: d.name for d in documents}
    doc_ids = st.multiselect(t("chunks.document"), list(names_by_id), format_func=lambda k: names_by_id[k])
# What a run of this kind takes (the run's own rule): chunks not done, and done ones with no item of the kind.
to_send = len(store.lacking_chunk_ids(project_id, settings.kind, settings.question_types, document_ids=doc_ids))

job = registry.get(project_id)
if not (job and job.running):
    if (interrupted is not None and to_send and st.button(t("gen.resume", n=to_send), type="primary", key="resume_run",
                                                          disabled=locked or missing)):
        registry.start(project_id, backend, model, settings, options=options)
        st.rerun()
    if st.button(t("gen.start"), type="primary" if interrupted is None else "secondary",
                 disabled=locked or other_live or missing or to_send == 0):
        registry.start(project_id, backend, model, settings, options=options, document_ids=doc_ids)
        st.rerun()
    if to_send == 0:
        st.info(t("gen.nothing_to_send") if skipped else t("gen.nothing", kind=t(f"kind.{settings.kind}")))


def pending_caption() -> str:
    """Live counts for a run of the project's kind (a run in this or another process moves them):
    pending = chunks it would take that have not failed; done = done chunks that have items of it."""
    now = store.chunk_counts(project_id)
    lacking = len(store.lacking_chunk_ids(project_id, settings.kind, settings.question_types))
    done_lacking = lacking - now["pending"] - now["failed"]  # done by a run of another kind only
    return t("gen.pending", pending=t("count.chunks", n=lacking - now["failed"]), failed=now["failed"],
             done=now["done"] - done_lacking)


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Polls the job registry; never touches the worker."""
    job = registry.get(project_id)
    st.caption(pending_caption())
    if job is None:
        return
    p = job.progress
    if p is not None:
        eta = "—" if p.eta_s is None else f"{p.eta_s:.0f}s"
        st.progress(p.done / p.total if p.total else 1.0,
                    text=t("gen.progress", done=p.done, total=p.total, pairs=p.pairs, failed=p.failed,
                           tps=p.tokens_per_s, eta=eta))
    if job.running:
        if st.button(t("gen.cancel"), key="cancel_run"):
            registry.cancel(project_id)
    else:
        if job.error:
            st.error(md_escape(job.error))
        if job.summary:
            summary = job.summary
            failed_n = len(summary.failures)
            st.info(t("gen.finished", state=status_label(job.state), pairs=t("count.pairs", n=summary.pairs),
                      chunks=t("count.chunks", n=summary.pair_chunks), failed=t("count.chunks", n=failed_n),
                      left=t("count.chunks", n=summary.pending)))
        if st.session_state.get("seen_job") != job.started_at:
            st.session_state["seen_job"] = job.started_at
            st.rerun()


progress_panel()

failed = store.list_chunks(project_id, statuses=("failed",))
if failed:
    st.subheader(t("gen.failures"))
    st.dataframe([{t("col.document"): c.document, t("col.chunk"): c.ordinal, t("col.error"): c.gen_error} for c in failed],
                 hide_index=True, width="stretch")
    if not (job and job.running) and st.button(t("gen.retry"), disabled=locked):
        registry.start(project_id, backend, model, settings, options=options, chunk_ids=[c.id for c in failed])
        st.rerun()
