"""Export: fine-tuning files (Alpaca, ShareGPT, OpenAI messages) with a preview, the validation
report, a download and dataset_info.json; RAG evaluation sets (Ragas, BEIR); and statistics.

File and folder names come from the core (:func:`dataset_gen.export.export_file_name`,
:func:`dataset_gen.export.project_export_dir`, :func:`dataset_gen.names.safe_slug`), and "Write
files" goes through :func:`dataset_gen.export.export_project`: the app writes only under
``<data folder>/exports/<project>/`` (writing elsewhere is the CLI's ``--output``)."""

import contextlib
import json

import pandas as pd
import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.export import (
    FORMATS,
    export_file_name,
    export_pairs,
    export_project,
    project_export_dir,
    to_records,
    validate,
)
from dataset_gen.gate import HOLD_REASONS, hold_back, summary
from dataset_gen.gate import label as reason_label
from dataset_gen.models import QUESTION_TYPES
from dataset_gen.names import inside, safe_slug
from dataset_gen.quality import coverage
from dataset_gen.rag_export import beir_zip_bytes, to_ragas
from dataset_gen.splits import BY, SPLITS, shortfall, split_project
from ui.common import base_settings, get_store, project_config, read_only, require_project
from ui.i18n import t
from ui.safe import md_escape, one_line

store = get_store()
project_id = require_project()
config = project_config(project_id)
project = next(p.name for p in store.list_projects() if p.id == project_id)
rag_name = safe_slug(project)  # the RAG downloads' names; the training file's is export_file_name()
st.title(t("export.title"))

include = st.checkbox(t("export.include"), key="ex_include")
flagged = st.multiselect(t("export.include_flagged"), [r for r in HOLD_REASONS if r not in ("unanswerable", "near_duplicate")],
                         format_func=reason_label, key="ex_flagged")
statuses = ("accepted", "generated") if include else ("accepted",)
if not read_only():
    with contextlib.suppress(DatasetGenError):  # a full disk: pairs made before the checks pass unflagged
        store.fill_flags(project_id)
counts = store.split_counts(project_id)
st.caption(t("export.split_counts", **counts))
split = st.selectbox(t("export.split"), [None, *SPLITS], format_func=lambda s: t("export.split_all") if s is None else s,
                     key="ex_split")
with st.expander(t("export.split_make")):
    e1, e2, e3, e4 = st.columns(4)
    test_share = e1.number_input(t("export.split_test"), 0.0, 1.0, 0.1, 0.05, key="ex_split_test")
    validation_share = e2.number_input(t("export.split_validation"), 0.0, 1.0, 0.0, 0.05, key="ex_split_validation")
    split_by = e3.selectbox(t("export.split_by"), BY, format_func=lambda b: t(f"export.by_{b}"), key="ex_split_by")
    split_seed = e4.number_input(t("export.split_seed"), 0, 2**31 - 1, 0, key="ex_split_seed")
    if st.button(t("export.split_run"), disabled=read_only(), key="ex_split_run"):
        try:
            made = split_project(store, project_id, test=test_share, validation=validation_share, by=split_by,
                                 seed=int(split_seed))
            st.success(t("export.split_done", assigned=made.assigned, kept=made.kept))
            st.caption(t("export.split_counts", **made.counts))
            why = shortfall(made, test=test_share, validation=validation_share, by=split_by)
            if why:
                st.warning(md_escape(why))
        except (DatasetGenError, ValueError) as exc:
            st.error(md_escape(one_line(str(exc))))
counts = store.split_counts(project_id)
if split is not None and counts["none"] and any(counts[s] for s in SPLITS):
    st.warning(t("export.unsplit", n=counts["none"]))  # accepted after the split: in no split's file
pool = store.list_pairs(project_id, statuses=statuses, split=split)
training, rag, stats = st.tabs([t("export.training"), t("export.rag"), t("export.stats")])

with training:
    c1, c2 = st.columns(2)
    fmt = c1.selectbox(t("export.format"), FORMATS, key="ex_format")
    question_in_input = fmt == "alpaca" and c2.checkbox(t("export.question_in_input"), key="ex_qin")
    reasoning = c2.checkbox(t("export.reasoning"), key="ex_reasoning")
    unanswerable = c1.checkbox(t("export.unanswerable"), key="ex_unanswerable")
    duplicates = c1.checkbox(t("export.duplicates"), key="ex_duplicates")
    min_score = c2.number_input(t("export.min_score"), 1, 5, config.judge_threshold, key="ex_min_score")
    system = st.text_area(t("export.system"), config.system_prompt, key="ex_system").strip() or None
    allowed = {*flagged, *(["unanswerable"] if unanswerable else []), *(["near_duplicate"] if duplicates else [])}
    pairs, held = hold_back(pool, include=allowed, min_score=min_score)
    if held:
        st.caption(one_line(summary(held)))
    if not pairs:
        st.info(t("export.empty"))
    else:
        records = to_records(fmt, pairs, system=system, question_in_input=question_in_input, reasoning=reasoning)
        problems = validate(fmt, records)
        if problems:
            st.warning(t("export.problems"))
            st.dataframe([{"record": p.index, "reason": p.reason} for p in problems], hide_index=True)
        else:
            st.success(t("export.valid", n=len(records)))
        st.caption(t("export.preview"))
        st.json(records[:3], expanded=2)
        bad = {p.index for p in problems}
        good = [r for i, r in enumerate(records) if i not in bad]
        file_name = export_file_name(project, fmt)
        if split in ("validation", "test"):  # its own dataset_info.json entry, for eval_dataset
            file_name = file_name.replace(f"-{fmt}.", f"-{fmt}-{split}.")
        payload = ("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in good) if file_name.endswith(".jsonl")
                   else json.dumps(good, ensure_ascii=False, indent=2) + "\n")
        st.download_button(t("export.download"), payload.encode("utf-8"), file_name=file_name,
                           mime="application/json", type="primary", key="ex_download")
        # Only under <data dir>/exports/<project>/: a typed sub-folder is slugged and kept inside.
        root = project_export_dir(base_settings().data_dir, project).resolve()
        sub = safe_slug(st.text_input(t("export.subfolder"), key="ex_subfolder", disabled=read_only()), fallback="")
        folder = inside(root, sub) if sub else root
        st.caption(t("export.folder"))
        st.code(str(folder / file_name), language=None)
        if st.button(t("export.write"), disabled=read_only()):
            try:
                report = (export_project(pairs, fmt, folder, project=project, system=system,
                                         question_in_input=question_in_input, reasoning=reasoning)
                          if split in (None, "train") else
                          export_pairs(pairs, fmt, inside(folder, file_name), system=system, project=project,
                                       question_in_input=question_in_input, reasoning=reasoning))
                st.success(t("export.written", n=report.written, path=md_escape(str(report.path)),
                             name=md_escape(report.dataset_name), info=md_escape(str(report.dataset_info_path))))
            except (DatasetGenError, OSError) as exc:
                st.error(md_escape(one_line(str(exc))))

with rag:
    st.caption(t("export.rag_help"))
    rag_pairs, rag_held = hold_back(pool, include=set(flagged), min_score=min_score, training=False)
    if rag_held:
        st.caption(one_line(summary(rag_held)))
    if not rag_pairs:
        st.info(t("export.empty"))
    else:
        records = to_ragas(rag_pairs)
        st.json(records[:2], expanded=2)
        r1, r2, r3 = st.columns(3)
        r1.download_button(t("export.ragas_jsonl"), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                           file_name=f"{rag_name}-ragas.jsonl", mime="application/json", key="ex_ragas_jsonl")
        csv = pd.DataFrame([{k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for k, v in r.items()}
                            for r in records]).to_csv(index=False)
        r2.download_button(t("export.ragas_csv"), ("\ufeff" + csv).encode("utf-8"), file_name=f"{rag_name}-ragas.csv",
                           mime="text/csv", key="ex_ragas_csv")
        try:
            archive = beir_zip_bytes(store.list_chunks(project_id), rag_pairs, name=f"{rag_name}-beir")
            r3.download_button(t("export.beir"), archive, file_name=f"{rag_name}-beir.zip", mime="application/zip",
                               key="ex_beir")
        except DatasetGenError as exc:
            r3.warning(md_escape(one_line(str(exc))))

with stats:
    lengths = store.pair_lengths(project_id)
    if not lengths:
        st.info(t("review.none"))
        st.stop()
    frame = pd.DataFrame(lengths, columns=["document", "status", "q", "a"])
    s1, s2 = st.columns(2)
    s1.caption(t("export.per_doc"))
    s1.bar_chart(frame.groupby("document").size().rename("pairs"))
    s2.caption(t("export.status_counts"))
    s2.bar_chart(frame.groupby("status").size().rename("pairs"))
    s3, s4 = st.columns(2)
    for column, label, slot in (("q", "export.q_len", s3), ("a", "export.a_len", s4)):
        slot.caption(t(label))
        counts = pd.cut(frame[column], bins=min(15, max(1, len(frame)))).value_counts(sort=False)
        slot.bar_chart(pd.DataFrame({"pairs": counts.values}, index=[int(i.right) for i in counts.index]))
    s5, s6 = st.columns(2)
    s5.caption(t("export.type_mix"))
    s5.bar_chart(pd.Series({k: store.count_pairs(project_id, question_type=k) for k in QUESTION_TYPES}, name="pairs"))
    everything = store.list_pairs(project_id)
    judged = [p for p in everything if p.faithfulness is not None]
    s6.caption(t("export.scores", n=len(judged)))
    if judged:
        scores = pd.DataFrame({m: [getattr(p, m) for p in judged] for m in ("faithfulness", "relevance", "clarity")})
        s6.bar_chart(scores.apply(lambda c: c.value_counts().reindex(range(1, 6), fill_value=0)))
    clusters: dict[int, int] = {}
    for p in everything:
        if p.duplicate_of is not None:
            clusters[p.duplicate_of] = clusters.get(p.duplicate_of, 1) + 1
    per_tag = store.tag_counts(project_id)  # items per domain tag (dataset_gen.tags), when the project has a tree
    if per_tag:
        st.caption(t("export.per_tag"))
        st.bar_chart(pd.Series(per_tag, name="pairs"))
    st.caption(t("export.duplicates_stats", clusters=len(clusters), marked=sum(clusters.values()) - len(clusters)))
    if clusters:
        sizes = pd.Series(list(clusters.values())).value_counts().sort_index()
        st.bar_chart(pd.DataFrame({"clusters": sizes.values}, index=[f"{s} pairs" for s in sizes.index]))
    documents, uncovered = coverage(store, project_id)
    st.caption(t("export.coverage"))
    st.dataframe(
        pd.DataFrame([{"document": d.document, "covered": d.covered / d.chunks if d.chunks else 0.0,
                       "chunks": d.chunks, "pairs": d.pairs, "accepted": d.accepted} for d in documents]),
        column_config={"covered": st.column_config.ProgressColumn(t("export.covered"), min_value=0.0, max_value=1.0,
                                                                   format="percent")},
        hide_index=True, width="stretch",
    )
    if uncovered:
        st.dataframe([{"document": u.document, "chunk": u.ordinal, "section": " > ".join(u.heading_path),
                       "reason": u.reason} for u in uncovered], hide_index=True, width="stretch")
