"""A new user's findings on evaluation: conversations left out, a busy project, a killed
evaluation, a judge reply with no score, choice options in the report and the blind vote. Real
SQLite, the fake Ollama server of :mod:`tests.evaluate_fixtures`, the CLI run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataset_gen.backends.ollama import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.evaluate import run_evaluation, start_or_resume
from dataset_gen.evaluate_report import build_report, html_report
from dataset_gen.locks import close_dead_runs, lock_project
from dataset_gen.store import Store
from tests.evaluate_fixtures import BAD, GOOD, JUDGE, MODELS, responder, seed
from tests.fake_ollama import FakeOllama
from tests.kinds_fixtures import kinds_project

ROOT = Path(__file__).resolve().parents[1]
CHOICE_PROMPT = "Which port is Ollama's default?\n\nA. 8080\nB. 11434\nC. 443"


@pytest.fixture
def fake():
    with FakeOllama(models=MODELS, responder=responder) as server:
        yield server


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_project_of_conversations_says_they_are_not_evaluated(tmp_path, fake, capsys):
    store, _, ids = kinds_project(tmp_path)
    with store:
        store.set_status([ids["conversation"]], "accepted")
    args = ("--data-dir", tmp_path, "evaluate", "--models", GOOD, "--host", fake.url)
    assert run_main(capsys, *args) == (2, "", (
        "error: the one accepted item of project 'default' is a conversation, and conversations are not evaluated "
        "(only QA pairs and choice questions): generate or accept some of those first\n"))
    with Store.open(tmp_path) as store:
        store.set_status([ids["choice"]], "accepted")
    code, _, err = run_main(capsys, *args)
    assert (code, err.splitlines()[0]) == (0, "1 accepted conversation is left out: conversations are not "
                                              "evaluated (only QA pairs and choice questions)")


def test_an_evaluation_refused_as_busy_creates_nothing(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        project_id, _ = seed(store)
        with lock_project(store, project_id):
            code, _, err = run_main(capsys, "--data-dir", tmp_path, "evaluate", "--project", "p", "--models", GOOD,
                                    "--judge", JUDGE, "--host", fake.url)
        assert (code, store.list_evaluations(project_id)) == (2, [])
    assert err == ("error: The project is busy: another generate run, judge run or upload is using it right now; "
                   "wait for it to end or stop it, then run again (a run resumes where the other stopped)\n")


def test_an_evaluation_whose_process_died_shows_interrupted_and_resumes(tmp_path, fake, capsys):
    with Store.open(tmp_path) as store:
        project_id, _ = seed(store)
        evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
        # what a process killed mid-run leaves: the evaluation and its run both "running"
        run_id = store.start_eval_run(project_id, "good, bad", {}, "eval_answer", "1", 6)
        store.set_evaluation_state(evaluation.id, "running", run_id)
        assert store.get_evaluation(evaluation.id).status == "running"
        assert close_dead_runs(store, project_id) is True
        assert [e.status for e in store.list_evaluations(project_id)] == ["interrupted"]
    code, out, _ = run_main(capsys, "--data-dir", tmp_path, "report", "--project", "p")
    assert code == 0 and "evaluation 1: interrupted" in out
    with Store.open(tmp_path) as store:
        summary = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1)
        assert (summary.status, summary.scored, store.get_evaluation(evaluation.id).status) == ("finished", 6,
                                                                                                "finished")


def test_a_judge_reply_without_a_score_says_so(tmp_path, fake):
    def no_score(request):
        return '{"reason": "fine"}' if request["model"] == JUDGE else responder(request)

    fake.responder = no_score
    with Store.open(tmp_path) as store:
        project_id, _ = seed(store)
        evaluation, _ = start_or_resume(store, project_id, [GOOD], JUDGE, "none", "test")
        summary = run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1)
    assert {error for _, _, error in summary.failures} == {"The judge's reply has no score from 1 to 5"}
    assert len(summary.failures) == 3


def test_the_html_report_shows_a_choice_questions_options_and_wraps_long_lines(tmp_path, fake):
    with Store.open(tmp_path) as store:
        project_id, _ = seed(store, qa=False, choice=True)
        evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], "", "none", "test")
        run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id, concurrency=1)
        report = build_report(store, evaluation.id)
    [item] = report["items"]
    assert item["prompt"] == CHOICE_PROMPT
    page = html_report(report)
    assert ('<td rowspan="2" class="text">Which port is Ollama&#x27;s default?\n\nA. 8080\nB. 11434\nC. 443</td>'
            in page)
    assert ".text{overflow-wrap:anywhere;white-space:pre-wrap}" in page
    assert page.count('class="text"') == 2 + 2 * 2  # question, reference; each answer and reason


def test_the_blind_vote_shows_a_choice_questions_options(app_data_dir, fake_ollama_choice):
    from streamlit.testing.v1 import AppTest

    with Store.open(app_data_dir) as store:
        project_id, _ = seed(store, qa=False, choice=True)
        evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], "", "none", "test")
        run_evaluation(store, project_id, OllamaBackend(fake_ollama_choice.url), evaluation.id, concurrency=1)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    [item] = [h.value for h in at.html if "blind-item" in h.value]
    assert all(line in item for line in ("A. 8080", "B. 11434", "C. 443"))


@pytest.fixture
def fake_ollama_choice():
    with FakeOllama(models=MODELS, responder=responder) as server:
        yield server
