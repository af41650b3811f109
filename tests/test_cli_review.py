"""Review from the command line: ``review`` lists, accepts and rejects pairs by id or by passing
every check; the judge's model and threshold are recorded in the project whichever way it ran, and
every export applies them; ``report`` says per document what passed. Through the real CLI
``main([...])``, the fake Ollama server over HTTP and a real SQLite store; the Review page's flags
column through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.backends import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.cli_review import parse_ids
from dataset_gen.judge import judge_pairs
from dataset_gen.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTES_MD = Path(__file__).resolve().parent / "data" / "corpus" / "ollama-notes-zh-TW.md"


def run(capsys, *args) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), [line for line in err.splitlines() if line and not line.startswith("[")]


@pytest.fixture
def notes(tmp_path, fake_ollama, capsys):
    """The zh-TW notes generated with 2 pairs per chunk (54 pairs, 45 passing): the CLI's base args."""
    base = ("--data-dir", tmp_path)
    code, _, err = run(capsys, *base, "generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                       "--pairs-per-chunk", "2", "--concurrency", "1")  # one at a time: ids in chunk order
    assert code == 0, err
    return base


def test_parse_ids_reads_lists_and_ranges():
    assert parse_ids("12,15-20") == [12, 15, 16, 17, 18, 19, 20]
    assert parse_ids(" 3, 1,3 ,2-2,") == [1, 2, 3]
    for text, message in [("20-15", "the range 20-15 runs backwards: write 15-20"),
                          ("a,3", "'a' is not a pair id or a range of ids like 15-20"),
                          ("1-", "'1-' is not a pair id or a range of ids like 15-20"),
                          (",", "no pair id in ',': name ids like 12,15-20"),
                          ("1-2000000", "more than 1000000 ids in '1-2000000': name fewer")]:
        with pytest.raises(ValueError) as raised:
            parse_ids(text)
        assert str(raised.value) == message


def test_accept_passing_then_export_without_include_unreviewed(notes, tmp_path, capsys):
    code, _, err = run(capsys, *notes, "review", "--accept-passing")
    assert (code, err) == (0, ["accepted 45 pairs that pass every check; 9 left unreviewed "
                               "(trivial evidence 6, wrong language 3)"])
    with Store.open(tmp_path) as store:
        assert store.status_counts(store.project_id("default")) == {"generated": 9, "accepted": 45, "rejected": 0}
    output = tmp_path / "train.json"
    code, _, err = run(capsys, *notes, "export", "--format", "alpaca", "--output", output)
    assert code == 0 and err[0] == f"wrote 45 records to {output}", err
    assert len(json.loads(output.read_text(encoding="utf-8"))) == 45
    code, _, err = run(capsys, *notes, "review", "--accept-passing")
    assert (code, err) == (0, ["accepted 0 pairs that pass every check; 9 left unreviewed "
                               "(trivial evidence 6, wrong language 3)"])
    with Store.open(tmp_path) as store:  # the CLI's changes are in the review trail: the app can undo them
        project_id = store.project_id("default")
        undone = store.undo_last(project_id)
        assert undone is not None and store.status_counts(project_id)["accepted"] == 0


def test_accept_and_reject_ids_say_which_did_not_exist(notes, tmp_path, capsys):
    code, _, err = run(capsys, *notes, "review", "--accept", "1-3,60,70-72")
    assert (code, err) == (1, ["accepted 3 of 3 pairs", "not pairs of project 'default', so left alone: 60, 70–72"])
    code, _, err = run(capsys, *notes, "review", "--accept", "2-3", "--reject", "4")
    assert (code, err) == (0, ["accepted 0 of 2 pairs (2 already accepted)", "rejected 1 of 1 pair"])
    code, _, err = run(capsys, *notes, "review", "--accept", "4", "--reject", "4")
    assert (code, err) == (2, ["error: pair 4 is both in --accept and --reject: name each pair once"])
    with Store.open(tmp_path) as store:
        project_id = store.project_id("default")
        flagged = [p.id for p in store.list_pairs(project_id) if p.flags and p.id > 4][:2]
    code, _, err = run(capsys, *notes, "review", "--accept", ",".join(map(str, flagged)))
    assert code == 0 and err[1] == ("2 of them still fail a check, so exports hold them back (wrong language 1, trivial evidence 1); "
                                    "export --include-flagged REASON,... takes them anyway"), err
    code, out, _ = run(capsys, *notes, "review")
    assert code == 0 and len(out) == 54
    assert out[0] == "1\taccepted\tpasses\tollama-notes-zh-TW.md\t關於「`ollama list」，文件說明了什麼？"
    assert sum(line.split("\t")[2] == "passes" for line in out) == 45
    assert {line.split("\t")[1] for line in out if line.startswith("4\t")} == {"rejected"}


def test_the_cli_judge_records_its_model_and_threshold_and_every_export_applies_them(notes, tmp_path, fake_ollama,
                                                                                     capsys):
    code, _, err = run(capsys, *notes, "judge", "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                       "--threshold", "5")
    assert code == 0 and err == ["judged 54 of 54 pairs in " + err[0].rsplit(" ", 1)[1]]
    with Store.open(tmp_path) as store:
        settings = store.get_settings(store.project_id("default"))
    assert (settings["judge_model"], settings["judge_threshold"]) == ("qwen2.5:7b", 5)
    # The fake judge gives relevance and clarity 4: below 5, every judged pair is held back.
    code, _, err = run(capsys, *notes, "review", "--accept-passing")
    assert (code, err) == (0, ["accepted 0 pairs that pass every check; 54 left unreviewed "
                               "(low score 45, trivial evidence 6, wrong language 3)"])
    code, _, err = run(capsys, *notes, "export", "--format", "ragas", "--output", tmp_path / "eval.jsonl",
                       "--include-unreviewed")
    assert code == 2 and err[0] == "held back 54 items: low score 45, trivial evidence 6, wrong language 3"
    code, out, _ = run(capsys, *notes, "report")
    assert out[:2] == ["ollama-notes-zh-TW.md\t27/27 chunks covered\t54 pairs\t0 accepted\t0 skipped",
                       "  ollama-notes-zh-TW.md: 27 chunks done, 0 failed; 54 pairs, 0 pass every check; "
                       "the rest: low score 45, trivial evidence 6, wrong language 3"]
    assert "judge: qwen2.5:7b, threshold 5: 54 of 54 pairs judged, 54 below the threshold" in out
    code, _, err = run(capsys, *notes, "review", "--accept-passing", "--min-score", "4")
    assert (code, err) == (0, ["accepted 45 pairs that pass every check and were judged 4 or more; 9 left "
                               "unreviewed (trivial evidence 6, wrong language 3)"])


def test_the_apps_judge_records_its_model_and_keeps_the_threshold(notes, tmp_path, fake_ollama, capsys):
    with Store.open(tmp_path) as store:
        project_id = store.project_id("default")
        store.set_settings(project_id, {"judge_threshold": 4, "pairs_per_chunk": 2})
        judged = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", pair_ids=[1, 2])
        assert judged.judged == 2
        assert store.get_settings(project_id) == {"judge_threshold": 4, "pairs_per_chunk": 2,
                                                  "judge_model": "qwen2.5:7b"}
        with pytest.raises(ValueError, match="from 1 to 5, got 6"):
            judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", threshold=6)
    code, out, _ = run(capsys, *notes, "report")
    assert "judge: qwen2.5:7b, threshold 4: 2 of 54 pairs judged, 0 below the threshold" in out


def test_review_without_a_project_or_with_min_score_alone_is_one_line(notes, capsys):
    code, _, err = run(capsys, *notes, "review", "--project", "nope", "--accept-passing")
    assert (code, err) == (2, ["error: No project named 'nope' (existing: default)"])
    code, _, err = run(capsys, *notes, "review", "--min-score", "3")
    assert (code, err) == (2, ["error: --min-score goes with --accept-passing: add it, or leave --min-score out"])


def test_the_review_page_shows_each_pairs_flags_as_text(app_data_dir, fake_ollama, capsys):
    code, _, err = run(capsys, "--data-dir", app_data_dir, "generate", NOTES_MD, "--model", "qwen2.5:7b",
                       "--host", fake_ollama.url, "--pairs-per-chunk", "2")
    assert code == 0, err
    with Store.open(app_data_dir) as store:
        project_id = store.project_id("default")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/review.py")
    at.run()
    assert not at.exception, at.exception
    grid = at.data_editor[0].value
    assert "flags" in grid.columns
    assert sorted(set(grid["flags"])) == ["", "trivial evidence", "wrong language"]
    at.selectbox(key="rv_flag").set_value("wrong_language").run()
    grid = at.data_editor[0].value
    assert list(grid["flags"]) == ["wrong language"] * 3
