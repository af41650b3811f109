"""Runs say what passed: the generate command's summary per document, the exit code when most of
the output fails the checks, and the export that follows. Through the real CLI ``main([...])``, the
fake Ollama server over HTTP (well-behaved, or answering like a model too small for the job:
:mod:`tests.bad_replies`) and a real SQLite store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataset_gen.cli import main
from tests.bad_replies import responder
from tests.fake_ollama import FakeOllama

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
NOTES_MD = CORPUS / "ollama-notes-zh-TW.md"
ADVICE = ("try a larger model than smollm2:135m, or try one chunk first "
          "(the app's Generate page: Try one chunk shows the prompt and the raw reply)")


def run(capsys, *args) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line and not line.startswith("[")]  # no progress bar


def timeless(line: str) -> str:
    return re.sub(r"in \d+\.\ds", "in Ns", line)


def test_a_good_model_run_says_per_document_how_many_pairs_pass(tmp_path, fake_ollama, capsys):
    sample = tmp_path / "sample.md"
    sample.write_text("# Ollama\n\nOllama serves models on port 11434 of the local machine. "
                      "It runs on Linux, macOS and Windows computers.\n", encoding="utf-8")
    code, lines = run(capsys, "--data-dir", tmp_path / "data", "generate", NOTES_MD, sample, "--model", "qwen2.5:7b",
                      "--host", fake_ollama.url, "--pairs-per-chunk", "2")
    assert code == 0, lines
    assert [timeless(line) for line in lines[2:]] == [
        "56 pairs from 28 chunks, in Ns (project 'default', run 1)",
        "ollama-notes-zh-TW.md: 27 chunks done, 0 failed; 54 pairs, 45 pass every check; "
        "the rest: trivial evidence 6, wrong language 3",
        "sample.md: 1 chunk done, 0 failed; 2 pairs, 2 pass every check",
        "47 of 56 pairs pass every check; the rest: trivial evidence 6, wrong language 3",
    ]


@pytest.mark.parametrize("kind, pairs, reasons, codes", [
    ("placeholder", 27, "placeholder 27", "placeholder,trivial_evidence,ungrounded"),
    ("echo", 54, "echo 54", "echo,repeated,trivial_evidence,wrong_language"),
    ("wrong_language", 27, "wrong language 27", "wrong_language,trivial_evidence"),
    ("trivial_evidence", 54, "trivial evidence 50, wrong language 3, placeholder 1",
     "trivial_evidence,ungrounded,wrong_language,placeholder"),
])
def test_a_tiny_model_run_says_plainly_its_output_is_not_usable_and_exports_nothing(tmp_path, capsys, kind, pairs,
                                                                                     reasons, codes):
    with FakeOllama(models=("smollm2:135m",), responder=responder(kind)) as fake:
        code, lines = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--model", "smollm2:135m",
                          "--host", fake.url, "--pairs-per-chunk", "2")
    assert code == 1
    assert timeless(lines[1]) == f"{pairs} pairs from 27 chunks, in Ns (project 'default', run 1)"
    assert lines[2:] == [
        f"ollama-notes-zh-TW.md: 27 chunks done, 0 failed; {pairs} pairs, 0 pass every check; the rest: {reasons}",
        f"not usable: {pairs} of {pairs} pairs fail the checks ({reasons}) and exports hold them back; {ADVICE}",
    ]
    output = tmp_path / "train.json"
    code, lines = run(capsys, "--data-dir", tmp_path, "export", "--format", "alpaca", "--output", output,
                      "--include-unreviewed")
    assert code == 2 and not output.exists()
    # the list names every reason that holds some pair back (a pair counts under its first only)
    assert lines == [
        f"held back {pairs} items: {reasons}",
        f"error: No pairs left to export in project 'default': all {pairs} were held back ({reasons}); review them "
        f"(review --project default lists why each is held back), or pass --include-flagged {codes} to take them anyway",
    ]
    code, lines = run(capsys, "--data-dir", tmp_path, "export", "--format", "alpaca", "--output", output,
                      "--include-unreviewed", "--include-flagged", codes)
    assert code == 0 and len(json.loads(output.read_text(encoding="utf-8"))) == pairs


def test_a_chunk_that_partly_failed_is_counted_exactly(tmp_path, capsys):
    calls = []

    def first_type_only(request):
        calls.append(request)
        from tests.fake_ollama import Reply, qa_responder
        return qa_responder(request) if len(calls) == 1 else Reply("not JSON at all")

    sample = tmp_path / "sample.md"
    sample.write_text("# Ollama\n\nOllama serves models on port 11434 of the local machine. "
                      "It runs on Linux, macOS and Windows computers.\n", encoding="utf-8")
    with FakeOllama(responder=first_type_only) as fake:
        code, lines = run(capsys, "--data-dir", tmp_path / "data", "generate", sample, "--model", "qwen2.5:7b",
                          "--host", fake.url, "--pairs-per-chunk", "2", "--question-types", "factual,explanation",
                          "--concurrency", "1")
    assert code == 1
    assert timeless(lines[1]) == "2 pairs from 1 chunk, 1 of them partly failed, in Ns (project 'default', run 1)"
    assert lines[2] == "sample.md: 0 chunks done, 1 failed; 2 pairs, 2 pass every check"
    assert lines[3].startswith("failed: sample.md chunk 0: ")
    assert lines[4:] == ["Run the same command again to retry the failed chunks."]


def test_a_model_that_gives_no_pairs_is_not_usable(tmp_path, capsys):
    with FakeOllama(models=("smollm2:135m",), responder=lambda request: '{"pairs": []}') as fake:
        code, lines = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--model", "smollm2:135m",
                          "--host", fake.url)
    assert code == 1
    assert lines[-1] == f"not usable: the model gave no pairs for 27 chunks; {ADVICE}"


def test_min_score_that_holds_back_everything_does_not_suggest_the_option_already_given(tmp_path, fake_ollama,
                                                                                         capsys):
    base = ("--data-dir", tmp_path)
    sample = tmp_path / "sample.md"
    sample.write_text("# Ollama\n\nOllama serves models on port 11434 of the local machine. "
                      "It runs on Linux, macOS and Windows computers.\n", encoding="utf-8")
    assert run(capsys, *base, "generate", sample, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
               "--pairs-per-chunk", "2")[0] == 0
    assert run(capsys, *base, "judge", "--model", "qwen2.5:7b", "--host", fake_ollama.url)[0] == 0
    output = tmp_path / "x.json"
    code, lines = run(capsys, *base, "export", "--format", "alpaca", "--output", output, "--include-unreviewed",
                      "--min-score", "5")
    assert code == 2 and not output.exists()
    assert lines == [
        "held back 2 items: low score 2",
        "error: No pairs left to export in project 'default': all 2 were held back (low score 2); review them "
        "(review --project default lists why each is held back), or lower --min-score, or pass --include-flagged "
        "low_score to take them anyway",
    ]
    assert run(capsys, *base, "review", "--reject", "1-2")[0] == 0
    code, lines = run(capsys, *base, "export", "--format", "alpaca", "--output", output, "--include-unreviewed")
    assert (code, lines) == (2, [
        "error: No pairs to export in project 'default': every pair is rejected or there are none; generate some, "
        "or accept some again with review --accept IDS"])
    code, lines = run(capsys, *base, "export", "--format", "alpaca", "--output", output)
    assert (code, lines) == (2, [
        "error: No accepted pairs to export in project 'default': accept some pairs, or pass --include-unreviewed"])
