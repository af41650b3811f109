"""The command line end to end: real files from the corpus, a real SQLite store, the fake Ollama
server over HTTP, and the exported files checked against LLaMA-Factory's loader rules."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_gen.cli import main
from dataset_gen.export import validate
from dataset_gen.language import script_problem
from dataset_gen.store import Store
from tests.fake_ollama import HTTPError, Slow

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
NOTES_MD = CORPUS / "ollama-notes-zh-TW.md"
NOTES_PDF = CORPUS / "ollama-notes-zh-TW.pdf"


def cli(*args, data_dir, env_extra=None):
    """Run ``python -m dataset_gen`` as a real process; returns (exit code, stdout, stderr)."""
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir), **(env_extra or {})}
    done = subprocess.run([sys.executable, "-m", "dataset_gen", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_zh_tw_notes_to_alpaca_and_sharegpt(tmp_path, fake_ollama):
    code, _, err = cli("generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                       "--project", "notes", "--pairs-per-chunk", "2", data_dir=tmp_path)
    assert code == 0, err
    assert "ollama-notes-zh-TW.md:" in err and "Traceback" not in err
    alpaca = tmp_path / "out" / "notes.json"
    code, _, err = cli("export", "--project", "notes", "--format", "alpaca", "--output", alpaca,
                       "--include-unreviewed", data_dir=tmp_path)
    assert code == 0, err
    records = json.loads(alpaca.read_text(encoding="utf-8"))
    assert records and validate("alpaca", records) == []
    chats = len([r for r in fake_ollama.requests if r["path"] == "/api/chat"])
    # The fake quotes single lines: headings, code and table rows alone are held back.
    assert "held back 9 items: trivial evidence 6, wrong language 3\n" in err
    assert len(records) == 2 * chats - 9
    for record in records:
        assert set(record) == {"instruction", "input", "output", "metadata"}
        assert record["metadata"]["document"] == "ollama-notes-zh-TW.md"
        assert record["metadata"]["pages"] == ""
        assert isinstance(record["metadata"]["chunk_id"], int)
        assert script_problem(record["instruction"] + record["output"], "zh-TW") is None
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["notes"]["file_name"] == "notes.json"

    sharegpt = tmp_path / "out" / "notes-sharegpt.json"
    code, _, err = cli("export", "--project", "notes", "--format", "sharegpt", "--output", sharegpt,
                       "--include-unreviewed", "--system", "你是 Ollama 專家。", data_dir=tmp_path)
    assert code == 0, err
    conversations = json.loads(sharegpt.read_text(encoding="utf-8"))
    assert len(conversations) == len(records) and validate("sharegpt", conversations) == []
    assert conversations[0]["system"] == "你是 Ollama 專家。"
    assert [t["from"] for t in conversations[0]["conversations"]] == ["human", "gpt"]
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"notes", "notes-sharegpt"}
    assert info["notes-sharegpt"]["formatting"] == "sharegpt"


def test_real_pdf_pairs_carry_pages(tmp_path, fake_ollama, capsys):
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "generate", NOTES_PDF, "--model", "qwen2.5:7b",
                            "--host", fake_ollama.url, "--project", "pdf", "--pairs-per-chunk", "1")
    assert code == 0, err
    out = tmp_path / "pdf.jsonl"
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "pdf", "--format", "openai",
                            "--output", out, "--include-unreviewed")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records and validate("openai", records) == []
    pages = [r["metadata"]["pages"] for r in records]
    assert all(pages) and pages[0].split("-")[0] == "1"
    assert max(int(p.split("-")[-1]) for p in pages) == 13


@pytest.mark.parametrize(
    "name, reason",
    [
        ("pdf_encrypted_user_password.pdf", "password"),
        ("pdf_scanned_image_only.pdf", "OCR"),
        ("pdf_empty_0_bytes.pdf", "empty"),
        ("pdf_corrupted_0_pages.pdf", "damaged"),
        ("doc_legacy_word97_revisions.doc", ".docx"),
        ("pdf_nonunicode_cmap_garbage.pdf", "text"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys, fake_ollama, name, reason):
    code, out, err = run_main(capsys, "--data-dir", tmp_path, "generate", CORPUS / name, "--model", "m",
                              "--host", fake_ollama.url)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: ")
    assert reason.lower() in lines[0].lower()
    assert run_main(capsys, "--data-dir", tmp_path, "projects")[1] == ""  # no empty project left behind


def test_missing_file_and_unknown_project(tmp_path, capsys, fake_ollama):
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "generate", tmp_path / "nope.md", "--model", "m",
                            "--host", fake_ollama.url)
    assert code == 2 and "nope.md: cannot read the file" in err
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "ghost", "--format", "alpaca",
                            "--output", tmp_path / "x.json")
    assert code == 2 and err.strip().splitlines() == [err.strip()] and "ghost" in err


def test_export_with_nothing_accepted_says_what_to_do(tmp_path, fake_ollama, capsys):
    sample = tmp_path / "sample.md"
    sample.write_text("# Title\n\nOllama serves models on port 11434. It runs on Linux.\n", encoding="utf-8")
    assert run_main(capsys, "--data-dir", tmp_path, "generate", sample, "--model", "qwen2.5:7b",
                    "--host", fake_ollama.url)[0] == 0
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--format", "alpaca", "--output", tmp_path / "a.json")
    assert code == 2 and "--include-unreviewed" in err
    assert not (tmp_path / "a.json").exists()


def test_failed_chunks_exit_1_and_rerun_retries_them(tmp_path, fake_ollama, capsys):
    sample = tmp_path / "sample.md"
    sample.write_text("# Title\n\nOllama serves models on port 11434. It runs on Linux.\n", encoding="utf-8")
    fake_ollama.push(*[HTTPError(500, "model crashed")] * 4)
    args = ("--data-dir", tmp_path, "generate", sample, "--model", "qwen2.5:7b", "--host", fake_ollama.url)
    code, _, err = run_main(capsys, *args)
    assert code == 1
    assert "failed: sample.md chunk 0:" in err and "model crashed" in err
    code, _, err = run_main(capsys, *args)
    assert code == 0 and "3 pairs from 1 chunk, in" in err


def test_ollama_not_running(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run_main(capsys, "models", "--host", f"http://127.0.0.1:{port}")
    assert code == 2
    assert err.count("\n") == 1 and f"127.0.0.1:{port}" in err and "ollama serve" in err, err


def test_models_and_projects(tmp_path, fake_ollama, capsys):
    code, out, _ = run_main(capsys, "models", "--host", fake_ollama.url)
    assert code == 0 and out.splitlines()[0].startswith("qwen2.5:7b\t")
    code, out, _ = run_main(capsys, "--data-dir", tmp_path, "projects")
    assert (code, out) == (0, "")


@pytest.mark.parametrize("args, message", [
    (["generate", "x.md", "--model", "m", "--pairs-per-chunk", "0"], "argument --pairs-per-chunk: must be from 1 to 20, got 0"),
    (["generate", "x.md", "--model", "m", "--chunk-size", "100000000"], "argument --chunk-size: must be from 200 to 20000"),
    (["generate", "x.md", "--model", "m", "--concurrency", "0"], "argument --concurrency: must be from 1 to 32, got 0"),
    (["generate", "x.md", "--model", "m", "--question-types", "factual,bogus"], "unknown question type 'bogus'"),
    (["export", "--format", "alpaca", "--output", "x.csv"], "x.csv: alpaca files are JSON; name the output .json or .jsonl"),
])
def test_bad_options_are_one_line(tmp_path, capsys, args, message):
    try:
        code = main(["--data-dir", str(tmp_path), *args])
    except SystemExit as exited:
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", [[], ["generate"], ["export"], ["models"], ["projects"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: dataset-gen" in capsys.readouterr().out


def test_quality_commands_and_rag_exports(tmp_path, fake_ollama, capsys):
    base = ("--data-dir", tmp_path)
    code, _, err = run_main(capsys, *base, "generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                            "--pairs-per-chunk", "1", "--question-types", "factual,comparison,unanswerable",
                            "--reasoning", "--concurrency", "1")
    assert code == 0, err
    code, _, err = run_main(capsys, *base, "judge", "--model", "qwen2.5:7b", "--host", fake_ollama.url)
    assert code == 0 and "judged 81 of 81 pairs" in err
    code, _, err = run_main(capsys, *base, "dedupe")
    assert code == 0 and "questions;" in err and "duplicate rate" in err
    code, out, _ = run_main(capsys, *base, "report")
    assert code == 0 and out.startswith("ollama-notes-zh-TW.md\t26/27 chunks covered\t27 pairs\t0 accepted\t0 skipped\n")
    assert out.count("only near-duplicates of pairs kept elsewhere") == 1 and "duplicates 54," in out
    assert "types: factual 27, explanation 0, comparison 27, unanswerable 27" in out

    ragas = tmp_path / "eval.jsonl"
    code, _, err = run_main(capsys, *base, "export", "--format", "ragas", "--output", ragas, "--include-unreviewed",
                            "--include-duplicates")
    assert code == 0, err
    records = [json.loads(line) for line in ragas.read_text(encoding="utf-8").splitlines()]
    assert {r["question_type"] for r in records} == {"factual", "comparison", "unanswerable"}
    assert all(len(r["reference_contexts"]) == (2 if r["question_type"] == "comparison" else 1) for r in records)
    beir = tmp_path / "retrieval.zip"
    code, _, err = run_main(capsys, *base, "export", "--format", "beir", "--output", beir, "--include-unreviewed")
    assert code == 0 and "27 corpus chunks" in err

    alpaca = tmp_path / "train.json"
    code, _, err = run_main(capsys, *base, "export", "--format", "alpaca", "--output", alpaca,
                            "--include-unreviewed", "--reasoning")
    assert code == 0, err
    train = json.loads(alpaca.read_text(encoding="utf-8"))
    assert "held back" in err and len(train) < len(records)
    assert all(r["metadata"]["question_type"] != "unanswerable" for r in train)
    assert all(r["output"].startswith("<think>\n") for r in train)


def test_a_busy_project_is_refused_in_one_line_before_anything_is_touched(tmp_path, fake_ollama, capsys):
    from dataset_gen.locks import lock_project, lock_project_name
    from dataset_gen.store import Store

    base = ("--data-dir", tmp_path, "generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake_ollama.url)
    with Store.open(tmp_path) as store:
        with lock_project_name(store, "new one"):  # another command is creating this project
            code, _, err = run_main(capsys, *base, "--project", "new one")
        assert code == 2 and err.splitlines() == [
            "error: Project 'new one' is busy: another generate run, judge run or upload is using it right now; wait for it "
            "to end or stop it, then run again (a run resumes where the other stopped)"]
        assert store.list_projects() == []

        project_id = store.create_project("old")
        with lock_project(store, project_id):  # e.g. the app is generating for it
            code, _, err = run_main(capsys, *base, "--project", "old")
        assert code == 2 and len(err.splitlines()) == 1 and "The project is busy" in err
        assert store.list_documents(project_id) == [] and store.list_runs(project_id) == []
    assert fake_ollama.chat_requests() == []


def test_storage_errors_are_one_line_and_leave_no_empty_project(tmp_path, fake_ollama, capsys):
    (tmp_path / "project-1.lock").mkdir()  # the new project's lock file cannot be created
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--model", "qwen2.5:7b",
                            "--host", fake_ollama.url, "--project", "p")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {tmp_path / 'project-1.lock'}: cannot create the project's lock file")
    assert "Traceback" not in err and run_main(capsys, "--data-dir", tmp_path, "projects")[1] == ""

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dataset_gen.sqlite3").write_bytes(b"not a database at all" * 100)
    code, _, err = cli("generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake_ollama.url, data_dir=broken)
    assert code == 2 and len(err.splitlines()) == 1 and "not a usable dataset-gen database" in err, err


def test_timeout_option_sets_the_read_timeout_of_generate_and_judge(tmp_path, fake_ollama, capsys, caplog):
    sample = tmp_path / "sample.md"
    sample.write_text("# Title\n\nOllama serves models on port 11434. It runs on Linux.\n", encoding="utf-8")
    fake_ollama.push(Slow(2.5))  # the first reply is late: with --timeout 1 it is asked again
    base = ("-v", "--data-dir", tmp_path)
    code, _, err = run_main(capsys, *base, "generate", sample, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                            "--timeout", "1")
    assert code == 0, err
    assert "the chat request failed (attempt 1 of 4), retrying in 1.00 s: ReadTimeout" in caplog.text
    caplog.clear()
    fake_ollama.push(Slow(2.5))
    code, _, err = run_main(capsys, *base, "judge", "--model", "qwen2.5:7b", "--host", fake_ollama.url, "--timeout", "1")
    assert code == 0 and "judged 3 of 3 pairs" in err, err
    assert "the chat request failed (attempt 1 of 4), retrying in 1.00 s: ReadTimeout" in caplog.text
    with pytest.raises(SystemExit) as exited:
        main(["generate", "x.md", "--model", "m", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --timeout: must be from 1 to 3600 seconds, got 0.5" in err


def test_projects_lists_a_name_with_a_line_break_on_one_line(tmp_path, capsys):
    with Store.open(tmp_path) as store:
        store.create_project("line1\nline2\t筆記")
    code, out, _ = run_main(capsys, "--data-dir", tmp_path, "projects")
    assert (code, out) == (0, "line1\\nline2\\t筆記\t0 documents\t0 chunks\t0 pairs\n")


def test_a_disk_that_fills_mid_run_says_what_was_saved_and_the_next_run_resumes(tmp_path, fake_ollama):
    """A real full disk: the data folder on a 4 MB tmpfs mounted in a user and mount namespace of the
    test's own (``unshare -rm``, no privileges needed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    handbook = CORPUS / "docx_long_872p_handbook.docx"
    cli_prefix = f"{sys.executable} -m dataset_gen --data-dir {mount}/data"
    script = (f"mount -t tmpfs -o size=4m tmpfs {mount} && "
              f"{cli_prefix} generate {handbook} --model qwen2.5:7b --host {fake_ollama.url} --pairs-per-chunk 5; "
              f"echo rc=$?; {cli_prefix} projects; rm -f {mount}/data/*.lock; dd if=/dev/zero of={mount}/pad bs=1k count=1 "
              f"2>/dev/null; cp -r {mount}/data {tmp_path}/data")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    err = done.stderr.splitlines()
    assert "rc=2" in done.stdout and "Traceback" not in done.stderr, done.stderr
    assert err[-1] == (f"error: {mount}/data: the disk is full: free some space and run again; "
                       "nothing was saved from the step that failed")
    saved = re.fullmatch(r"run 1 saved (\d+) pairs from (\d+) of 551 chunks before the failure; everything saved "
                         r"is kept, and running the same command again resumes", err[-2])
    assert saved, err[-2]
    pairs, chunks = int(saved.group(1)), int(saved.group(2))
    assert pairs >= 5 * chunks > 0
    with Store.open(tmp_path / "data") as store:  # a copy, with room again: everything it said is there
        project_id = store.project_id("default")
        assert store.count_pairs(project_id) == pairs
        assert len(store.list_chunks(project_id, statuses=("done",))) == chunks
    resumed = cli("generate", handbook, "--model", "qwen2.5:7b", "--host", fake_ollama.url, "--pairs-per-chunk", "5",
                  data_dir=tmp_path / "data")
    assert resumed[0] == 0, resumed[2]
    # The dead run never got to end itself: the next lock holder calls it interrupted.
    assert (f"resuming after run 1 (interrupted): {551 - chunks} chunks left; everything saved before is kept"
            in resumed[2].splitlines())
