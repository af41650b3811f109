"""Distill: items with no document. A topic → tag tree (shown, editable as JSON, saved) → questions
per leaf tag → an answer each (:mod:`dataset_gen.distill`); and few-shot expansion of a person's own
examples (:mod:`dataset_gen.expand`). Both run as background jobs with progress and a cancel
button; the page never renders model text as Markdown (:mod:`ui.safe`)."""

import json

import streamlit as st

from dataset_gen.distill import distill
from dataset_gen.expand import expand, parse_examples
from dataset_gen.locks import lock_project
from dataset_gen.prompts import LANGUAGES
from dataset_gen.tags import parse_tree, tree_to_json
from ui.common import get_registry, get_store, project_backend, project_config, read_only, require_project
from ui.i18n import t
from ui.safe import md_escape, one_line

store = get_store()
registry = get_registry()
project_id = require_project()
locked = read_only()
config = project_config(project_id)
backend = project_backend(config)
st.title(t("distill.title"))
model = st.text_input(t("distill.model"), value=config.model, key="ds_model").strip()
language = st.selectbox(t("distill.language"), ["auto", *LANGUAGES], key="ds_language",
                        format_func=lambda k: t("distill.language_auto") if k == "auto" else k)
lang = None if language == "auto" else language
options = config.sampling()
topic_tab, expand_tab = st.tabs([t("distill.topic_tab"), t("distill.expand_tab")])


def _distill_job(tree_only: bool, topic: str, levels: int, tags: int, per_tag: int) -> None:
    def run(job) -> None:
        def on_progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        with lock_project(store, project_id):
            summary = distill(store, project_id, backend, model, topic, levels=levels, tags=tags,
                              questions_per_tag=per_tag, language=lang, tree_only=tree_only, options=options,
                              cancel=job.cancel, on_progress=on_progress)
        job.summary, job.state = summary, summary.status
        job.error = "; ".join(f"{what}: {error}" for what, error in summary.failures[:3]) or None

    registry.start_work(project_id, "distill", model, run)


with topic_tab:
    topic = st.text_area(t("distill.topic"), key="ds_topic")
    c1, c2, c3 = st.columns(3)
    levels = c1.selectbox(t("distill.levels"), [2, 1], key="ds_levels")
    tags = c2.number_input(t("distill.tags"), 1, 50, 5, key="ds_tags")
    per_tag = c3.number_input(t("distill.per_tag"), 1, 100, 5, key="ds_per_tag")
    tree_text = st.text_area(t("distill.tree"), value=tree_to_json(store.tag_tree(project_id)), height=240,
                             key=f"ds_tree_{len(store.list_tags(project_id))}", help=t("distill.tree_help"))
    b1, b2, b3 = st.columns(3)
    if b1.button(t("distill.save_tree"), disabled=locked, key="ds_save_tree"):
        try:
            store.save_tag_tree(project_id, parse_tree(json.loads(tree_text)))
            st.rerun()
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            st.error(md_escape(one_line(f"{t('distill.tree')}: {exc}")))
    ready = bool(model and topic.strip()) and not locked
    if b2.button(t("distill.make_tree"), disabled=not ready, key="ds_make_tree"):
        _distill_job(True, topic, levels, int(tags), int(per_tag))
    if b3.button(t("distill.start"), type="primary", disabled=not ready, key="ds_start"):
        _distill_job(False, topic, levels, int(tags), int(per_tag))

with expand_tab:
    upload = st.file_uploader(t("distill.examples"), type=["json", "jsonl"], key="ds_examples")
    instruction = st.text_input(t("distill.instruction"), key="ds_instruction")
    count = st.number_input(t("distill.count"), 1, 10_000, 20, key="ds_count")
    examples = []
    if upload is not None:
        try:
            examples = parse_examples(upload.getvalue().decode("utf-8-sig"), upload.name)
            st.caption(t("distill.examples_read", n=len(examples), fmt=examples[0].fmt))
        except (ValueError, UnicodeDecodeError) as exc:
            st.error(md_escape(one_line(str(exc))))
    if st.button(t("distill.expand"), type="primary", key="ds_expand",
                 disabled=locked or not (model and examples and instruction.strip())):
        def run(job, examples=examples, instruction=instruction, count=int(count)) -> None:
            def on_progress(done: int, total: int) -> None:
                job.done, job.total = done, total

            with lock_project(store, project_id):
                summary = expand(store, project_id, backend, model, examples, instruction, count, language=lang,
                                 options=options, cancel=job.cancel, on_progress=on_progress)
            job.summary, job.state, job.error = summary, summary.status, summary.error

        registry.start_work(project_id, "expand", model, run)


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Polls the two jobs of this page; never touches their workers."""
    for kind in ("distill", "expand"):
        job = registry.get(project_id, kind)
        if job is None:
            continue
        st.progress(job.done / job.total if job.total else (0.0 if job.running else 1.0),
                    text=t(f"distill.progress_{kind}", done=job.done, total=job.total))
        if job.running:
            if st.button(t("gen.cancel"), key=f"ds_cancel_{kind}"):
                registry.cancel(project_id, kind)
            continue
        if job.error:
            st.error(md_escape(one_line(job.error)))
        summary = job.summary
        if summary is not None:
            st.info(t(f"distill.done_{kind}", state=job.state, items=summary.items, calls=summary.calls,
                      held=len(getattr(summary, "held", []))))
        if st.session_state.get(f"ds_seen_{kind}") != job.started_at:
            st.session_state[f"ds_seen_{kind}"] = job.started_at
            st.rerun()


progress_panel()
