"""RAG evaluation exports: Ragas records (JSONL, CSV) and the BEIR/MTEB zip.

Pairs and chunks come from a real store in ``tmp_path``. The records hold no time stamps, so the
golden files are compared byte for byte as written; to rewrite them after a deliberate format
change, run with ``DATASET_GEN_UPDATE_GOLDEN=1`` and review the diff. Files are also read back the
way their consumers read them (pandas, ``zipfile``, Ragas when it is installed).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from dataset_gen.errors import ExportError
from dataset_gen.models import Chunk, Document, QAPair, StoredPair
from dataset_gen.rag_export import (
    RAGAS_COLUMNS,
    RagExportReport,
    beir_zip_bytes,
    check_rag_output,
    to_beir,
    to_ragas,
    write_beir,
    write_ragas,
)
from dataset_gen.store import ChunkRow, Store

GOLDEN = Path(__file__).parent / "golden" / "rag"

PDF_TEXT = (
    "第一頁：Ollama 是在本機執行大型語言模型的工具。\n"
    "第二頁：安裝後執行 ollama serve 啟動服務，預設埠號是 11434。\n"
    "第三頁：模型檔存放在 ~/.ollama/models，可用 OLLAMA_MODELS 變更。\n"
)
MD_TEXT = 'Notes, without headings.\nThe "default" model is qwen2.5:7b.\n'


class Built:
    """The store's pairs and chunks, with the ids of the pairs the tests look at."""

    def __init__(self, store: Store):
        project = store.create_project("筆記")
        pages = (0, PDF_TEXT.index("第二頁"), PDF_TEXT.index("第三頁"))
        pdf = Document("ollama-筆記.pdf", PDF_TEXT, "pdf", "1" * 64, page_starts=pages)
        md = Document("notes.md", MD_TEXT, "markdown", "2" * 64, encoding="utf-8")
        pdf_id = store.add_document(project, pdf)
        md_id = store.add_document(project, md)
        a = pages[1]
        self.pdf_chunks = store.replace_chunks(pdf_id, [
            Chunk(pdf.name, 0, 0, a, PDF_TEXT[:a], ("Ollama 筆記", "簡介"), 1, 1),
            Chunk(pdf.name, 1, a, len(PDF_TEXT), PDF_TEXT[a:], ("Ollama 筆記", "安裝"), 2, 3),
        ])
        [self.md_chunk] = store.replace_chunks(md_id, [Chunk(md.name, 0, 0, len(MD_TEXT), MD_TEXT)])
        run = store.start_run(project, "qwen2.5:7b", {}, "qa_generate", "3", 3)
        first, second = self.pdf_chunks
        [self.factual] = store.save_chunk_pairs(first, run, [
            QAPair("Ollama 是什麼？", "在本機執行大型語言模型的工具。",
                   "Ollama 是在本機執行大型語言模型的工具", True),
        ])
        self.comparison, self.unanswerable = store.save_chunk_pairs(second, run, [
            QAPair("啟動服務和變更模型存放位置，各要怎麼做？",
                   "執行 ollama serve 啟動服務；設定 OLLAMA_MODELS 變更存放位置。",
                   "執行 ollama serve", True, question_type="comparison",
                   context_chunk_ids=(first,)),
            QAPair("Ollama 支援哪些 GPU？", "文件沒有提到支援哪些 GPU。", "", False,
                   question_type="unanswerable"),
        ])
        [self.explanation] = store.save_chunk_pairs(self.md_chunk, run, [
            QAPair('Why is "qwen2.5:7b" used?', 'It is the "default" model,\nper the notes.',
                   "The \"default\" model is qwen2.5:7b", True, question_type="explanation"),
        ])
        self.pairs: list[StoredPair] = store.list_pairs(project)
        self.chunks: list[ChunkRow] = store.list_chunks(project)

    def pair(self, pair_id: int) -> StoredPair:
        return next(p for p in self.pairs if p.id == pair_id)


@pytest.fixture
def built(tmp_path: Path) -> Built:
    with Store.open(tmp_path / "data") as store:
        return Built(store)


def _check_golden(name: str, produced: bytes) -> None:
    golden = GOLDEN / name
    if os.environ.get("DATASET_GEN_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(produced)
    assert produced == golden.read_bytes(), f"{name} differs from {golden}"


# --- Ragas -----------------------------------------------------------------------------------


def test_ragas_records(built: Built):
    records = {r["pair_id"]: r for r in to_ragas(built.pairs)}
    first, second = built.pdf_chunks
    assert list(records[built.factual]) == list(RAGAS_COLUMNS)
    assert records[built.factual] == {
        "user_input": "Ollama 是什麼？",
        "reference": "在本機執行大型語言模型的工具。",
        "reference_contexts": [PDF_TEXT[:PDF_TEXT.index("第二頁")]],
        "reference_context_ids": [f"c{first}"],
        "question_type": "factual",
        "document": "ollama-筆記.pdf",
        "pages": "1",
        "chunk_ids": [first],
        "pair_id": built.factual,
    }
    comparison = records[built.comparison]
    assert comparison["pages"] == "2-3"
    assert comparison["chunk_ids"] == [second, first]
    assert comparison["reference_context_ids"] == [f"c{second}", f"c{first}"]
    assert comparison["reference_contexts"] == [
        PDF_TEXT[PDF_TEXT.index("第二頁"):], PDF_TEXT[:PDF_TEXT.index("第二頁")],
    ]
    unanswerable = records[built.unanswerable]
    assert unanswerable["question_type"] == "unanswerable"
    assert unanswerable["reference_contexts"] == [PDF_TEXT[PDF_TEXT.index("第二頁"):]]
    assert unanswerable["chunk_ids"] == [second]
    assert records[built.explanation]["pages"] == ""


def test_ragas_jsonl_golden_and_pandas(built: Built, tmp_path: Path):
    path = tmp_path / "out" / "eval.jsonl"
    report = write_ragas(built.pairs, path)
    assert report == RagExportReport(path, 4, 4, 0)
    _check_golden("ragas.jsonl", path.read_bytes())
    assert "\\u" not in path.read_text(encoding="utf-8")

    frame = pd.read_json(path, lines=True)
    assert list(frame.columns) == list(RAGAS_COLUMNS)
    assert list(frame["user_input"]) == [p.question for p in built.pairs]
    assert list(frame["reference"]) == [p.answer for p in built.pairs]
    assert [list(c) for c in frame["reference_contexts"]] == [
        list(p.reference_contexts) for p in built.pairs
    ]
    row = frame.set_index("pair_id").loc[built.comparison]
    assert len(row["reference_contexts"]) == 2


def test_ragas_csv_golden_and_pandas(built: Built, tmp_path: Path):
    path = tmp_path / "eval.csv"
    report = write_ragas(built.pairs, path)
    assert report.records == 4
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    _check_golden("ragas.csv", data)

    frame = pd.read_csv(path, encoding="utf-8-sig")
    assert list(frame.columns) == list(RAGAS_COLUMNS)
    assert list(frame["user_input"]) == [p.question for p in built.pairs]
    assert list(frame["reference"]) == [p.answer for p in built.pairs]
    contexts = [json.loads(cell) for cell in frame["reference_contexts"]]
    assert contexts == [list(p.reference_contexts) for p in built.pairs]
    assert [json.loads(cell) for cell in frame["chunk_ids"]] == [
        [p.chunk_id, *p.context_chunk_ids] for p in built.pairs
    ]
    text = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(text["pages"]) == ["", "1", "2-3", "2-3"]


def test_ragas_loads_in_ragas(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "true")
    ragas = pytest.importorskip("ragas")
    path = tmp_path / "eval.jsonl"
    write_ragas(built.pairs, path)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    dataset = ragas.EvaluationDataset.from_list(records)
    assert len(dataset) == 4
    sample = dataset[[p.id for p in built.pairs].index(built.comparison)]
    assert sample.user_input == built.pair(built.comparison).question
    assert sample.reference == built.pair(built.comparison).answer
    assert len(sample.reference_contexts) == 2


@pytest.mark.parametrize("name", ["eval.json", "eval.parquet", "eval"])
def test_ragas_rejects_other_suffixes(built: Built, tmp_path: Path, name: str):
    tmp_path = tmp_path / "out"
    with pytest.raises(ExportError, match=r"\.jsonl or \.csv"):
        write_ragas(built.pairs, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_ragas_without_pairs(tmp_path: Path):
    with pytest.raises(ExportError, match="No pairs"):
        write_ragas([], tmp_path / "eval.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_ragas_overwrites_without_leftovers(built: Built, tmp_path: Path):
    path = tmp_path / "out" / "eval.csv"
    path.parent.mkdir()
    path.write_text("old", encoding="utf-8")
    write_ragas(built.pairs[:1], path)
    assert len(pd.read_csv(path, encoding="utf-8-sig")) == 1
    assert [p.name for p in path.parent.iterdir()] == ["eval.csv"]


# --- BEIR ------------------------------------------------------------------------------------


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_beir_records(built: Built):
    corpus, queries, qrels = to_beir(built.chunks, built.pairs)
    first, second = built.pdf_chunks
    assert [entry["_id"] for entry in corpus] == [f"c{built.md_chunk}", f"c{first}", f"c{second}"]
    assert corpus[0]["title"] == "notes.md"
    assert corpus[1] == {
        "_id": f"c{first}",
        "title": "Ollama 筆記 > 簡介",
        "text": PDF_TEXT[:PDF_TEXT.index("第二頁")],
        "metadata": {"document": "ollama-筆記.pdf", "pages": "1"},
    }
    assert corpus[2]["metadata"]["pages"] == "2-3"
    assert f"q{built.unanswerable}" not in {q["_id"] for q in queries}
    assert queries[-1] == {
        "_id": f"q{built.comparison}",
        "text": "啟動服務和變更模型存放位置，各要怎麼做？",
        "metadata": {"question_type": "comparison", "document": "ollama-筆記.pdf"},
    }
    assert qrels == [
        (f"q{built.explanation}", f"c{built.md_chunk}", 1),
        (f"q{built.factual}", f"c{first}", 1),
        (f"q{built.comparison}", f"c{second}", 1),
        (f"q{built.comparison}", f"c{first}", 1),
    ]


def test_beir_zip_golden_and_consumers(built: Built, tmp_path: Path):
    path = tmp_path / "out" / "notes-beir.zip"
    report = write_beir(built.chunks, built.pairs, path)
    assert report == RagExportReport(path, records=4, queries=3, corpus=3)
    members = _members(path.read_bytes())
    assert sorted(members) == [
        "notes-beir/corpus.jsonl", "notes-beir/qrels/test.tsv", "notes-beir/queries.jsonl",
    ]
    for member, data in members.items():
        _check_golden("beir/" + member.split("/", 1)[1], data)

    corpus = pd.read_json(io.BytesIO(members["notes-beir/corpus.jsonl"]), lines=True)
    queries = pd.read_json(io.BytesIO(members["notes-beir/queries.jsonl"]), lines=True)
    qrels = pd.read_csv(
        io.BytesIO(members["notes-beir/qrels/test.tsv"]), sep="\t", dtype={"score": int}
    )
    assert list(qrels.columns) == ["query-id", "corpus-id", "score"]
    assert set(qrels["corpus-id"]) <= set(corpus["_id"])
    assert set(qrels["query-id"]) == set(queries["_id"])
    assert set(qrels["score"]) == {1}
    assert len(corpus) == len(built.chunks)
    assert set(corpus["text"]) == {c.text for c in built.chunks}
    per_query = qrels.groupby("query-id").size().to_dict()
    assert per_query[f"q{built.comparison}"] == 2
    assert per_query[f"q{built.factual}"] == 1
    assert f"q{built.unanswerable}" not in per_query
    assert f"q{built.unanswerable}" not in set(queries["_id"])
    question = queries.set_index("_id").loc[f"q{built.comparison}", "text"]
    assert question == built.pair(built.comparison).question


def test_beir_zip_bytes_are_stable(built: Built, tmp_path: Path):
    data = beir_zip_bytes(built.chunks, built.pairs, name="set")
    assert data == beir_zip_bytes(built.chunks, built.pairs, name="set")
    path = tmp_path / "set.zip"
    write_beir(built.chunks, built.pairs, path)
    assert path.read_bytes() == data
    assert sorted(_members(beir_zip_bytes(built.chunks, built.pairs))) == [
        "beir/corpus.jsonl", "beir/qrels/test.tsv", "beir/queries.jsonl",
    ]


def test_beir_folder_is_a_slug_of_the_name(built: Built):
    for name, folder in (("../../../../tmp/x/proj-beir", "tmp-x-proj-beir"), ("筆記-beir", "筆記-beir"),
                         ("..", "beir"), ("/abs/set", "abs-set")):
        assert sorted(_members(beir_zip_bytes(built.chunks, built.pairs, name=name))) == [
            f"{folder}/corpus.jsonl", f"{folder}/qrels/test.tsv", f"{folder}/queries.jsonl",
        ]


@pytest.mark.parametrize("format, name, message", [
    ("ragas", "eval.json", "eval.json: a Ragas evaluation set is written as .jsonl or .csv, not .json: change the file name"),
    ("ragas", "eval", "eval: a Ragas evaluation set is written as .jsonl or .csv, not a file without a suffix: change the file name"),
    ("beir", "set.jsonl", "set.jsonl: a BEIR evaluation set is written as a .zip file: change the file name"),
    ("alpaca", "x.json", "Unknown evaluation-set format 'alpaca': choose ragas or beir"),
])
def test_check_rag_output_refuses_a_suffix_that_does_not_match(format: str, name: str, message: str):
    with pytest.raises(ExportError) as error:
        check_rag_output(format, Path("out") / name)
    assert str(error.value) == message


def test_check_rag_output_accepts_matching_suffixes():
    for format, name in (("ragas", "e.jsonl"), ("ragas", "E.CSV"), ("beir", "s.Zip")):
        assert check_rag_output(format, Path(name)) is None


def test_beir_skips_chunks_missing_from_the_corpus(built: Built):
    first, second = built.pdf_chunks
    chunks = [c for c in built.chunks if c.id != first]
    corpus, queries, qrels = to_beir(chunks, built.pairs)
    assert f"q{built.factual}" not in {q["_id"] for q in queries}
    assert qrels == [
        (f"q{built.explanation}", f"c{built.md_chunk}", 1),
        (f"q{built.comparison}", f"c{second}", 1),
    ]


def test_beir_errors(built: Built, tmp_path: Path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(ExportError, match="No pairs"):
        write_beir(built.chunks, [], tmp_path / "set.zip")
    with pytest.raises(ExportError, match="No pairs"):
        beir_zip_bytes(built.chunks, [])
    with pytest.raises(ExportError, match="unanswerable"):
        beir_zip_bytes(built.chunks, [built.pair(built.unanswerable)])
    with pytest.raises(ExportError, match=r"\.zip"):
        write_beir(built.chunks, built.pairs, tmp_path / "set.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path(built: Built, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ExportError, match="cannot write"):
        write_beir(built.chunks, built.pairs, blocker / "set.zip")
    with pytest.raises(ExportError, match="cannot write"):
        write_ragas(built.pairs, blocker / "eval.csv")
