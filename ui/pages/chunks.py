"""Chunks: browse a project's chunks a page at a time (filter by document, status and skipped, search
their text) with heading path and pages; edit, merge, delete and re-split them, each under the
project's lock (refused while a run or an upload uses it). Only the page shown is read from the
store, so the page opens as fast for 30,000 chunks as for 1,000.

A chunk held back as junk (``skip_reason``: base64 data, a table of contents, a garbage text layer,
see :mod:`dataset_gen.junk`) says why; a person can send it to the model anyway, and undo that."""

import math
from functools import partial

import pandas as pd
import streamlit as st

from dataset_gen.chunking import split_document
from dataset_gen.junk import screen_document
from dataset_gen.store_chunks import ChunkFilter
from ui.common import changed, get_store, project_config, read_only, require_project
from ui.i18n import reason_label, status_label, t
from ui.safe import md_escape

PAGE_SIZE = 50  # chunks per page

store = get_store()
project_id = require_project()
locked = read_only()  # nothing can be saved: every change is disabled
st.title(t("chunks.title"))

documents = store.list_documents(project_id)
if not documents:
    st.info(t("docs.empty"))
    st.stop()
by_id = {d.id: d for d in documents}


def length_bins(lengths: list[int], most: int = 20) -> pd.DataFrame:
    """A histogram of chunk lengths (characters): up to ``most`` bins of one whole-number width,
    from the shortest length up; columns ``from`` (inclusive), ``to`` (exclusive) and ``chunks``,
    ascending by ``from``."""
    low, high = min(lengths), max(lengths)
    count = min(most, len(lengths))
    width = max(1, math.ceil((high - low + 1) / count))
    rows = [{"from": low + i * width, "to": low + (i + 1) * width, "chunks": 0}
            for i in range((high - low) // width + 1)]
    for n in lengths:
        rows[(n - low) // width]["chunks"] += 1
    return pd.DataFrame(rows)


f1, f2, f3, f4 = st.columns([3, 2, 2, 3])
# One document: it is the only choice; several: all of them, or one.
chosen = f1.selectbox(t("chunks.document"), [None, *by_id] if len(by_id) > 1 else list(by_id), key="chunks_doc",
                      format_func=lambda i: t("chunks.all_documents") if i is None else by_id[i].name)
status = f2.selectbox(t("chunks.filter_status"), [None, "pending", "done", "failed"], key="chunks_status",
                      format_func=lambda s: t("chunks.any") if s is None else status_label(s))
skip_choice = f3.selectbox(t("chunks.filter_skipped"), [None, True, False], key="chunks_skipped",
                           format_func=lambda s: t("chunks.any") if s is None else
                           t("chunks.only_skipped" if s else "chunks.not_skipped"))
query = f4.text_input(t("chunks.search"), key="chunks_search").strip()
where = ChunkFilter(document_id=chosen, statuses=None if status is None else (status,), skipped=skip_choice,
                    search=query)
total = store.count_chunks(project_id, where)

lengths = store.chunk_lengths(project_id, where)
if lengths:
    st.caption(t("chunks.histogram"))
    st.vega_lite_chart(length_bins(lengths), {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {  # a numeric axis: bins in ascending order of length
            "x": {"field": "from", "type": "quantitative", "bin": {"binned": True}, "title": t("chunks.histogram")},
            "x2": {"field": "to"},
            "y": {"field": "chunks", "type": "quantitative", "title": t("chunks.axis_chunks")},
        },
    }, width="stretch")

skipped = store.chunk_counts(project_id, None if chosen is None else [chosen])["skipped"]
if skipped:
    st.caption(t("chunks.skipped_count", n=skipped))
if not total:
    st.info(t("chunks.none"))
pages = max(1, math.ceil(total / PAGE_SIZE))
page = int(st.number_input(t("chunks.page"), 1, pages, 1, key=f"chunks_page_{where}")) if pages > 1 else 1
offset = (page - 1) * PAGE_SIZE
rows = store.chunk_page(project_id, where, limit=PAGE_SIZE, offset=offset)
if total:
    st.caption(t("chunks.showing", first=offset + 1, last=offset + len(rows), n=total))
for c, next_id in rows:
    span = "" if c.page_start is None else f" · p. {c.page_start}" + ("" if c.page_end == c.page_start else f"–{c.page_end}")
    path = " > ".join(c.heading_path) or "—"
    mark = " · ✎" if c.edited else ""
    if c.skip_reason is not None:
        mark += " · " + t("chunks.skip_mark" if c.skipped else "chunks.sent_mark", reason=reason_label(c.skip_reason))
    title = (("" if chosen is not None else f"{md_escape(c.document)} ") + f"#{c.ordinal} · {md_escape(path)}{span} · {t('chunks.chars', n=len(c.text))}"
             f" · {status_label(c.gen_status)} · {t('count.pairs', n=c.pairs)}{mark}")
    with st.expander(title):
        if c.gen_error:
            st.error(md_escape(c.gen_error))
        if c.skip_reason is not None:
            why = md_escape(reason_label(c.skip_reason))
            if c.skipped:
                st.warning(t("chunks.skipped", reason=why))
                if (st.button(t("chunks.send_anyway"), key=f"chunk_send_{c.id}", disabled=locked)
                        and changed(partial(store.set_send_anyway, c.id, True), project_id)):
                    st.rerun()
            else:
                st.info(t("chunks.sent_anyway", reason=why))
                if (st.button(t("chunks.skip_again"), key=f"chunk_skip_{c.id}", disabled=locked)
                        and changed(partial(store.set_send_anyway, c.id, False), project_id)):
                    st.rerun()
        text = st.text_area(t("chunks.text"), c.text, height=220, key=f"chunk_text_{c.id}", disabled=locked)
        b1, b2, b3 = st.columns(3)
        if (b1.button(t("chunks.save"), key=f"chunk_save_{c.id}", disabled=locked or text == c.text)
                and changed(partial(store.edit_chunk, c.id, text), project_id)):
            st.toast(t("chunks.saved"))
            st.rerun()
        if (next_id is not None and b2.button(t("chunks.merge"), key=f"chunk_merge_{c.id}", disabled=locked)
                and changed(partial(store.merge_chunks, c.id, next_id), project_id)):
            st.rerun()
        with b3.popover(t("chunks.delete"), disabled=locked):
            st.write(t("chunks.delete_confirm", pairs=c.pairs))
            if (st.button(t("chunks.delete"), key=f"chunk_delete_{c.id}", type="primary", disabled=locked)
                    and changed(partial(store.delete_chunk, c.id), project_id)):
                st.rerun()

if chosen is not None:
    document_id: int = chosen
    doc_pairs = by_id[document_id].pairs
    with st.popover(t("chunks.resplit"), disabled=locked):
        if doc_pairs:
            st.warning(t("chunks.resplit_confirm", pairs=doc_pairs))
        if st.button(t("chunks.resplit"), key=f"resplit_{document_id}", type="primary", disabled=locked):
            document = store.get_document(document_id)
            new_chunks = split_document(document, project_config(project_id).chunking())
            reasons = screen_document(document, new_chunks).reasons

            def resplit() -> None:
                store.replace_chunks(document_id, new_chunks, reasons)

            if changed(resplit, project_id):
                st.toast(t("chunks.resplit_done", n=len(new_chunks)))
                st.rerun()
