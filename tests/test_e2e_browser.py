"""The whole job in a real browser: Debian's Chromium, driven by Playwright, against the app served by
``streamlit run`` and the fake Ollama server. Screenshots of each page go to a temporary folder, or
to ``$DATASET_GEN_SCREENSHOTS`` when set (``scripts/screenshots.sh`` sets it to ``docs/screenshots``,
which the README shows), so a test run leaves the checkout as it was."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dataset_gen.export import validate
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
SHOTS = Path(os.environ.get("DATASET_GEN_SCREENSHOTS") or Path(tempfile.gettempdir()) / "dataset-gen-screenshots")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_app(tmp_path):
    """(base URL, data folder, fake Ollama): the app as a real server process."""
    with FakeOllama(latency_s=0.6) as fake:
        port = free_port()
        env = {**os.environ, "DATASET_GEN_DATA_DIR": str(tmp_path), "OLLAMA_HOST": fake.url}
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                time.sleep(0.3)
            yield base, tmp_path, fake
        finally:
            server.terminate()
            log = server.communicate(timeout=20)[0]
            assert "Traceback" not in log, log


def ready(page) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=30_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)


def go(page, name: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=name).click()
    page.wait_for_timeout(300)
    ready(page)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_whole_job_in_a_browser(served_app, tmp_path):
    base, data_dir, fake = served_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(base)
        ready(page)

        page.get_by_label("New project name").fill("notes")
        page.get_by_role("button", name="Create").click()
        page.get_by_text("Settings of notes").wait_for()
        ready(page)
        page.get_by_role("textbox", name="Model", exact=True).fill("qwen2.5:7b")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_text("Settings saved.").wait_for()
        ready(page)
        shot(page, "1-projects")

        go(page, "Documents")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            [str(CORPUS / "ollama-notes-zh-TW.pdf"), str(CORPUS / "ollama-notes-zh-TW.md"),
             str(CORPUS / "pdf_scanned_image_only.pdf")])
        page.get_by_text("ollama-notes-zh-TW.md: added").wait_for(timeout=60_000)
        page.get_by_text("ollama-notes-zh-TW.pdf: added").wait_for()
        page.get_by_text("pdf_scanned_image_only.pdf: has 1 page(s) but no text layer").wait_for()
        ready(page)
        shot(page, "2-documents")

        go(page, "Chunks")
        shot(page, "3-chunks")

        go(page, "Generate")
        page.get_by_text(f"is running at {fake.url}").wait_for()
        page.get_by_role("button", name="Start generation").click()
        progress = page.get_by_test_id("stProgress")
        progress.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        shot(page, "4-generate")
        before = int(progress.inner_text().split("/")[0])
        page.reload()  # a reload mid-run must neither stop nor restart the run
        ready(page)
        progress.wait_for(timeout=30_000)
        assert not page.get_by_role("button", name="Start generation").is_enabled()
        page.wait_for_timeout(2500)
        after = int(progress.inner_text().split("/")[0])
        assert after > before
        page.get_by_text("Run ended: finished.").wait_for(timeout=180_000)
        with Store.open(data_dir) as store:
            project_id = store.project_id("notes")
            chunk_ids = [c.id for c in store.list_chunks(project_id)]
            pairs = store.count_pairs(project_id)
        chats = [r for r in fake.requests if r["path"] == "/api/chat"]
        assert len(chats) == len(chunk_ids)  # every chunk asked once: nothing restarted or duplicated
        assert pairs == 3 * len(chunk_ids)

        go(page, "Review")
        grid = page.get_by_test_id("data-grid-canvas")
        grid.wait_for()
        box = grid.bounding_box()
        page.mouse.dblclick(box["x"] + box["width"] * 0.75, box["y"] + 35 + 17)  # first row, answer column
        editor = page.get_by_test_id("portal").locator(".gdg-clip-region textarea, .gdg-clip-region input").first
        editor.wait_for(timeout=10_000)
        editor.fill("人工修改過的答案")
        editor.press("Enter")
        page.get_by_test_id("stMarkdown").filter(has_text="人工修改過的答案").wait_for(timeout=20_000)  # source panel
        ready(page)
        page.get_by_role("button", name=f"Accept all {pairs} filtered").click()
        page.wait_for_timeout(500)
        ready(page)
        shot(page, "5-review")
        with Store.open(data_dir) as store:
            edited = store.list_pairs(project_id, edited=True)
            assert [p.answer for p in edited] == ["人工修改過的答案"] and edited[0].original_answer
            assert store.status_counts(project_id).get("accepted") == pairs

        page.reload()  # the edit survives a reload
        ready(page)
        page.get_by_test_id("stMarkdown").filter(has_text="人工修改過的答案").wait_for()

        go(page, "Export")
        page.get_by_text(f"All {pairs} records pass LLaMA-Factory's loader rules.").wait_for()
        page.get_by_test_id("stJson").first.wait_for()
        page.wait_for_timeout(1000)
        shot(page, "6-export")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download", exact=True).click()
        target = tmp_path / "download.json"
        download_info.value.save_as(target)
        browser.close()

    records = json.loads(target.read_text(encoding="utf-8"))
    assert len(records) == pairs and validate("alpaca", records) == []
    assert sum(r["output"] == "人工修改過的答案" for r in records) == 1
    documents = {r["metadata"]["document"] for r in records}
    assert documents == {"ollama-notes-zh-TW.md", "ollama-notes-zh-TW.pdf"}
    assert all(r["metadata"]["pages"] for r in records if r["metadata"]["document"].endswith(".pdf"))
