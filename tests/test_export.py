"""Exports: records per format against golden files, the validator, and the atomic writers.

The pairs come from a real store. Golden files hold a fixed ``created_at``; to rewrite them after a
deliberate format change, run with ``DATASET_GEN_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from dataset_gen.errors import ExportError
from dataset_gen.export import (
    FORMATS,
    NO_PAIRS_MESSAGE,
    check_output,
    dataset_info_entry,
    export_pairs,
    metadata,
    select_for_training,
    to_alpaca,
    to_openai,
    to_records,
    to_sharegpt,
    write_dataset_info,
    write_records,
)
from dataset_gen.models import Chunk, Document, QAPair, StoredPair
from dataset_gen.store import Store
from dataset_gen.validate import Problem, validate

GOLDEN = Path(__file__).parent / "golden"
FIXED_TIME = "2025-01-02T03:04:05.000000+00:00"
SYSTEM = "你是一位熟悉 Ollama 的助理，請用繁體中文回答。"

PDF_TEXT = (
    "第一頁：Ollama 是在本機執行大型語言模型的工具。\n"
    "第二頁：安裝後執行 ollama serve 啟動服務。\n"
    "第三頁：預設埠號是 11434。\n"
)
MD_TEXT = "Notes without headings.\nThe \"default\" model is qwen2.5:7b\\latest.\n"


def _build_pairs(store: Store) -> list[StoredPair]:
    """Four pairs in two documents: pages and headings, none of either, an edited pair, an
    ungrounded one, and text that needs JSON escaping."""
    project = store.create_project("筆記")
    pages = (0, PDF_TEXT.index("第二頁"), PDF_TEXT.index("第三頁"))
    pdf = Document("ollama-筆記.pdf", PDF_TEXT, "pdf", "1" * 64, page_starts=pages)
    md = Document("notes.md", MD_TEXT, "markdown", "2" * 64, encoding="utf-8")
    pdf_id = store.add_document(project, pdf)
    md_id = store.add_document(project, md)
    split = pages[2]
    pdf_chunks = store.replace_chunks(pdf_id, [
        Chunk(pdf.name, 0, 0, split, PDF_TEXT[:split], ("Ollama 筆記", "安裝"), 1, 2),
        Chunk(pdf.name, 1, split, len(PDF_TEXT), PDF_TEXT[split:], ("Ollama 筆記", "設定"), 3, 3),
    ])
    [md_chunk] = store.replace_chunks(md_id, [Chunk(md.name, 0, 0, len(MD_TEXT), MD_TEXT)])
    run = store.start_run(project, "qwen2.5:7b", {"temperature": 0.7}, "qa_generate", "2", 3)
    first = store.save_chunk_pairs(pdf_chunks[0], run, [
        QAPair("Ollama 是什麼？", "在本機執行大型語言模型的工具。",
               "Ollama 是在本機執行大型語言模型的工具", True),
        QAPair("如何啟動服務？", "執行 ollama serve。", "執行 ollama serve", True),
    ])
    store.save_chunk_pairs(pdf_chunks[1], run, [
        QAPair("預設埠號是多少？", "11434", "預設埠號是 11434", True),
    ])
    store.save_chunk_pairs(md_chunk, run, [
        QAPair('Which "default" model?', "qwen2.5:7b\\latest\nper the notes.", "nowhere", False),
    ])
    store.update_pair(first[1], answer="執行 `ollama serve` 啟動服務。")
    pairs = store.list_pairs(project)
    store.set_status([p.id for p in pairs[:3]], "accepted")
    return store.list_pairs(project)


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def pairs(store: Store) -> list[StoredPair]:
    return _build_pairs(store)


def _fixed(records: list[dict]) -> list[dict]:
    for record in records:
        record["metadata"]["created_at"] = FIXED_TIME
    return records


def _load(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)


def _check_golden(name: str, produced: Path) -> None:
    golden = GOLDEN / name
    if os.environ.get("DATASET_GEN_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(produced.read_bytes())
    assert produced.read_bytes() == golden.read_bytes(), f"{name} differs from {golden}"


# --- golden files ----------------------------------------------------------------------------


def test_pairs_come_out_in_document_order(pairs: list[StoredPair]):
    assert [(p.document, p.chunk_ordinal, p.status, p.edited) for p in pairs] == [
        ("notes.md", 0, "accepted", False),
        ("ollama-筆記.pdf", 0, "accepted", False),
        ("ollama-筆記.pdf", 0, "accepted", True),
        ("ollama-筆記.pdf", 1, "generated", False),
    ]


def test_alpaca_golden(pairs, tmp_path: Path):
    out = tmp_path / "alpaca.json"
    write_records(out, _fixed(to_alpaca(pairs)), jsonl=False)
    _check_golden("alpaca.json", out)


def test_sharegpt_golden(pairs, tmp_path: Path):
    out = tmp_path / "sharegpt.json"
    write_records(out, _fixed(to_sharegpt(pairs, system=SYSTEM)), jsonl=False)
    _check_golden("sharegpt.json", out)


def test_openai_golden(pairs, tmp_path: Path):
    out = tmp_path / "openai.jsonl"
    write_records(out, _fixed(to_openai(pairs, system=SYSTEM)), jsonl=True)
    _check_golden("openai.jsonl", out)


def test_dataset_info_golden(tmp_path: Path):
    for format, file_name, has_system in (("alpaca", "alpaca.json", False),
                                          ("sharegpt", "sharegpt.json", True),
                                          ("openai", "openai.jsonl", True)):
        entry = dataset_info_entry(format, file_name, has_system=has_system)
        path = write_dataset_info(tmp_path, f"notes_{format}", entry)
    assert path == tmp_path / "dataset_info.json"
    _check_golden("dataset_info.json", path)


def test_export_pairs_writes_the_golden_records(pairs, tmp_path: Path):
    for format, name, system in (("alpaca", "alpaca.json", None), ("sharegpt", "sharegpt.json", SYSTEM),
                                 ("openai", "openai.jsonl", SYSTEM)):
        report = export_pairs(pairs, format, tmp_path / name, system=system)
        assert (report.written, report.problems, report.dataset_name) == (4, [], name.split(".")[0])
        records = _load(report.path)
        assert records[0]["metadata"]["created_at"] == pairs[0].created_at
        assert _fixed(records) == _load(GOLDEN / name)
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert list(info) == ["alpaca", "sharegpt", "openai"]
    assert info["sharegpt"]["columns"] == {"messages": "conversations", "system": "system"}


# --- records ---------------------------------------------------------------------------------


def test_metadata_shapes(pairs):
    by_doc = [metadata(p) for p in pairs]
    assert by_doc[0]["pages"] == "" and by_doc[0]["heading_path"] == ""
    assert by_doc[1]["pages"] == "1-2" and by_doc[1]["heading_path"] == "Ollama 筆記 > 安裝"
    assert by_doc[3]["pages"] == "3"
    assert by_doc[2]["edited"] is True and by_doc[0]["grounded"] is False
    assert by_doc[1]["prompt"] == "qa_generate@2"
    assert by_doc[1]["char_span"] == [pairs[1].chunk_start, pairs[1].chunk_end]
    types = [{key: type(value) for key, value in m.items()} for m in by_doc]
    assert all(t == types[0] for t in types)


def test_metadata_loads_as_one_arrow_schema(pairs, tmp_path: Path):
    pyarrow = pytest.importorskip("pyarrow")
    pa_json = pytest.importorskip("pyarrow.json")
    for format in FORMATS:
        table = pyarrow.Table.from_pylist(to_records(format, pairs, system=SYSTEM))
        assert table.num_rows == 4
    out = tmp_path / "openai.jsonl"
    write_records(out, to_openai(pairs), jsonl=True)
    table = pa_json.read_json(out)
    assert table.column("metadata").type.get_field_index("char_span") >= 0


def test_an_item_from_the_models_own_knowledge_says_so_and_loads_beside_document_items(pairs):
    pyarrow = pytest.importorskip("pyarrow")
    distilled = replace(pairs[0], chunk_id=None, document="", chunk_ordinal=0, chunk_start=0, chunk_end=0,
                        chunk_text="", grounded=False, origin="model")
    meta = metadata(distilled)
    assert (meta["chunk_id"], meta["kind"], meta["origin"], meta["document"]) == (None, "qa", "model", "")
    assert (metadata(pairs[1])["kind"], metadata(pairs[1])["origin"]) == ("qa", "document")
    table = pyarrow.Table.from_pylist(to_records("sharegpt", [*pairs, distilled]))
    assert table.num_rows == 5 and table.column("metadata").type.field("chunk_id").type == pyarrow.int64()


def test_alpaca_options(pairs):
    [record] = to_alpaca(pairs[1:2], system=SYSTEM, question_in_input=True)
    assert list(record) == ["instruction", "input", "output", "system", "metadata"]
    assert (record["instruction"], record["input"]) == ("Answer the question.", "Ollama 是什麼？")
    [custom] = to_alpaca(pairs[1:2], question_in_input=True, instruction="請回答問題。")
    assert custom["instruction"] == "請回答問題。" and "system" not in custom
    assert "system" not in to_alpaca(pairs[1:2], system="")[0]


def test_openai_without_system(pairs):
    [record] = to_openai(pairs[1:2])
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]


def test_dataset_info_entries():
    assert dataset_info_entry("alpaca", "a.json", has_system=True) == {
        "file_name": "a.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
    }
    assert dataset_info_entry("sharegpt", "s.json", has_system=False) == {
        "file_name": "s.json", "formatting": "sharegpt", "columns": {"messages": "conversations"},
    }
    assert dataset_info_entry("openai", "o.jsonl", has_system=True)["tags"]["user_tag"] == "user"
    with pytest.raises(ExportError, match="Unknown export format 'csv'"):
        dataset_info_entry("csv", "x.csv", has_system=False)


# --- validate --------------------------------------------------------------------------------


def _reasons(format: str, record) -> list[str]:
    return [p.reason for p in validate(format, [record])]


def _conv(*turns, **extra) -> dict:
    return {"conversations": [{"from": r, "value": v} for r, v in turns], **extra}


def _msgs(*turns) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def test_valid_records_have_no_problems(pairs):
    for format in FORMATS:
        assert validate(format, to_records(format, pairs, system=SYSTEM)) == []


_OK = {"instruction": "q", "input": "", "output": "a"}
_NEED_INSTRUCTION = "'instruction' must be a non-empty string"
_NEED_OUTPUT = "'output' must be a non-empty string"


@pytest.mark.parametrize("record, reasons", [
    (_OK, []),
    ({**_OK, "system": "s"}, []),
    ({**_OK, "output": ["a"]}, [_NEED_OUTPUT]),
    ({**_OK, "output": "  "}, [_NEED_OUTPUT]),
    ({"input": "", "output": "a"}, [_NEED_INSTRUCTION]),
    ({**_OK, "instruction": 3}, [_NEED_INSTRUCTION]),
    ({**_OK, "input": None}, ["'input' must be a string"]),
    ({**_OK, "system": None}, ["'system' must be a string"]),
    ("text", ["record is not a JSON object"]),
])
def test_validate_alpaca(record, reasons):
    assert _reasons("alpaca", record) == reasons


def test_validate_reports_every_problem_with_its_index():
    problems = validate("alpaca", [_OK, {"instruction": "", "output": ""}, _OK])
    assert problems == [Problem(1, _NEED_INSTRUCTION), Problem(1, _NEED_OUTPUT)]


@pytest.mark.parametrize("record, reasons", [
    (_conv(("human", "q"), ("gpt", "a")), []),
    (_conv(("system", "s"), ("human", "q"), ("gpt", "a")), []),
    (_conv(("human", "q"), ("gpt", "a"), ("human", "q2"), ("gpt", "a2")), []),
    (_conv(("gpt", "a"), ("human", "q")), ["turn 1: expected 'human', got 'gpt'"]),
    (_conv(("human", "q"), ("human", "q")), ["turn 2: expected 'gpt', got 'human'"]),
    (_conv(("human", "q"), ("bot", "a")), ["turn 2: unknown role 'bot'"]),
    (_conv(("human", "q"), ("gpt", "a"), ("human", "q2")),
     ["odd number of turns (3): the last turn must be 'gpt'"]),
    (_conv(("human", "q"), ("gpt", "")), ["turn 2: 'value' must be a non-empty string"]),
    (_conv(("system", "s"), ("human", " "), ("gpt", "a")),
     ["turn 2: 'value' must be a non-empty string"]),
    (_conv(("human", "q"), ("system", "s")),
     ["turn 2: 'system' is allowed only as the first turn"]),
    (_conv(("system", "s")), ["'conversations' has no turns besides the system turn"]),
    (_conv(("human", "q"), ("gpt", "a"), system=["s"]), ["'system' must be a string"]),
    ({"conversations": []}, ["'conversations' must be a non-empty list"]),
    ({"messages": []}, ["'conversations' must be a non-empty list"]),
    ({"conversations": [{"from": "human"}, {"from": "gpt", "value": "a"}]},
     ["every turn of 'conversations' must be an object with 'from' and 'value'"]),
])
def test_validate_sharegpt(record, reasons):
    assert _reasons("sharegpt", record) == reasons


@pytest.mark.parametrize("record, reasons", [
    (_msgs(("system", "s"), ("user", "q"), ("assistant", "a")), []),
    (_msgs(("user", "q"), ("gpt", "a")), ["turn 2: unknown role 'gpt'"]),
    (_msgs(("assistant", "a"), ("user", "q")), ["turn 1: expected 'user', got 'assistant'"]),
    (_msgs(("user", "q")), ["odd number of turns (1): the last turn must be 'assistant'"]),
    (_msgs(("system", 1), ("user", "q"), ("assistant", "a")),
     ["turn 1: the system text must be a string"]),
    (_msgs(("user", "q"), ("assistant", None)), ["turn 2: 'content' must be a non-empty string"]),
    ({"conversations": []}, ["'messages' must be a non-empty list"]),
])
def test_validate_openai(record, reasons):
    assert _reasons("openai", record) == reasons


def test_validate_unknown_format():
    with pytest.raises(ValueError, match="Unknown export format"):
        validate("csv", [])


# --- export_pairs ----------------------------------------------------------------------------


def test_export_skips_invalid_records_and_reports_them(store: Store, pairs, tmp_path: Path):
    project = store.project_id("筆記")
    chunk = store.list_chunks(project)[0]
    run = store.list_runs(project)[0].id
    [empty] = store.save_chunk_pairs(chunk.id, run, [QAPair("空的答案？", "   ", "", False)])
    everything = store.list_pairs(project)
    index = [p.id for p in everything].index(empty)

    report = export_pairs(everything, "alpaca", tmp_path / "out" / "train.jsonl")
    assert report.written == len(everything) - 1
    assert report.problems == [Problem(index, "'output' must be a non-empty string")]
    lines = report.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == report.written  # .jsonl suffix: JSON Lines
    assert all(json.loads(line)["metadata"]["pair_id"] != empty for line in lines)
    assert report.dataset_info_path == tmp_path / "out" / "dataset_info.json"


def test_export_errors(pairs, tmp_path: Path):
    with pytest.raises(ExportError) as error:
        export_pairs([], "alpaca", tmp_path / "out" / "x.json", project="筆記")
    assert str(error.value) == NO_PAIRS_MESSAGE.format(project="筆記")
    assert str(error.value) == (
        "No accepted pairs to export in project '筆記': accept some pairs, "
        "or pass --include-unreviewed"
    )
    with pytest.raises(ExportError, match="^Nothing reviewed yet$"):
        export_pairs([], "alpaca", tmp_path / "out" / "x.json", empty_message="Nothing reviewed yet")
    with pytest.raises(ExportError, match="Unknown export format 'csv'"):
        export_pairs(pairs, "csv", tmp_path / "out" / "x.csv")
    assert not (tmp_path / "out").exists()


def test_export_with_no_valid_record_writes_nothing(store: Store, tmp_path: Path):
    project = store.create_project("p")
    doc = store.add_document(project, Document("a.md", "text", "markdown", "3" * 64))
    [chunk] = store.replace_chunks(doc, [Chunk("a.md", 0, 0, 4, "text")])
    run = store.start_run(project, "m", {}, "qa_generate", "1", 1)
    store.save_chunk_pairs(chunk, run, [QAPair("q", "", "", False)])
    with pytest.raises(ExportError, match=r"None of the 1 pairs can be exported as sharegpt"):
        export_pairs(store.list_pairs(project), "sharegpt", tmp_path / "out" / "x.json")
    assert not (tmp_path / "out").exists()


def test_openai_is_always_jsonl_and_names_default_to_the_stem(pairs, tmp_path: Path):
    report = export_pairs(pairs, "openai", tmp_path / "chat.jsonl")
    lines = report.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["messages"][0]["role"] == "user"
    assert report.dataset_name == "chat"
    with pytest.raises(ExportError) as error:  # JSON Lines never go into a .json file
        export_pairs(pairs, "openai", tmp_path / "chat2.json")
    assert str(error.value) == f"{tmp_path / 'chat2.json'}: openai files are JSON Lines; name the output .jsonl (e.g. chat2.jsonl)"
    assert not (tmp_path / "chat2.json").exists()
    report = export_pairs(pairs, "alpaca", tmp_path / "a.json", dataset_name="my_notes")
    assert isinstance(json.loads(report.path.read_text(encoding="utf-8")), list)
    info = json.loads(report.dataset_info_path.read_text(encoding="utf-8"))
    assert info["my_notes"]["file_name"] == "a.json"


# --- writers ---------------------------------------------------------------------------------


def test_writer_is_utf8_readable_and_leaves_no_temp_files(tmp_path: Path):
    out = tmp_path / "sub" / "data.json"
    write_records(out, [{"instruction": "繁體中文", "output": "好"}], jsonl=False)
    write_records(out, [{"instruction": "再一次", "output": "好"}], jsonl=False)
    assert "再一次" in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["data.json"]
    write_records(tmp_path / "empty.jsonl", [], jsonl=True)
    assert (tmp_path / "empty.jsonl").read_bytes() == b""


def test_writer_failure_raises_export_error_and_cleans_up(tmp_path: Path):
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(ExportError, match="cannot write the file"):
        write_records(target, [{"a": 1}], jsonl=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert list(target.iterdir()) == []


def test_dataset_info_merge_keeps_other_entries(tmp_path: Path):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"identity": {"file_name": "identity.json"},
                                "mine": {"file_name": "old.json"}}), encoding="utf-8")
    write_dataset_info(tmp_path, "mine", {"file_name": "new.json"})
    write_dataset_info(tmp_path, "中文資料", {"file_name": "zh.json"})
    assert json.loads(info.read_text(encoding="utf-8")) == {
        "identity": {"file_name": "identity.json"},
        "mine": {"file_name": "new.json"},
        "中文資料": {"file_name": "zh.json"},
    }
    assert '"\\u4e2d\\u6587\\u8cc7\\u6599": {' in info.read_text(encoding="ascii")  # escaped: any locale reads it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset_info.json"]


def test_broken_dataset_info_is_left_untouched(tmp_path: Path):
    info = tmp_path / "dataset_info.json"
    for broken in ("{not json", "[1, 2]"):
        info.write_text(broken, encoding="utf-8")
        with pytest.raises(ExportError, match="fix or move the file"):
            write_dataset_info(tmp_path, "mine", {"file_name": "x.json"})
        assert info.read_text(encoding="utf-8") == broken


def _quality_pairs(store: Store) -> list[StoredPair]:
    """Five pairs of one chunk: plain, unanswerable, a duplicate of the first, judged low, with reasoning."""
    project = store.create_project("quality")
    text = "## 埠號\n\nOllama 預設在 11434 埠提供服務。"
    [chunk] = store.replace_chunks(store.add_document(project, Document("q.md", text, "markdown", "1" * 64)),
                                   [Chunk("q.md", 0, 0, len(text), text, ("埠號",))])
    run = store.start_run(project, "m", {}, "qa_generate", "2", 1)
    ids = store.save_chunk_pairs(chunk, run, [
        QAPair("Ollama 預設埠號？", "11434。", "11434", True),
        QAPair("Ollama 支援哪些 GPU？", "文件沒有提到。", "", False, question_type="unanswerable"),
        QAPair("Ollama 的預設埠號？", "11434。", "11434", True),
        QAPair("埠號是什麼？", "不知道。", "", False),
        QAPair("為什麼是 11434？", "文件只說預設值。", "11434", True, reasoning="文件提到預設埠號。"),
    ])
    store.set_duplicates(project, {ids[2]: ids[0]})
    store.set_judgement(ids[3], 2, 4, 4, "unsupported")
    return store.list_pairs(project)


def test_select_for_training_holds_back_unanswerable_duplicates_and_low_scores(store):
    pairs = _quality_pairs(store)
    ids = [p.id for p in pairs]
    assert [p.id for p in select_for_training(pairs, min_score=3)] == [ids[0], ids[4]]
    assert [p.id for p in select_for_training(pairs)] == [ids[0], ids[4]]  # ids[3] is ungrounded
    assert [p.id for p in select_for_training(pairs, include_flagged={"ungrounded"})] == [ids[0], ids[3], ids[4]]
    assert len(select_for_training(pairs, include_unanswerable=True, include_duplicates=True)) == 3
    assert len(select_for_training(pairs, include_unanswerable=True, include_duplicates=True,
                                   include_flagged=["ungrounded"])) == 5
    with pytest.raises(ValueError, match="^Unknown reason ungroundd: choose from rejected, empty, "):
        select_for_training(pairs, include_flagged=["ungroundd"])


def test_reasoning_goes_before_the_answer_in_think_tags(store):
    pair = _quality_pairs(store)[4]
    assert to_alpaca([pair])[0]["output"] == "文件只說預設值。"
    assert to_alpaca([pair], reasoning=True)[0]["output"] == "<think>\n文件提到預設埠號。\n</think>\n\n文件只說預設值。"
    assert to_sharegpt([pair], reasoning=True)[0]["conversations"][1]["value"].startswith("<think>\n")
    assert to_openai([pair], reasoning=True)[0]["messages"][-1]["content"].endswith("</think>\n\n文件只說預設值。")


@pytest.mark.parametrize("name", ["dataset_info.json", "Dataset_Info.JSON"])
def test_the_registrys_own_name_is_refused_as_an_output(tmp_path, name):
    with pytest.raises(ExportError) as caught:
        check_output("alpaca", tmp_path / name)
    assert str(caught.value) == (f"{tmp_path / name}: that is the name of LLaMA-Factory's registry, which is "
                                 "written beside the export; name the output something else (e.g. train.json)")
