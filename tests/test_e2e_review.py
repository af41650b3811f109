"""The Review page in a real browser (Debian's Chromium driven by Playwright, the app served by
``streamlit run``): pairs reviewed from the keyboard alone, a
click on a bulk button that asks first with the count, and Undo; keys pressed faster than the page
reruns all act, in order."""

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, ready
from tests.test_e2e_desk import serve
from tests.test_focus_review import pair
from tests.test_review_edits import add_pairs


def seed(data_dir, n: int) -> tuple[int, list[int]]:
    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
        return project_id, add_pairs(store, project_id, "m-notes.md",
                                     [pair(f"第 {i} 個問題：哪個指令列出模型？", f"答案 {i}：ollama list。") for i in range(n)])



def press_until(page, key: str, text: str) -> None:
    """Press ``key`` with no text field focused (a shortcut typed into one is text) and wait for
    ``text``. Once: a key pressed while the page reruns is queued (:mod:`ui.review_keys`)."""
    ready(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)
    page.get_by_text(text).first.wait_for(timeout=30000)
    ready(page)


@contextmanager
def review_page(tmp_path, count: int) -> Iterator[tuple[Page, int, list[int]]]:
    """The Review page of a project of ``count`` pairs in a headless Chromium, showing its first
    pair: ``(page, project id, pair ids)``."""
    project_id, ids = seed(tmp_path, count)
    with FakeOllama() as fake, serve(tmp_path, fake.url) as (base, _, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{base}/review?project={project_id}")
        ready(page)
        page.get_by_role("heading", name=f"Pair 1 of {count}").wait_for()
        yield page, project_id, ids
        browser.close()


def test_review_from_the_keyboard_and_a_cell_edit_then_a_bulk_click(tmp_path):
    with review_page(tmp_path, 12) as (page, project_id, ids):
        page.locator(".st-key-rv_accept button kbd, .st-key-rv_accept button").first.wait_for()
        page.locator("body").focus()
        # accept 1, reject 2, skip 3, accept 4, back to 4: each key once the page shows the next pair
        for key, then in (("a", 2), ("x", 3), ("j", 4), ("a", 5), ("k", 4)):
            page.keyboard.press(key)
            page.get_by_role("heading", name=f"Pair {then} of 12").wait_for()
            ready(page)
        page.keyboard.press("e")
        ready(page)
        answer = page.locator(f".st-key-rv_fa_{ids[3]}_1 textarea")
        answer.fill("下載模型用 ollama pull，会从网络取得模型。")
        page.keyboard.press("Control+Enter")
        ready(page)
        page.get_by_text("Language: the pair is written in Simplified Chinese").wait_for()
        with Store.open(tmp_path) as store:
            got = [(p.status, p.language_ok) for p in store.list_pairs(project_id)][:5]
            assert got == [("accepted", True), ("rejected", True), ("generated", True), ("accepted", False),
                           ("generated", True)]
        press_until(page, "u", f"Undone: pair {ids[3]} reads as before the edit.")  # undo the edit
        with Store.open(tmp_path) as store:
            assert store.get_pair(ids[3]).answer == "答案 3：ollama list。"

        # A bulk button asks first, with the count; then Undo takes it back.
        page.get_by_role("button", name="Reject all 12 filtered").click()
        page.get_by_role("button", name="Yes, change 12 pairs").click()
        ready(page)
        page.get_by_text("11 pairs are now rejected").wait_for()  # one was rejected already
        with Store.open(tmp_path) as store:
            pairs = store.list_pairs(project_id)
            assert [p.status for p in pairs] == ["rejected"] * 12
        press_until(page, "u", "Undone: 11 pairs have their earlier status back")
        with Store.open(tmp_path) as store:
            assert [p.status for p in store.list_pairs(project_id)][:5] == [
                "accepted", "rejected", "generated", "accepted", "generated"]


def test_keys_pressed_while_the_page_reruns_all_act_in_order(tmp_path):
    with review_page(tmp_path, 12) as (page, project_id, ids):
        page.wait_for_function("!!window.__dgKeyQueue")  # the page's key queue is in place
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for key in "axajakxu":  # no wait between keys: most land while the page still reruns
            page.keyboard.press(key)
        page.get_by_text("Undone: 1 pair has its earlier status back").wait_for(timeout=60_000)
        ready(page)
        page.get_by_role("heading", name="Pair 6 of 12").wait_for()
        with Store.open(tmp_path) as store:
            assert [p.status for p in store.list_pairs(project_id)][:6] == [
                "accepted", "rejected", "accepted", "generated", "accepted", "generated"]
