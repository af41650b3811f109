"""Turn stored QA pairs into RAG evaluation sets: Ragas records and a BEIR/MTEB retrieval set.

Two layouts (see ``formats.md``, section "RAG evaluation sets"):

- **Ragas** (explodinggradients/ragas, testset records / ``EvaluationDataset``): one record per
  pair, ``{"user_input": question, "reference": answer, "reference_contexts": [text, ...]}`` plus
  our provenance columns (``question_type``, ``document``, ``pages``, ``chunk_ids``,
  ``pair_id``). Ragas ignores columns it does not know, so
  ``EvaluationDataset.from_list(to_ragas(pairs))`` loads the records as they are. Written as JSON
  Lines or as CSV (:func:`write_ragas`).
- **BEIR / MTEB**: ``corpus.jsonl`` (every chunk of the project), ``queries.jsonl`` (the
  questions) and ``qrels/test.tsv`` (which chunks answer which question), in one zip
  (:func:`write_beir`, :func:`beir_zip_bytes`). A retriever run over the corpus can then be scored
  (recall@k, nDCG@k) against the chunks each question was generated from.

The record builders are pure functions; the writers reuse the atomic writer of
:mod:`dataset_gen.export`, so a reader never sees half a file. Example::

    pairs = store.list_pairs(project_id, statuses=["accepted"])
    write_ragas(pairs, Path("out/notes-ragas.jsonl"))
    write_beir(store.list_chunks(project_id), pairs, Path("out/notes-beir.zip"))
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .dataset_info import write_atomic
from .errors import ExportError
from .export import metadata, write_records
from .export_records import prompt, response
from .models import StoredPair
from .names import safe_slug
from .store_rows import ChunkRow

__all__ = [
    "RAGAS_COLUMNS", "RAGAS_SUFFIXES", "RagExportReport", "beir_zip_bytes", "check_rag_output", "to_beir",
    "to_ragas", "write_beir", "write_ragas",
]

RAGAS_COLUMNS = (
    "user_input", "reference", "reference_contexts", "reference_context_ids", "question_type", "document", "pages",
    "chunk_ids", "pair_id",
)
"""The keys of a Ragas record, in order (also the CSV header)."""

RAGAS_SUFFIXES = (".jsonl", ".csv")
"""File suffixes :func:`write_ragas` accepts."""

UNANSWERABLE = "unanswerable"

QRELS_HEADER = ("query-id", "corpus-id", "score")

NO_PAIRS_MESSAGE = "No pairs to export as an evaluation set: generate and accept some pairs first"

# A fixed time stamp for the zip members, so the same input always gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class RagExportReport:
    """What a writer did.

    ``records`` is the number of Ragas records, or of qrel lines in a BEIR set; ``queries`` the
    number of questions written (for Ragas, the same as ``records``); ``corpus`` the number of
    chunks in the BEIR corpus (``0`` for Ragas, which has no corpus file).
    """

    path: Path
    records: int
    queries: int
    corpus: int


def check_rag_output(format: str, path: Path) -> None:
    """Check that ``path``'s suffix (any case) fits evaluation-set ``format`` before anything is
    read or written: ``ragas`` is ``.jsonl`` (JSON Lines) or ``.csv``; ``beir`` is ``.zip``.

    :raises ExportError: another suffix or format (one line naming the file and what to use).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if format == "ragas":
        if suffix not in RAGAS_SUFFIXES:
            raise ExportError(
                f"{path.name}: a Ragas evaluation set is written as .jsonl or .csv, not "
                f"{suffix or 'a file without a suffix'}: change the file name"
            )
    elif format == "beir":
        if suffix != ".zip":
            raise ExportError(
                f"{path.name}: a BEIR evaluation set is written as a .zip file: change the file name"
            )
    else:
        raise ExportError(f"Unknown evaluation-set format {format!r}: choose ragas or beir")


# --- Ragas -----------------------------------------------------------------------------------


def to_ragas(pairs: Sequence[StoredPair]) -> list[dict]:
    """Ragas testset records, one per pair, in the order given.

    Shape::

        {"user_input": question, "reference": answer,
         "reference_contexts": [chunk text, context chunk text, ...],
         "reference_context_ids": ["c<chunk id>", ...],
         "question_type": "factual" | "explanation" | "comparison" | "unanswerable",
         "document": file name, "pages": "3" | "3-4" | "",
         "chunk_ids": [chunk id, context chunk id, ...], "pair_id": int}

    ``reference_context_ids`` are the BEIR corpus ids of the same chunks (see :func:`to_beir`),
    which Ragas' id-based context metrics read. ``reference_contexts`` is
    :attr:`StoredPair.reference_contexts`: the pair's chunk first, then
    the further chunks of a comparison pair. An ``unanswerable`` pair keeps the chunk(s) it was
    asked about, and its ``reference`` is the answer saying the document does not tell. A
    ``choice`` item's ``user_input`` is its question with the options as ``A. …`` lines under it
    and its ``reference`` the letter and text of the right one (``B. <text>``,
    :func:`dataset_gen.export_records.prompt` / :func:`~dataset_gen.export_records.response`). Items with
    no source chunk (not made from a document) are left out: they have nothing to retrieve.
    """
    records = []
    for pair in pairs:
        if pair.chunk_id is None:  # no source chunk: nothing to retrieve
            continue
        provenance = metadata(pair)
        records.append({
            "user_input": prompt(pair),
            "reference": response(pair),
            "reference_contexts": [str(text) for text in pair.reference_contexts],
            "reference_context_ids": [f"c{i}" for i in (pair.chunk_id, *pair.context_chunk_ids)],
            "question_type": str(pair.question_type),
            "document": provenance["document"],
            "pages": provenance["pages"],
            "chunk_ids": [int(pair.chunk_id), *(int(i) for i in pair.context_chunk_ids)],
            "pair_id": provenance["pair_id"],
        })
    return records


def write_ragas(pairs: Sequence[StoredPair], path: Path) -> RagExportReport:
    """Write :func:`to_ragas` records to ``path``; the suffix picks the format.

    - ``.jsonl``: JSON Lines in UTF-8, non-ASCII text kept readable (no ``\\uXXXX`` escapes);
    - ``.csv``: a header of :data:`RAGAS_COLUMNS`, then one row per record, in UTF-8 with a byte
      order mark (``utf-8-sig``) so Excel shows Chinese text correctly; the list columns
      (``reference_contexts``, ``chunk_ids``) hold JSON arrays. Read it back with
      ``pandas.read_csv(path, encoding="utf-8-sig")`` and ``json.loads`` on those columns.

    The file is written atomically; parent directories are created.

    :raises ExportError: no pairs, another suffix, or the file cannot be written.
    """
    path = Path(path)
    check_rag_output("ragas", path)
    records = to_ragas(_require_pairs(pairs))
    if path.suffix.lower() == ".jsonl":
        write_records(path, records, jsonl=True)
    else:
        write_atomic(path, _ragas_csv(records).encode("utf-8-sig"))
    return RagExportReport(path, len(records), len(records), 0)


def _ragas_csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RAGAS_COLUMNS)
    for record in records:
        writer.writerow([
            json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value
            for value in (record[column] for column in RAGAS_COLUMNS)
        ])
    return buffer.getvalue()


# --- BEIR / MTEB -----------------------------------------------------------------------------


def to_beir(
    chunks: Sequence[ChunkRow], pairs: Sequence[StoredPair]
) -> tuple[list[dict], list[dict], list[tuple[str, str, int]]]:
    """A BEIR/MTEB retrieval set: ``(corpus, queries, qrels)``.

    - ``corpus``: one entry per chunk, in the order given (pass every chunk of the project, so the
      retriever also sees the chunks no question was asked about)::

          {"_id": "c<chunk id>", "title": "heading > path" or the document name,
           "text": chunk text, "metadata": {"document": file name, "pages": "3" | "3-4" | ""}}

    - ``queries``: one per pair with a gold chunk, in the order given::

          {"_id": "q<pair id>", "text": question (a choice item's with its options, as in Ragas),
           "metadata": {"question_type": ..., "document": file name}}

    - ``qrels``: ``(query id, corpus id, 1)`` for the pair's chunk, then each of its
      ``context_chunk_ids`` (a comparison pair has two).

    ``unanswerable`` pairs are left out of queries and qrels: no chunk answers them. A qrel whose
    chunk is not in ``chunks`` (deleted since the pair was made) is left out, and so is a query left
    without any qrel, so every qrel names an existing query and corpus entry.
    """
    corpus = []
    for chunk in chunks:
        corpus.append({
            "_id": _corpus_id(chunk.id),
            "title": " > ".join(chunk.heading_path) or str(chunk.document),
            "text": str(chunk.text),
            "metadata": {
                "document": str(chunk.document),
                "pages": _pages(chunk.page_start, chunk.page_end),
            },
        })
    known = {entry["_id"] for entry in corpus}
    queries: list[dict] = []
    qrels: list[tuple[str, str, int]] = []
    for pair in pairs:
        if pair.question_type == UNANSWERABLE or pair.chunk_id is None:
            continue
        query_id = f"q{int(pair.id)}"
        gold = []
        for chunk_id in (pair.chunk_id, *pair.context_chunk_ids):
            corpus_id = _corpus_id(chunk_id)
            if corpus_id in known and corpus_id not in gold:
                gold.append(corpus_id)
        if not gold:
            continue
        queries.append({
            "_id": query_id,
            "text": prompt(pair),
            "metadata": {"question_type": str(pair.question_type), "document": str(pair.document)},
        })
        qrels.extend((query_id, corpus_id, 1) for corpus_id in gold)
    return corpus, queries, qrels


def beir_zip_bytes(
    chunks: Sequence[ChunkRow], pairs: Sequence[StoredPair], *, name: str = "beir"
) -> bytes:
    """The BEIR set of :func:`to_beir` as the bytes of a zip (for a download button).

    The zip holds ``<name>/corpus.jsonl``, ``<name>/queries.jsonl`` (JSON Lines, UTF-8, no
    ``\\uXXXX`` escapes) and ``<name>/qrels/test.tsv`` (tab-separated, header
    ``query-id	corpus-id	score``). The same input always gives the same bytes. The folder is
    :func:`~dataset_gen.names.safe_slug` of ``name``, so a project's name cannot put members outside
    it when the zip is unpacked (``../x`` gives ``x/...``).

    :raises ExportError: no pairs, or no pair has a gold chunk among ``chunks`` (all unanswerable).
    """
    return _beir_zip(chunks, pairs, name)[0]


def write_beir(
    chunks: Sequence[ChunkRow], pairs: Sequence[StoredPair], path: Path
) -> RagExportReport:
    """Write the BEIR set of :func:`to_beir` as a zip at ``path`` (see :func:`beir_zip_bytes`);
    the folder inside is named after the file's stem (as a slug). Written atomically; parent directories are
    created.

    :raises ExportError: ``path`` does not end in ``.zip``, no pairs, no pair has a gold chunk, or
        the file cannot be written.
    """
    path = Path(path)
    check_rag_output("beir", path)
    data, corpus, queries, qrels = _beir_zip(chunks, pairs, path.stem)
    write_atomic(path, data)
    return RagExportReport(path, qrels, queries, corpus)


def _beir_zip(
    chunks: Sequence[ChunkRow], pairs: Sequence[StoredPair], name: str
) -> tuple[bytes, int, int, int]:
    """The zip bytes and the corpus, query and qrel counts."""
    corpus, queries, qrels = to_beir(chunks, _require_pairs(pairs))
    if not queries:
        raise ExportError(
            "No question has a gold chunk to retrieve (unanswerable questions are left out of a "
            "retrieval set): export questions of another type, or use the Ragas format"
        )
    folder = safe_slug(name, fallback="beir")
    tsv = io.StringIO()
    writer = csv.writer(tsv, delimiter="\t", lineterminator="\n")
    writer.writerow(QRELS_HEADER)
    writer.writerows(qrels)
    members = (
        ("corpus.jsonl", _jsonl(corpus)),
        ("queries.jsonl", _jsonl(queries)),
        ("qrels/test.tsv", tsv.getvalue()),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in members:
            info = zipfile.ZipInfo(f"{folder}/{member}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue(), len(corpus), len(queries), len(qrels)


# --- helpers ---------------------------------------------------------------------------------


def _require_pairs(pairs: Sequence[StoredPair]) -> Sequence[StoredPair]:
    if not pairs:
        raise ExportError(NO_PAIRS_MESSAGE)
    return pairs


def _corpus_id(chunk_id: int) -> str:
    return f"c{int(chunk_id)}"


def _pages(first: int | None, last: int | None) -> str:
    """``"3"``, ``"3-4"`` or ``""``, as in :func:`dataset_gen.export.metadata`."""
    if first is None:
        return ""
    if last is None or last == first:
        return str(first)
    return f"{first}-{last}"


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
