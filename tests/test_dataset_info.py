"""``dataset_info.json``: parallel exports, entry names, suffixes that match the content, ASCII escaping
and file names made from project names.

Pairs come from a real store in ``tmp_path``; the parallel test runs real processes that export into
one folder at the same moment.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from dataset_gen.errors import ExportError
from dataset_gen.export import (
    FORMATS,
    check_output,
    dataset_info_entry,
    dataset_name_for,
    export_file_name,
    export_pairs,
    export_project,
    project_export_dir,
    write_dataset_info,
)
from dataset_gen.models import Chunk, Document, QAPair, StoredPair
from dataset_gen.store import Store
from dataset_gen.validate import validate

TEXT = "## 埠號\n\nOllama 預設在 11434 埠提供服務。\n"

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}


@pytest.fixture
def pairs(tmp_path: Path) -> list[StoredPair]:
    """Two accepted pairs of one chunk, in a project named ``筆記``."""
    with Store.open(tmp_path / "data") as store:
        project = store.create_project("筆記")
        document = store.add_document(project, Document("埠號.md", TEXT, "markdown", "1" * 64))
        [chunk] = store.replace_chunks(document, [Chunk("埠號.md", 0, 0, len(TEXT), TEXT, ("埠號",))])
        run = store.start_run(project, "qwen2.5:7b", {}, "qa_generate", "2", 1)
        store.save_chunk_pairs(chunk, run, [
            QAPair("Ollama 預設埠號？", "11434。", "11434", True),
            QAPair("服務在哪個埠？", "在 11434 埠。", "11434", True),
        ])
        return store.list_pairs(project)


def _info(folder: Path) -> dict:
    return json.loads((folder / "dataset_info.json").read_bytes().decode("ascii"))


def _load(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)


# --- parallel exports ------------------------------------------------------------------------

EXPORTS = 60


def _export_when_told(go, pairs: list[StoredPair], format: str, output: str) -> None:
    go.wait(30)
    export_pairs(pairs, format, Path(output))


def _part(number: int) -> tuple[str, str]:
    format = FORMATS[number % len(FORMATS)]
    return format, f"part-{number:02d}{'.jsonl' if format == 'openai' else '.json'}"


@pytest.mark.skipif(os.name == "nt", reason="no flock on Windows: parallel exports are not locked there")
def test_parallel_exports_into_one_folder_register_every_entry(pairs, tmp_path: Path):
    folder = tmp_path / "exports"
    context = multiprocessing.get_context("fork")
    go = context.Event()
    workers = []
    for number in range(EXPORTS):
        format, file_name = _part(number)
        workers.append(context.Process(target=_export_when_told, args=(go, pairs, format, str(folder / file_name))))
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * EXPORTS

    info = _info(folder)
    expected = {}
    for number in range(EXPORTS):
        format, file_name = _part(number)
        expected[f"part-{number:02d}"] = dataset_info_entry(format, file_name, has_system=False)
        records = _load(folder / file_name)
        assert len(records) == 2 and validate(format, records) == []
    assert info == expected
    assert len(info) == EXPORTS
    # no lock file, no temporary file left behind
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["dataset_info.json", *(_part(n)[1] for n in range(EXPORTS))]
    )


# --- entry names -----------------------------------------------------------------------------


def test_entry_name_is_a_slug_of_the_file_name():
    assert [dataset_name_for(Path(name)) for name in
            ("notes.json", "notes-sharegpt.jsonl", "筆記.json", "my notes!.json", "..json", "CON.json")] == [
        "notes", "notes-sharegpt", "筆記", "my-notes", "dataset", "CON_",
    ]


def test_a_name_held_by_another_existing_file_is_refused(pairs, tmp_path: Path):
    export_pairs(pairs, "alpaca", tmp_path / "x.json")
    before = (tmp_path / "dataset_info.json").read_bytes()
    with pytest.raises(ExportError) as error:
        export_pairs(pairs, "openai", tmp_path / "x.jsonl")
    assert str(error.value) == (
        f"{tmp_path / 'dataset_info.json'}: the entry 'x' already names x.json, which still exists: "
        "export to another file name (--output), e.g. x-openai.jsonl"
    )
    assert "\n" not in str(error.value)
    assert not (tmp_path / "x.jsonl").exists()  # nothing orphaned
    assert (tmp_path / "dataset_info.json").read_bytes() == before

    report = export_pairs(pairs, "openai", tmp_path / "x-openai.jsonl")  # the suggestion works
    assert report.dataset_name == "x-openai"
    assert list(_info(tmp_path)) == ["x", "x-openai"]


def test_two_spellings_of_one_slug_are_refused(pairs, tmp_path: Path):
    export_pairs(pairs, "alpaca", tmp_path / "x.json")
    with pytest.raises(ExportError) as error:
        export_pairs(pairs, "sharegpt", tmp_path / "x!.json")
    assert str(error.value) == (
        f"{tmp_path / 'dataset_info.json'}: the entry 'x' already names x.json, which still exists: "
        "export to another file name (--output), e.g. x-sharegpt.json"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "dataset_info.json", "x.json"]


def test_reexporting_one_file_updates_its_entry(pairs, tmp_path: Path):
    export_pairs(pairs, "alpaca", tmp_path / "x.json")
    report = export_pairs(pairs, "sharegpt", tmp_path / "x.json")
    assert report.dataset_name == "x"
    assert _info(tmp_path) == {"x": dataset_info_entry("sharegpt", "x.json", has_system=False)}
    assert "conversations" in _load(tmp_path / "x.json")[0]


def test_an_entry_whose_file_is_gone_is_replaced(pairs, tmp_path: Path):
    export_pairs(pairs, "alpaca", tmp_path / "x.json")
    (tmp_path / "x.json").unlink()
    report = export_pairs(pairs, "openai", tmp_path / "x.jsonl")
    assert report.dataset_name == "x"
    assert _info(tmp_path) == {"x": dataset_info_entry("openai", "x.jsonl", has_system=False)}


def test_one_entry_per_file(pairs, tmp_path: Path):
    export_pairs(pairs, "alpaca", tmp_path / "x.json", dataset_name="alias")
    assert export_pairs(pairs, "alpaca", tmp_path / "x.json").dataset_name == "alias"  # keeps its entry
    report = export_pairs(pairs, "sharegpt", tmp_path / "x.json", dataset_name="renamed")
    assert report.dataset_name == "renamed"
    assert _info(tmp_path) == {"renamed": dataset_info_entry("sharegpt", "x.json", has_system=False)}


def test_an_entry_that_is_not_a_file_here_is_refused(pairs, tmp_path: Path):
    (tmp_path / "dataset_info.json").write_text(
        json.dumps({"x": {"hf_hub_url": "someone/x"}}), encoding="utf-8")
    with pytest.raises(ExportError) as error:
        export_pairs(pairs, "alpaca", tmp_path / "x.json")
    assert str(error.value) == (
        f"{tmp_path / 'dataset_info.json'}: the entry 'x' is already registered for a dataset that is not a "
        "file here: export to another file name (--output), e.g. x-alpaca.json"
    )
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ExportError, match="the entry 'x' is already registered"):
        write_dataset_info(tmp_path, "x", {"file_name": "y.json"})
    assert _info(tmp_path) == {"x": {"hf_hub_url": "someone/x"}}


def test_write_dataset_info_refuses_a_name_of_an_existing_file(tmp_path: Path):
    (tmp_path / "a.json").write_text("[]", encoding="utf-8")
    write_dataset_info(tmp_path, "a", {"file_name": "a.json"})
    with pytest.raises(ExportError) as error:
        write_dataset_info(tmp_path, "a", {"file_name": "b.json"})
    assert str(error.value) == (
        f"{tmp_path / 'dataset_info.json'}: the entry 'a' already names a.json, which still exists: "
        "export to another file name (--output)"
    )
    assert _info(tmp_path) == {"a": {"file_name": "a.json"}}


def test_a_broken_dataset_info_stops_the_export_before_any_file(pairs, tmp_path: Path):
    (tmp_path / "dataset_info.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ExportError, match="cannot read it as JSON"):
        export_pairs(pairs, "alpaca", tmp_path / "x.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "dataset_info.json"]
    assert (tmp_path / "dataset_info.json").read_text(encoding="utf-8") == "{broken"


# --- suffixes --------------------------------------------------------------------------------


@pytest.mark.parametrize("format, name, jsonl, is_jsonl", [
    ("alpaca", "x.json", None, False),
    ("alpaca", "x.jsonl", None, True),
    ("sharegpt", "x.JSON", False, False),
    ("sharegpt", "x.JSONL", True, True),
    ("openai", "x.jsonl", None, True),
    ("openai", "x.jsonl", True, True),
])
def test_check_output_reads_the_content_from_the_suffix(format, name, jsonl, is_jsonl):
    assert check_output(format, Path(name), jsonl=jsonl) is is_jsonl


@pytest.mark.parametrize("format, name, jsonl, message", [
    ("openai", "chat.json", None, "chat.json: openai files are JSON Lines; name the output .jsonl (e.g. chat.jsonl)"),
    ("openai", "chat.csv", None, "chat.csv: openai files are JSON Lines; name the output .jsonl (e.g. chat.jsonl)"),
    ("openai", "chat.jsonl", False, "chat.jsonl: openai files are always JSON Lines: leave jsonl unset"),
    ("alpaca", "x.csv", None, "x.csv: alpaca files are JSON; name the output .json or .jsonl"),
    ("sharegpt", "x", None, "x: sharegpt files are JSON; name the output .json or .jsonl"),
    ("alpaca", "x.json", True,
     "x.json: a .json file holds a JSON array, not JSON Lines: name the output .jsonl, or leave jsonl unset"),
    ("alpaca", "x.jsonl", False,
     "x.jsonl: a .jsonl file holds JSON Lines, not a JSON array: name the output .json, or leave jsonl unset"),
    ("csv", "x.csv", None, "Unknown export format 'csv': choose one of alpaca, sharegpt, openai"),
])
def test_a_suffix_that_does_not_match_the_content_is_refused(pairs, tmp_path: Path, format, name, jsonl, message):
    with pytest.raises(ExportError) as error:
        check_output(format, Path(name), jsonl=jsonl)
    assert str(error.value) == message
    with pytest.raises(ExportError) as error:
        export_pairs(pairs, format, tmp_path / "out" / name, jsonl=jsonl)
    assert str(error.value) == (message if format == "csv" else message.replace(name, str(tmp_path / "out" / name), 1))
    assert not (tmp_path / "out").exists()


def test_jsonl_alpaca_and_sharegpt_are_json_lines_and_registered_as_such(pairs, tmp_path: Path):
    for format in ("alpaca", "sharegpt"):
        report = export_pairs(pairs, format, tmp_path / f"{format}.jsonl")
        lines = report.path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2 and validate(format, [json.loads(line) for line in lines]) == []
        assert not report.path.read_text(encoding="utf-8").startswith("[")
    report = export_pairs(pairs, "alpaca", tmp_path / "array.json")
    assert [r["instruction"] for r in json.loads(report.path.read_text(encoding="utf-8"))] == [
        "Ollama 預設埠號？", "服務在哪個埠？",
    ]
    info = _info(tmp_path)
    assert {name: entry["file_name"] for name, entry in info.items()} == {
        "alpaca": "alpaca.jsonl", "sharegpt": "sharegpt.jsonl", "array": "array.json",
    }


# --- ASCII dataset_info.json -----------------------------------------------------------------


def test_a_chinese_project_gives_an_ascii_dataset_info_any_locale_reads(pairs, tmp_path: Path):
    folder = tmp_path / "exports"
    report = export_project(pairs, "alpaca", folder, project="筆記")
    assert report.path == folder.resolve() / "筆記-alpaca.json"
    assert report.dataset_name == "筆記-alpaca"
    raw = (folder / "dataset_info.json").read_bytes()
    assert raw.isascii()
    assert raw == (
        b'{\n  "\\u7b46\\u8a18-alpaca": {\n    "file_name": "\\u7b46\\u8a18-alpaca.json",\n'
        b'    "columns": {\n      "prompt": "instruction",\n      "query": "input",\n'
        b'      "response": "output"\n    }\n  }\n}\n'
    )
    expected = {"筆記-alpaca": {"file_name": "筆記-alpaca.json", "columns": ALPACA_COLUMNS}}
    for encoding in ("latin-1", "cp1252", "cp437", "gbk", "big5", "shift_jis", "utf-8"):
        with open(folder / "dataset_info.json", encoding=encoding) as file:
            assert json.load(file) == expected
    # the data file itself stays readable UTF-8
    assert "預設埠號" in report.path.read_text(encoding="utf-8")


def test_entries_of_other_tools_are_kept_even_behind_a_bom(pairs, tmp_path: Path):
    theirs = {"舊資料": {"file_name": "舊.json", "columns": {"prompt": "指令"}}, "identity": {"file_name": "identity.json"}}
    (tmp_path / "dataset_info.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(theirs, ensure_ascii=False).encode("utf-8"))
    export_pairs(pairs, "alpaca", tmp_path / "mine.json")
    raw = (tmp_path / "dataset_info.json").read_bytes()
    assert raw.isascii() and not raw.startswith(b"\xef\xbb\xbf")
    assert json.loads(raw.decode("latin-1")) == {
        **theirs, "mine": {"file_name": "mine.json", "columns": ALPACA_COLUMNS},
    }


# --- file names from project names -----------------------------------------------------------


def test_file_names_from_project_names_are_slugs(tmp_path: Path):
    assert export_file_name("筆記", "openai") == "筆記-openai.jsonl"
    assert export_file_name("My notes", "sharegpt") == "My-notes-sharegpt.json"
    assert export_file_name("../..", "alpaca") == "project-alpaca.json"
    assert project_export_dir(tmp_path, "../../../../tmp/x/proj") == tmp_path / "exports" / "tmp-x-proj"
    assert project_export_dir(tmp_path, "筆記") == tmp_path / "exports" / "筆記"
    with pytest.raises(ExportError, match="Unknown export format 'csv'"):
        export_file_name("notes", "csv")


def test_a_hostile_project_name_does_not_move_the_file(pairs, tmp_path: Path):
    root = tmp_path / "root"
    folder = root / "a" / "b" / "c" / "d" / "exports"
    hostile = "../../../../tmp/x/proj"
    report = export_project(pairs, "openai", folder, project=hostile)
    assert report.path == folder.resolve() / "tmp-x-proj-openai.jsonl"
    data_dir = root / "data"
    report = export_project(pairs, "alpaca", project_export_dir(data_dir, hostile), project=hostile)
    assert report.path == (data_dir / "exports" / "tmp-x-proj" / "tmp-x-proj-alpaca.json").resolve()
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == [
        "a/b/c/d/exports/dataset_info.json", "a/b/c/d/exports/tmp-x-proj-openai.jsonl",
        "data/exports/tmp-x-proj/dataset_info.json", "data/exports/tmp-x-proj/tmp-x-proj-alpaca.json",
    ]
    with pytest.raises(ExportError, match="No accepted pairs to export in project '../../../../tmp/x/proj'"):
        export_project([], "alpaca", folder, project=hostile)
