"""The Evaluate page's blind vote in a real browser (Debian's Chromium driven by Playwright, the app
served by ``streamlit run``): the two answers show without their models' names, a click votes, and
only then are the names shown."""

from playwright.sync_api import sync_playwright

from dataset_gen.backends import OllamaBackend
from dataset_gen.evaluate import run_evaluation, start_or_resume
from dataset_gen.store import Store
from tests.evaluate_fixtures import BAD, GOOD, JUDGE, MODELS, TEST_QUESTIONS, responder, seed
from tests.fake_ollama import FakeOllama
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, ready
from tests.test_e2e_desk import serve


def test_a_blind_vote_in_the_browser_shows_the_names_only_after_the_vote(tmp_path):
    with FakeOllama(models=MODELS, responder=responder) as fake:
        with Store.open(tmp_path) as store:
            project_id, ids = seed(store)
            evaluation, _ = start_or_resume(store, project_id, [GOOD, BAD], JUDGE, "none", "test")
            assert run_evaluation(store, project_id, OllamaBackend(fake.url), evaluation.id).scored == 6
        with serve(tmp_path, fake.url) as (base, _, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/evaluate?project={project_id}")
            ready(page)
            page.get_by_role("tab", name="Blind A/B").click()
            answers = page.locator("[data-testid='blind-answer-1'], [data-testid='blind-answer-2']")
            answers.first.wait_for()
            shown = " ".join(answers.all_inner_texts())
            assert "11434" in shown and GOOD not in shown and BAD not in shown
            assert page.get_by_text("Vote saved for").count() == 0
            page.get_by_role("button", name="Answer 2 is better").click()
            page.get_by_text(f"Vote saved for #{ids[TEST_QUESTIONS[0]]}: answer 1 was").wait_for()
            ready(page)
            with Store.open(tmp_path) as store:
                [(pair_id, left, right, winner)] = store.arena_votes(evaluation.id)
            assert (pair_id, winner, {left, right}) == (ids[TEST_QUESTIONS[0]], "b", {GOOD, BAD})
            page.get_by_text(f"answer 1 was {left}, answer 2 was {right}.").wait_for()
            browser.close()
