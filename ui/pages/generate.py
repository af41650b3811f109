"""Generate: the server's status and models, a trial on one chunk, and the background run with progress."""

import streamlit as st

from dataset_gen.backends import make_backend
from dataset_gen.errors import BackendError, DatasetGenError
from dataset_gen.generation import trial_chunk
from dataset_gen.locks import close_dead_runs
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
from ui.i18n import reason_label, t
from ui.safe import md_escape

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
if not (job and job.running):
    other_live = not locked and not close_dead_runs(store, project_id)  # also marks dead runs interrupted
    runs = store.list_runs(project_id)
    last = runs[0] if runs else None
    if other_live:
        st.info(t("gen.elsewhere"))
    elif last is not None and last.status == "interrupted":
        st.warning(t("gen.interrupted", run=last.id, done=last.chunks_done, total=last.chunks_total))


@st.cache_data(ttl=10, show_spinner=False)
def server_status(api: str, host: str, key_env: str) -> tuple[str | None, list, str | None]:
    """(what answers, models, error) for the server of kind ``api`` at ``host``; cached for 10 s so
    reruns do not hammer the server (the key is read from ``key_env`` and is not part of the cache key)."""
    probe = make_backend(settings, connect_timeout_s=3.0, read_timeout_s=10.0, max_retries=0)
    try:
        return probe.health(), probe.list_models(), None
    except DatasetGenError as exc:
        return None, [], str(exc)


version, models, error = server_status(settings.api, backend.host, settings.api_key_env)
if error:
    st.error(md_escape(error))
elif not models:
    st.warning(t("gen.no_models" if settings.api == "ollama" else "gen.no_models_openai", host=md_escape(backend.host)))
else:
    st.success(t("gen.status_ok", version=md_escape(str(version)), host=md_escape(backend.host)))
    st.dataframe(
        [{"model": m.name, "parameters": m.parameter_size, "quantisation": m.quantization_level,
          "size (GB)": round(m.size / 1e9, 2)} for m in models],
        hide_index=True,
    )

names = [m.name for m in models if not m.is_embedding]
if config.model and config.model not in names:
    names.insert(0, config.model)
if not names:
    st.stop()
model = st.selectbox(t("gen.model"), names, index=names.index(config.model) if config.model in names else None,
                     placeholder=t("gen.pick_model"))
if model is None:
    st.info(t("gen.pick_model"))
    st.stop()
if model != config.model and not locked:
    changed(lambda: store.set_settings(project_id, config.model_copy(update={"model": model}).model_dump()))
options = config.sampling()

chunks = store.list_chunks(project_id)
if not chunks:
    st.info(t("docs.empty"))
    st.stop()

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
        if trial.thinking:
            st.markdown(f"**{t('gen.thinking')}**")
            st.code(trial.thinking, language=None, wrap_lines=True)
        st.markdown(f"**{t('gen.raw')}**")
        st.code(trial.raw, language="json", wrap_lines=True)
        st.dataframe([{"question": p.question, "answer": p.answer, "evidence": p.evidence, "grounded": p.grounded}
                      for p in trial.pairs], hide_index=True)

# A chunk held back as junk (a skip reason, not sent anyway) is not pending: a run leaves it out.
counts = {"pending": 0, "failed": 0, "done": 0}
skipped: dict[str, int] = {}
for c in chunks:
    if c.skipped and c.gen_status != "done":
        skipped[c.skip_reason or ""] = skipped.get(c.skip_reason or "", 0) + 1
    else:
        counts[c.gen_status] = counts.get(c.gen_status, 0) + 1
st.caption(t("gen.pending", **counts))
if skipped:
    detail = ", ".join(f"{reason_label(reason)}: {n}" for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
    st.info(t("gen.skipped", n=sum(skipped.values()), detail=md_escape(detail)))
    st.page_link("ui/pages/chunks.py", label=t("gen.to_chunks"), icon=":material/view_agenda:")
to_send = counts["pending"] + counts["failed"]

documents = store.list_documents(project_id)
scope = st.radio(t("gen.scope"), ["all", "docs"], horizontal=True,
                 format_func=lambda s: t("gen.scope_all") if s == "all" else t("gen.scope_docs"))
doc_ids = None
if scope == "docs":
    names_by_id = {d.id: d.name for d in documents}
    doc_ids = st.multiselect(t("chunks.document"), list(names_by_id), format_func=lambda k: names_by_id[k])

job = registry.get(project_id)
if not (job and job.running):
    if st.button(t("gen.start"), type="primary",
                 disabled=locked or other_live or to_send == 0):
        registry.start(project_id, backend, model, settings, options=options, document_ids=doc_ids)
        st.rerun()
    if to_send == 0:
        st.info(t("gen.nothing_to_send" if skipped else "gen.nothing"))


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Polls the job registry; never touches the worker."""
    job = registry.get(project_id)
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
            st.info(t("gen.finished", state=job.state, pairs=job.summary.pairs, done=job.summary.done))
        if st.session_state.get("seen_job") != job.started_at:
            st.session_state["seen_job"] = job.started_at
            st.rerun()


progress_panel()

failed = [c for c in store.list_chunks(project_id, statuses=("failed",))]
if failed:
    st.subheader(t("gen.failures"))
    st.dataframe([{"document": c.document, "chunk": c.ordinal, "error": c.gen_error} for c in failed],
                 hide_index=True, width="stretch")
    if not (job and job.running) and st.button(t("gen.retry"), disabled=locked):
        registry.start(project_id, backend, model, settings, options=options, chunk_ids=[c.id for c in failed])
        st.rerun()
