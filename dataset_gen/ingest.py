"""Parse, split and store a document in one step (used by the CLI, the app and the benchmark)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .chunking import split_document
from .config import ChunkSettings
from .documents import parse_bytes
from .junk import screen_document
from .locks import ProjectLock, project_locked
from .models import Document


@dataclass(frozen=True)
class IngestResult:
    """``document_id`` in the store; ``chunks`` how many chunks it has; ``new`` is ``False`` when
    the same file (name and bytes) was already in the project, whose chunks and pairs are kept.
    ``skipped`` of the new chunks got a skip reason (junk, see :mod:`dataset_gen.junk`); the
    document's ``warnings`` then say so, per reason and, for garbage text layers, per page."""

    document_id: int
    document: Document
    chunks: int
    new: bool
    skipped: int = 0


def ingest_bytes(
    store, project_id: int, data: bytes, name: str, chunking: ChunkSettings, *, max_bytes: int,
    lock: ProjectLock | None = None, should_stop: Callable[[], bool] | None = None, ocr_language: str | None = None,
) -> IngestResult:
    """Parse ``data`` (the bytes of file ``name``), split it and store both in the project.

    A file already in the project keeps its chunks (and so its pairs and generation state: a run on
    it resumes). The file is parsed first; storing and splitting happen under the project's lock
    (:mod:`dataset_gen.locks`): ``lock`` when the caller holds it, else it is taken here, so no
    document is re-split while a run generates for the project. ``should_stop`` is asked between
    pages and blocks while parsing (the app passes "the browser session is gone"). ``ocr_language``
    (``None``: no OCR; else the project's language) OCRs PDF pages without a usable text layer
    (:func:`dataset_gen.documents.parse_bytes`). Every new chunk is screened by
    :func:`dataset_gen.junk.screen_document`: junk (base64 data, a table of contents, a garbage
    text layer …) is stored with its ``skip_reason`` and not sent to the model, and the
    document's warnings say which pages or chunks were held back.

    :raises DocumentError: the file cannot be parsed (see ``dataset_gen.documents``);
        ``ParseCancelled`` when ``should_stop`` said so (nothing is stored).
    :raises ProjectBusyError: a run or another upload holds the project's lock (nothing is stored).
    :raises StoreError: the project does not exist or the store fails.
    """
    document = parse_bytes(data, name, max_bytes=max_bytes, should_stop=should_stop, ocr_language=ocr_language)
    chunks = split_document(document, chunking)
    screening = screen_document(document, chunks)
    document = replace(document, warnings=document.warnings + screening.warnings)
    with project_locked(store, project_id, lock):
        existing = store.find_document(project_id, document.name)
        document_id = store.add_document(project_id, document)
        present = store.list_chunks(project_id, document_id=document_id)
        if existing == document_id and present:
            return IngestResult(document_id, document, len(present), new=False)
        ids = store.replace_chunks(document_id, chunks, screening.reasons)
        skipped = sum(r is not None for r in screening.reasons)
        return IngestResult(document_id, document, len(ids), new=True, skipped=skipped)
