"""No action is lost on the Review page in a real browser (Debian's Chromium driven by Playwright,
the app served by ``streamlit run``): a cell edit typed into the grid and, at once, a click on a
bulk button both take effect, as does Enter in a cell followed within a moment by another bulk
button. Counted from the SQLite file afterwards."""

from playwright.sync_api import sync_playwright

from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, ready
from tests.test_e2e_desk import serve
from tests.test_e2e_review import seed

GRID = ".st-key-rv_grid [data-testid='stDataFrame']"

ROW_PX = 35
"""Height of a grid row and of its header, in CSS pixels (Streamlit's data editor)."""


def edit_cell(page, row: int, text: str) -> None:
    """Open the question cell of grid row ``row`` (the last of four columns: tick, focus, status,
    question) and type ``text`` over its content, leaving the cell editor open."""
    box = page.locator(GRID).bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] * 7 / 8, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
    editor = page.locator("#portal textarea, [data-testid='stDataFrameCellEditor'] textarea").first
    editor.wait_for()
    editor.press("Control+a")
    editor.type(text)


def counts(data_dir, project_id: int) -> tuple[dict[str, int], list[str]]:
    with Store.open(data_dir) as store:
        return store.status_counts(project_id), [p.question for p in store.list_pairs(project_id)[:3]]


def test_a_cell_edit_and_a_bulk_click_at_once_both_take_effect(tmp_path):
    project_id, _ = seed(tmp_path, 12)
    with Store.open(tmp_path) as store:
        store.set_settings(project_id, {"review_columns": ["status", "question"]})
    with FakeOllama() as fake, serve(tmp_path, fake.url) as (base, _, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{base}/review?project={project_id}")
        ready(page)
        page.locator(GRID).scroll_into_view_if_needed()

        edit_cell(page, 0, "哪個指令列出本機的模型？")
        page.get_by_role("button", name="Accept all 12 filtered").click()  # ends the edit: the same click
        page.get_by_role("button", name="Yes, change 12 pairs").click()
        page.get_by_text("12 pairs are now accepted").wait_for()
        ready(page)
        assert counts(tmp_path, project_id) == ({"generated": 0, "accepted": 12, "rejected": 0}, [
            "哪個指令列出本機的模型？", "第 1 個問題：哪個指令列出模型？", "第 2 個問題：哪個指令列出模型？"])

        page.locator(GRID).scroll_into_view_if_needed()
        edit_cell(page, 1, "怎樣列出本機的模型？")
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Reject all 12 filtered").click(timeout=300)  # within 0.3 s of Enter
        page.get_by_role("button", name="Yes, change 12 pairs").click()
        page.get_by_text("12 pairs are now rejected").wait_for()
        ready(page)
        assert counts(tmp_path, project_id) == ({"generated": 0, "accepted": 0, "rejected": 12}, [
            "哪個指令列出本機的模型？", "怎樣列出本機的模型？", "第 2 個問題：哪個指令列出模型？"])
        browser.close()
