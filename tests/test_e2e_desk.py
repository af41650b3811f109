"""The desk in a real browser (Debian's Chromium driven by Playwright, the app served by ``streamlit
run``, the fake Ollama as its server): a first run that guides (the server's status, the model
picked from its list, a missing model flagged), the interface language kept across a reload, the
Chunks page paged and filtered, and a run that a stopped server left half done resumed in one
click by the restarted one."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama
from tests.test_app import seeded_project
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, free_port, ready, wait_healthy
from tests.test_ui_desk import big_project
from ui.safe import unlinked

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def serve(data_dir: Path, ollama_url: str, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen, list]]:
    """(base URL, server process, its output lines) of ``streamlit run app.py`` on ``data_dir``;
    the server is stopped at the end (unless already gone) and its output must hold no traceback."""
    port = port or free_port()
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir), "OLLAMA_HOST": ollama_url, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        yield base, server, lines
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=20)
        reader.join(timeout=20)
        assert "Traceback" not in "".join(lines), "".join(lines)



def open_options(page, picker) -> None:
    """Open a select box's list. A rerun of the page that lands just after the click (the status
    check redraws it) closes the list again, so the click is repeated until the options show."""
    for _ in range(5):
        picker.click()
        try:
            page.get_by_role("option").last.wait_for(timeout=4000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    page.get_by_role("option").last.wait_for()

def test_first_run_language_and_chunk_pages_in_a_browser(tmp_path):
    project_id, ids = big_project(tmp_path)
    with Store.open(tmp_path) as store:
        store.set_settings(project_id, {"model": "llama3.1:70b"})
        store.set_chunk_failed(ids[70], "the model gave no JSON")
    with FakeOllama() as fake, serve(tmp_path, fake.url) as (base, _, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/?project={project_id}")
        ready(page)
        page.get_by_text(f"Ollama 0.12.6 is running at {unlinked(fake.url)}").wait_for()
        page.get_by_text("llama3.1:70b is not on the server at").wait_for()
        page.get_by_text("ollama pull llama3.1:70b").first.wait_for()
        picker = page.get_by_role("combobox", name="Model", exact=True)
        open_options(page, picker)
        assert page.get_by_role("option").all_inner_texts() == ["⚠ llama3.1:70b", "qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB"]
        picker.fill("qwen2.5:7b")  # the list narrows to what is typed; Enter takes it (the typed text box
        page.get_by_role("option", name="qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB").wait_for()  # lies over the list)
        picker.press("Enter")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_text("Settings saved.").wait_for()
        ready(page)
        assert page.get_by_text("is not on the server").count() == 0
        with Store.open(tmp_path) as store:
            assert store.get_settings(project_id)["model"] == "qwen2.5:7b"

        page.get_by_role("combobox", name="Interface language").click()
        page.get_by_role("option", name="繁體中文").click()
        page.get_by_role("heading", name="專案").first.wait_for()
        ready(page)
        assert "lang=zh-TW" in page.url
        page.reload()
        ready(page)
        page.get_by_role("heading", name="專案").first.wait_for()
        page.get_by_text(f"Ollama 0.12.6 正在 {unlinked(fake.url)} 執行。").wait_for()

        page.goto(f"{base}/chunks?project={project_id}")  # a new session without ?lang=: English
        ready(page)
        page.get_by_text("Chunks 1–50 of 120").wait_for()
        pager = page.get_by_role("spinbutton", name="Page")
        pager.fill("3")
        pager.press("Enter")
        page.get_by_text("Chunks 101–120 of 120").wait_for()
        ready(page)
        assert page.get_by_test_id("stExpander").count() == 20
        page.get_by_role("combobox", name="Status").click()
        page.get_by_role("option", name="failed", exact=True).click()
        page.get_by_text("Chunk 1 of 1").wait_for()
        ready(page)
        assert page.get_by_test_id("stExpander").count() == 1
        assert page.get_by_test_id("stExpander").first.inner_text().endswith("#70 · Part 70 · 61 characters · failed · 0 pairs")
        browser.close()


def test_a_restarted_server_offers_to_resume_the_run_it_was_doing(tmp_path):
    project_id = seeded_project(tmp_path)
    with Store.open(tmp_path) as store:
        store.set_settings(project_id, {"model": "qwen2.5:7b", "pairs_per_chunk": 1, "concurrency": 1})
        total = len(store.list_chunks(project_id))
    with FakeOllama(latency_s=0.4) as fake, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        with serve(tmp_path, fake.url) as (base, server, _):
            page.goto(f"{base}/generate?project={project_id}")
            ready(page)
            page.get_by_role("button", name="Start generation").click()
            deadline = time.monotonic() + 60
            while True:  # let a few chunks finish, then stop the server mid-run
                with Store.open(tmp_path) as store:
                    done = store.chunk_counts(project_id)["done"]
                if done >= 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            server.kill()
            server.wait(timeout=20)
        with Store.open(tmp_path) as store:
            [run] = store.list_runs(project_id)
            assert run.status == "running"  # nobody closed it: the process just stopped
            left = total - store.chunk_counts(project_id)["done"]
        assert 0 < left < total
        with serve(tmp_path, fake.url) as (base, _, _):
            page.goto(f"{base}/generate?project={project_id}")
            ready(page)
            page.get_by_text(f"Run {run.id} was interrupted").wait_for()
            page.get_by_role("button", name=f"Resume: generate the {left} chunks left").click()
            page.get_by_text("Run ended: finished.").wait_for(timeout=120_000)
            page.get_by_text(f"0 chunks pending, 0 failed, {total} done.").wait_for()
            with Store.open(tmp_path) as store:
                assert [r.status for r in store.list_runs(project_id)] == ["finished", "interrupted"]
                assert store.chunk_counts(project_id) == {"pending": 0, "failed": 0, "done": total, "skipped": 0}
        browser.close()
