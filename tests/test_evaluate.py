"""Evaluating models on the reviewed items: answers and scores stored as they arrive, exact means,
intervals and win rates, resume with only what is missing, choice items without a judge, reports."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.evaluate import exact_score, run_evaluation, start_or_resume
from dataset_gen.evaluate_report import build_report, html_report, table_lines
from dataset_gen.prompts import GENERIC, LANGUAGES, load_prompt
from dataset_gen.store import Store
from tests.evaluate_fixtures import BAD, GOOD, JUDGE, MODELS, TEST_QUESTIONS, responder, seed
from tests.fake_ollama import FakeOllama

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path) as opened:
        yield opened


@pytest.fixture
def fake():
    with FakeOllama(models=MODELS, responder=responder) as server:
        yield server


def calls(fake, model):
    return sum(1 for r in fake.chat_requests() if r["model"] == model)


def test_the_weaker_model_scores_lower_with_exact_means_intervals_and_win_rate(store, fake):
    project_id, ids = seed(store)
    evaluation, resumed = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
    summary = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=2)
    assert (resumed, summary.status, summary.total, summary.answered, summary.scored, summary.failures) == (
        False, "finished", 6, 6, 6, [])
    assert (calls(fake, GOOD), calls(fake, BAD), calls(fake, JUDGE)) == (3, 3, 6)
    report = build_report(store, evaluation.id)
    good, bad = report["models"]
    assert (good["model"], good["n"], good["mean"], good["ci_low"], good["ci_high"], good["vs_first"]) == (
        GOOD, 3, 5.0, 5.0, 5.0, None)
    # bad: scores 5, 1, 1 → mean 7/3, s = √(16/3), t(0.975, 2) = 4.302653 → 7/3 ± 4.302653·4/3
    assert (bad["n"], round(bad["mean"], 3), round(bad["ci_low"], 3), round(bad["ci_high"], 3)) == (
        3, 2.333, -3.404, 8.070)
    assert bad["vs_first"] == {"wins": 0, "ties": 1, "losses": 2, "rate": 0.0}
    assert {k: (v["n"], v["mean"]) for k, v in bad["by_document"].items()} == {"a.md": (2, 3.0), "b.md": (1, 1.0)}
    assert {k: (v["n"], v["mean"]) for k, v in bad["by_type"].items()} == {"factual": (3, 7 / 3)}
    assert store.get_evaluation(evaluation.id).status == "finished"
    run = store.get_run(summary.run_id)
    assert (run.kind, run.status) == ("evaluate", "finished")
    answers = {(a.pair_id, a.model): (a.answer, a.score, a.reason) for a in store.eval_answers(evaluation.id)}
    assert answers[(ids[TEST_QUESTIONS[1]], BAD)] == ("I do not know.", 1, "differs")
    assert answers[(ids[TEST_QUESTIONS[1]], GOOD)] == ("Five minutes.", 5, "matches")
    assert table_lines(report)[:3] == [
        "model            n    mean  95% CI             vs good:1b: win/tie/loss  win rate",
        "good:1b          3   5.000  [5.000, 5.000]                            -         -",
        "bad:1b           3   2.333  [-3.404, 8.070]                       0/1/2     0.000",
    ]


def test_a_cancelled_evaluation_resumes_with_only_the_missing_answers(store, fake):
    project_id, _ = seed(store)
    evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
    cancel = threading.Event()
    first = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1, cancel=cancel,
                           on_progress=lambda done, total: cancel.set())
    assert (first.status, first.scored, len(fake.chat_requests())) == ("cancelled", 1, 2)
    assert store.get_evaluation(evaluation.id).status == "cancelled"
    again, resumed = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
    assert (again.id, resumed) == (evaluation.id, True)
    second = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1)
    assert (second.status, second.total, second.kept, second.answered, second.scored) == ("finished", 5, 1, 5, 5)
    assert len(fake.chat_requests()) == 12  # 6 answers and 6 scores in all: nothing asked twice


def test_answers_kept_when_the_judge_fails_are_only_judged_again(store, fake):
    project_id, _ = seed(store)
    broken = {"judge": True}

    def flaky(request):
        if request["model"] == JUDGE and broken["judge"]:
            return "not a score"
        return responder(request)

    fake.responder = flaky
    evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
    first = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=2)
    assert (first.answered, first.scored, len(first.failures)) == (6, 0, 6)
    assert first.failures[0][2].startswith("The judge's reply was not usable: the reply held no JSON")
    assert store.get_evaluation(evaluation.id).status == "failed"
    assert (calls(fake, GOOD), calls(fake, BAD), calls(fake, JUDGE)) == (3, 3, 12)  # one re-ask each
    broken["judge"] = False
    second = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=2)
    assert (second.answered, second.scored, second.failures) == (0, 6, [])
    assert (calls(fake, GOOD), calls(fake, BAD), calls(fake, JUDGE)) == (3, 3, 18)


def test_choice_items_are_scored_exactly_without_a_judge(store, fake):
    project_id, ids = seed(store, qa=False, choice=True)
    evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], "", "none", "test")
    summary = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id)
    assert (summary.scored, calls(fake, JUDGE)) == (2, 0)
    item = ids["Which port is Ollama's default?"]
    answers = {a.model: (a.answer, a.score, a.reason) for a in store.eval_answers(evaluation.id)}
    assert answers == {GOOD: ("B", 5, "the correct option"), BAD: ("A. 8080", 1, "another option")}
    [prompt] = [r for r in fake.chat_requests() if r["model"] == GOOD]
    assert prompt["messages"][-1]["content"] == ("Which port is Ollama's default?\n\nOptions (reply with the "
                                                 "correct option):\nA. 8080\nB. 11434\nC. 443")
    stored = store.get_pair(item)
    assert [exact_score(stored, r)[0] for r in ("(B)", "11434", "c.", "443 or 8080", "")] == [5, 5, 1, 1, 1]
    report = build_report(store, evaluation.id)
    assert [(m["mean"], m["by_type"]["choice"]["n"]) for m in report["models"]] == [(5.0, 1), (1.0, 1)]


def test_a_judge_is_required_unless_every_item_is_a_choice(store, fake):
    project_id, _ = seed(store)
    evaluation, _ = start_or_resume(store, project_id, [GOOD], "", "none", "test")
    with pytest.raises(ValueError, match="Only choice items are scored without a judge: pass --judge MODEL"):
        run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id)
    assert fake.chat_requests() == []


def test_the_reference_context_shows_the_candidate_the_gold_chunk(store, fake):
    project_id, ids = seed(store)
    evaluation, _ = start_or_resume(store, project_id, [BAD], JUDGE, "reference", "test")
    run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1)
    first = next(r for r in fake.chat_requests() if r["model"] == BAD)
    content = first["messages"][-1]["content"]
    assert content.startswith("Answer from the text between the <source-")
    assert "Ollama serves on port 11434 by default." in content
    assert content.endswith("\n\nQuestion: Which port does Ollama serve on?")


def test_the_html_report_escapes_a_hostile_question(store, fake):
    project_id, ids = seed(store)
    with store._write() as conn:
        conn.execute("UPDATE qa_pairs SET question = ? WHERE id = ?",
                     ("<script>alert(1)</script> Which port does Ollama serve on?", ids[TEST_QUESTIONS[0]]))
    evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
    run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id)
    page = html_report(build_report(store, evaluation.id))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Which port does Ollama serve on?" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 5  # the means, and by type and by document for each model


def test_the_cli_prints_the_table_writes_the_report_and_resumes(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        seed(store)
    args = ["--data-dir", str(tmp_path), "evaluate", "--project", "p", "--models", f"{GOOD},{BAD}",
            "--judge", JUDGE, "--split", "test", "--host", fake.url]
    assert main([*args, "--output", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1:3] == [
        "good:1b          3   5.000  [5.000, 5.000]                            -         -",
        "bad:1b           3   2.333  [-3.404, 8.070]                       0/1/2     0.000",
    ]
    assert err.splitlines()[0] == "evaluation 1: 3 items x 2 models, judged by judge:7b, context none"
    saved = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [len(i["answers"]) for i in saved["items"]] == [2, 2, 2]
    assert main(args) == 0
    assert capsys.readouterr().err.splitlines()[0] == ("resuming evaluation 1: 6 of 6 answers already scored; "
                                                       "only the missing ones are asked (pass --new to start again)")
    assert len(fake.chat_requests()) == 12


def test_the_cli_says_what_to_run_when_no_item_is_in_the_split_or_no_judge_is_given(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        seed(store)
    base = ["--data-dir", str(tmp_path), "evaluate", "--project", "p", "--models", GOOD, "--host", fake.url]
    assert main([*base, "--split", "validation", "--judge", JUDGE]) == 2
    assert capsys.readouterr().err == ("error: no accepted item of project 'p' is in the validation split: run "
                                       "'dataset-gen split --project p' first, or leave out --split\n")
    assert main(base) == 2
    assert capsys.readouterr().err == ("error: only choice items are scored without a judge, and 4 of 4 items are "
                                       "not: pass --judge MODEL\n")


@pytest.mark.parametrize("language", [*LANGUAGES, GENERIC])
def test_every_language_has_the_three_evaluation_templates_with_the_same_variables(language):
    extra = {"language_name"} if language == GENERIC else set()
    answer = load_prompt("eval_answer", language)
    assert list(answer.sections) == ["system", "user", "user_reference", "choices"]
    assert answer.variables_of("user") == {"question"}
    assert answer.variables_of("user_reference") == {"fence", "source", "question"}
    assert answer.variables_of("choices") == {"question", "options"}
    assert answer.variables_of("system") == extra
    judge = load_prompt("eval_judge", language)
    assert judge.variables == {"fence", "source", "question", "reference", "answer"} | extra
    assert load_prompt("eval_judge_repair", language).variables == {"problem"} | extra
    assert {t.meta.version for t in (answer, judge)} == {"1"}


def test_the_cli_refuses_a_report_name_it_cannot_write_before_asking_anything(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        seed(store)
    assert main(["--data-dir", str(tmp_path), "evaluate", "--project", "p", "--models", GOOD, "--judge", JUDGE,
                 "--host", fake.url, "--output", str(tmp_path / "r.txt")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'r.txt'}: a report is .json or .html\n"
    assert fake.chat_requests() == []


def test_a_killed_evaluation_resumes_with_only_the_missing_answers_and_scores(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        project_id, _ = seed(store)
    hold = threading.Event()

    def stalls_on_the_fifth_call(request):
        if len(fake.requests) == 5:
            hold.wait(30)  # the third answer is in flight when the process is killed
        return responder(request)

    fake.responder = stalls_on_the_fifth_call
    args = ["--data-dir", str(tmp_path), "evaluate", "--project", "p", "--models", f"{GOOD},{BAD}",
            "--judge", JUDGE, "--split", "test", "--host", fake.url, "--concurrency", "1"]
    process = subprocess.Popen([sys.executable, "-m", "dataset_gen", *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(fake.chat_requests()) < 5 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert len(fake.chat_requests()) == 5
    finally:
        process.kill()
        process.wait()
        hold.set()
    with Store.open(tmp_path) as store:
        saved = store.eval_answers(1)
        assert (len(saved), sum(a.score is not None for a in saved)) == (2, 2)
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("resuming evaluation 1: 2 of 6 answers already scored; only the missing ones are asked "
                      "(pass --new to start again)")
    assert (calls(fake, GOOD) + calls(fake, BAD), calls(fake, JUDGE)) == (3 + 4, 2 + 4)  # one answer lost in flight
    with Store.open(tmp_path) as store:
        assert [r.status for r in store.list_runs(project_id, kind="evaluate")] == ["finished", "interrupted"]
        assert store.get_evaluation(1).status == "finished"
