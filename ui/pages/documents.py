"""Documents: upload several files at once, see how each parsed (or why not), preview, delete.

A file is parsed while its page is open: when the browser session goes (the tab is closed or
reloaded), parsing stops at the next page or block and nothing of that file is stored.
"""

import logging

import streamlit as st

from dataset_gen.documents import ParseCancelled
from dataset_gen.errors import DocumentError, NoTextLayerError, StoreError
from dataset_gen.ingest import ingest_bytes
from dataset_gen.language import detect_language
from ui.common import (
    base_settings,
    changed,
    get_store,
    project_config,
    read_only,
    require_project,
    session_gone_check,
)
from ui.i18n import t
from ui.safe import md_escape, one_line

log = logging.getLogger("dataset_gen.ui")
store = get_store()
project_id = require_project()
locked = read_only()  # nothing can be saved: uploading and deleting are disabled
st.title(t("docs.title"))


@st.cache_data(max_entries=500)
def document_language(document_id: int, sha256: str) -> str:
    """Detected language of a stored document (cached by id and content hash)."""
    return detect_language(store.get_document(document_id).text)


def upload_messages(files, ocr: bool) -> list[tuple[str, str]]:
    """Ingest each uploaded file; return ``(kind, text)`` messages, one line each and naming its
    file. A file that fails never stops the others, and no error shows a traceback: a
    :class:`DocumentError` or :class:`StoreError` shows its message, anything else a short note
    (its traceback goes to the log). When the browser session goes while a file is parsed, its
    parse stops (logged), nothing of it is stored and the files after it are left alone. ``ocr``
    reads PDF pages without a usable text layer by OCR; when it is off, a PDF refused for having
    no text layer is told to tick the OCR box."""
    config = project_config(project_id).model_copy(update={"ocr": ocr})
    gone = session_gone_check()
    messages = []
    for file in files:
        try:
            result = ingest_bytes(store, project_id, file.getvalue(), file.name, config.chunking(),
                                  max_bytes=base_settings().max_file_bytes, should_stop=gone,
                                  ocr_language=config.ocr_language())
        except ParseCancelled:
            log.info("Upload of %r abandoned (the browser session ended): parsing stopped, nothing stored",
                     file.name)
            messages.append(("warning", one_line(t("docs.cancelled", name=file.name))))
            break
        except NoTextLayerError as exc:
            messages.append(("error", one_line(str(exc) if ocr else t("docs.ocr_offer", error=exc, option=t("docs.ocr")))))
            continue
        except DocumentError as exc:
            messages.append(("error", one_line(str(exc))))
            continue
        except StoreError as exc:
            messages.append(("error", one_line(f"{file.name}: {exc}")))
            continue
        except Exception as exc:
            log.exception("Upload of %r failed", file.name)
            messages.append(("error", one_line(t("docs.failed", name=file.name, error=f"{type(exc).__name__}: {exc}"))))
            continue
        state = t("docs.added") if result.new else t("docs.kept")
        messages.append(("success", f"{one_line(file.name)}: {state}, {t('count.chunks', n=result.chunks)}"))
        for warning in result.document.warnings:
            messages.append(("warning", one_line(f"{file.name}: {warning}")))
    return messages


saved_ocr = project_config(project_id).ocr
ocr = st.checkbox(t("docs.ocr"), value=saved_ocr, help=t("docs.ocr_help"), disabled=locked, key=f"docs_ocr_{project_id}")
if ocr != saved_ocr and not locked:  # a project setting: kept for the next uploads (and the CLI's --ocr is per run)
    changed(lambda: store.set_settings(project_id, project_config(project_id).model_copy(update={"ocr": ocr}).model_dump()))
uploader_key = f"uploader_{st.session_state.get('uploads', 0)}"
files = st.file_uploader(t("docs.upload"), accept_multiple_files=True, key=uploader_key, disabled=locked)
if files:
    with st.spinner("…"):
        st.session_state["upload_messages"] = upload_messages(files, ocr)
    st.session_state["uploads"] = st.session_state.get("uploads", 0) + 1
    st.rerun()

for kind, text in st.session_state.pop("upload_messages", []):
    getattr(st, kind)(md_escape(text))

documents = store.list_documents(project_id)
if not documents:
    st.info(t("docs.empty"))
    st.stop()

st.dataframe(
    [
        {
            t("col.document"): d.name, t("col.type"): d.kind, t("col.pages"): str(d.pages or ""),
            t("col.characters"): d.chars, t("col.language"): document_language(d.id, d.sha256),
            t("col.encoding"): d.encoding or "", t("col.chunks"): d.chunks, t("col.pairs"): d.pairs,
            t("col.warnings"): len(d.warnings),
        }
        for d in documents
    ],
    hide_index=True, width="stretch",
)

by_id = {d.id: d for d in documents}
chosen = st.selectbox(t("chunks.document"), list(by_id), format_func=lambda i: by_id[i].name, key="docs_pick")
doc = by_id[chosen]
if doc.warnings:
    with st.expander(t("docs.warnings")):
        for warning in doc.warnings:
            st.text(warning)
with st.expander(t("docs.preview")):
    text = store.get_document(chosen).text
    st.text(text[:20000] + ("\n…" if len(text) > 20000 else ""))
with st.popover(t("docs.delete"), disabled=locked):
    st.write(t("docs.delete_confirm"))
    if (st.button(t("docs.delete"), key=f"delete_doc_{chosen}", type="primary", disabled=locked)
            and changed(lambda: store.delete_document(chosen), project_id)):
        st.rerun()
