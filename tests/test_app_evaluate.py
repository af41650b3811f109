"""The Evaluate page (AppTest, real store, the fake server with two candidates and a judge): start an
evaluation on the test split, its table, the answers side by side, and the blind vote."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.store import Store
from tests.evaluate_fixtures import BAD, GOOD, JUDGE, MODELS, TEST_QUESTIONS, responder, seed
from tests.fake_ollama import FakeOllama
from ui.safe import md_escape

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_ollama():
    """The fake server of :mod:`tests.evaluate_fixtures` (used by ``app_data_dir``)."""
    with FakeOllama(models=MODELS, responder=responder) as fake:
        yield fake


def open_page(project_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/evaluate.py")
    at.run()
    assert not at.exception, at.exception
    return at


def table_with(at: AppTest, column: str) -> list[dict]:
    """The rows of the one dataframe on the page that has ``column``."""
    [frame] = [d.value for d in at.dataframe if column in d.value.columns]
    return frame.to_dict("records")


def run_evaluation_on_the_page(at: AppTest, project_id: int) -> AppTest:
    from ui.evaluate_job import get_eval_jobs

    at.multiselect(key="eval_models").select(GOOD).select(BAD).run()
    at.selectbox(key="eval_judge").select(JUDGE).run()
    at.selectbox(key="eval_split").select("test").run()
    assert [c.value for c in at.caption if c.value.endswith("models")] == ["3 questions × 2 models"]
    at.button(key="eval_start").click().run()
    job = get_eval_jobs().get(project_id)
    job.thread.join(timeout=60)
    assert (job.state, job.error, job.done, job.total) == ("finished", None, 6, 6)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_page_evaluates_two_models_and_shows_the_table_and_the_answers_side_by_side(app_data_dir, fake_ollama):
    with Store.open(app_data_dir) as store:
        project_id, ids = seed(store)
    at = open_page(project_id)
    at.selectbox(key="eval_split").select("validation").run()
    assert at.info[0].value.startswith("No accepted question is in the validation split: make a held-out split")
    at = run_evaluation_on_the_page(at, project_id)
    assert any(i.value == "Evaluation 1 ended: finished. 6 answers asked, 6 scored, 0 failed." for i in at.info)
    assert table_with(at, "win rate") == [
        {"model": GOOD, "n": 3, "mean": "5.000", "95% interval": "[5.000, 5.000]", "win/tie/loss vs first": "—",
         "win rate": "—"},
        {"model": BAD, "n": 3, "mean": "2.333", "95% interval": "[-3.404, 8.070]", "win/tie/loss vs first": "0/1/2",
         "win rate": "0.000"},
    ]
    at.selectbox(key="eval_item").select(ids[TEST_QUESTIONS[1]]).run()
    [item] = [h.value for h in at.html if "eval-item" in h.value]
    assert "How long does the server keep a model loaded?" in item and "Five minutes." in item
    answers = [h.value for h in at.html if "'eval-answer'" in h.value]
    assert len(answers) == 2 and "I do not know." in answers[0] and "differs" in answers[0]  # by model name
    assert "Five minutes." in answers[1] and "matches" in answers[1]


def test_a_blind_vote_hides_the_names_until_the_vote_and_is_tallied(app_data_dir, fake_ollama):
    with Store.open(app_data_dir) as store:
        project_id, ids = seed(store)
    at = run_evaluation_on_the_page(open_page(project_id), project_id)
    page_text = " ".join(h.value for h in at.html if "blind-" in h.value)
    assert GOOD not in page_text and BAD not in page_text
    first = [h.value for h in at.html if "blind-answer-1" in h.value][0]
    at.button(key="vote_a").click().run()
    with Store.open(app_data_dir) as store:
        [(pair_id, left, right, winner)] = store.arena_votes(1)
    assert (pair_id, winner, {left, right}) == (ids[TEST_QUESTIONS[0]], "a", {GOOD, BAD})
    # the port question: both models answer "11434", so answer 1 is either's
    assert "11434" in first
    assert any(i.value == f"Vote saved for #{pair_id}: answer 1 was {md_escape(left)}, answer 2 was {md_escape(right)}." for i in at.info)
    votes = table_with(at, "A better")
    winner_first = left == sorted((GOOD, BAD))[0]
    assert votes == [{"model A": BAD, "model B": GOOD, "A better": int(winner_first), "tie": 0,
                      "B better": int(not winner_first)}]
    at.button(key="vote_tie").click().run()
    at.button(key="vote_b").click().run()
    assert any(i.value == "Every question of this pair has a vote." for i in at.info)
