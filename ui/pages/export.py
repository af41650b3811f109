"""Export: pick a format, see the first records and the validation report, download, and write the
file with its dataset_info.json entry. Plus a small stats panel."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dataset_gen.errors import DatasetGenError
from dataset_gen.export import FORMATS, export_pairs, to_records, validate
from ui.common import base_settings, get_store, project_config, require_project
from ui.i18n import t

store = get_store()
project_id = require_project()
config = project_config(project_id)
project = next(p.name for p in store.list_projects() if p.id == project_id)
st.title(t("export.title"))

c1, c2 = st.columns(2)
fmt = c1.selectbox(t("export.format"), FORMATS, key="ex_format")
include = c2.checkbox(t("export.include"), key="ex_include")
question_in_input = fmt == "alpaca" and c2.checkbox(t("export.question_in_input"), key="ex_qin")
system = st.text_area(t("export.system"), config.system_prompt, key="ex_system").strip() or None

statuses = ("accepted", "generated") if include else ("accepted",)
pairs = store.list_pairs(project_id, statuses=statuses)
if not pairs:
    st.info(t("export.empty"))
else:
    records = to_records(fmt, pairs, system=system, question_in_input=question_in_input)
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
    jsonl = fmt == "openai"
    suffix = ".jsonl" if jsonl else ".json"
    payload = ("\n".join(json.dumps(r, ensure_ascii=False) for r in good) + "\n" if jsonl
               else json.dumps(good, ensure_ascii=False, indent=2))
    st.download_button(t("export.download"), payload.encode("utf-8"), file_name=f"{project}-{fmt}{suffix}",
                       mime="application/json", type="primary")

    default_dir = str((base_settings().data_dir / "exports" / project).resolve())
    folder = st.text_input(t("export.folder"), default_dir, key="ex_folder")
    if st.button(t("export.write")):
        try:
            report = export_pairs(pairs, fmt, Path(folder) / f"{project}-{fmt}{suffix}", system=system,
                                  question_in_input=question_in_input, project=project)
            st.success(t("export.written", n=report.written, path=report.path, name=report.dataset_name,
                         info=report.dataset_info_path))
        except (DatasetGenError, OSError) as exc:
            st.error(str(exc))

st.subheader(t("export.stats"))
lengths = store.pair_lengths(project_id)
if lengths:
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
