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
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dataset_gen.export import select_for_training, validate
from dataset_gen.names import safe_slug
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama
from ui.safe import unlinked

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


SERVER_LOGS: dict[str, list[str]] = {}
"""The output of each served app so far, line by line, by its base URL."""



def wait_healthy(base: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    """Wait until the app at ``base`` answers its health check; raise when ``server`` exits or
    ``timeout_s`` seconds pass first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
        time.sleep(0.3)

@pytest.fixture
def served_app(tmp_path):
    """(base URL, data folder, fake Ollama): the app as a real server process, listening where its
    ``.streamlit/config.toml`` says (no address given here). Its output so far is
    ``SERVER_LOGS[base URL]``."""
    with FakeOllama(latency_s=0.6) as fake:
        port = free_port()
        env = {**os.environ, "DATASET_GEN_DATA_DIR": str(tmp_path), "OLLAMA_HOST": fake.url, "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        base = f"http://127.0.0.1:{port}"
        lines = SERVER_LOGS[base] = []
        def read() -> None:
            for line in server.stdout:
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_healthy(base, server)
            yield base, tmp_path, fake
        finally:
            server.terminate()
            server.wait(timeout=20)
            reader.join(timeout=20)
            log = "".join(SERVER_LOGS.pop(base))
            assert "Traceback" not in log, log
            # Only this computer can reach it: one local URL, no "Network URL".
            assert f"URL: http://127.0.0.1:{port}" in log and "Network URL" not in log, log


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
        picker = page.get_by_role("combobox", name="Model", exact=True)  # picked from the server's models
        picker.click()
        picker.fill("qwen2.5:7b")  # the name typed and taken with Enter: what a keyboard user does
        page.get_by_role("option", name="qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB").wait_for()
        picker.press("Enter")
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
        page.get_by_text(f"is running at {unlinked(fake.url)}").wait_for()
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
            # An edit that keeps its evidence's terms (an answer sharing none would be flagged).
            edit = store.list_pairs(project_id)[0].evidence.strip() + "（人工修改）"
        chats = [r for r in fake.requests if r["path"] == "/api/chat"]
        assert len(chats) == len(chunk_ids)  # every chunk asked once: nothing restarted or duplicated
        assert pairs == 3 * len(chunk_ids)

        go(page, "Review")
        grid = page.get_by_test_id("data-grid-canvas")
        grid.wait_for()
        edit_first_answer(page, edit)
        page.get_by_test_id("focus-pair").filter(has_text="（人工修改）").wait_for(timeout=20_000)  # source panel
        ready(page)
        page.get_by_role("button", name=f"Accept all {pairs} filtered").click()
        page.get_by_role("button", name=f"Yes, change {pairs} pairs").click()
        page.get_by_text(f"{pairs} pairs are now accepted").wait_for()
        ready(page)
        shot(page, "5-review")
        with Store.open(data_dir) as store:
            edited = store.list_pairs(project_id, edited=True)
            assert [p.answer for p in edited] == [edit] and edited[0].original_answer and edited[0].flags == ()
            assert store.status_counts(project_id).get("accepted") == pairs
            kept = len(select_for_training(store.list_pairs(project_id, statuses=["accepted"])))
        assert 0 < kept < pairs  # the fake quotes headings and code lines alone: those are held back

        page.reload()  # the edit survives a reload
        ready(page)
        page.get_by_test_id("focus-pair").filter(has_text="（人工修改）").wait_for()

        go(page, "Export")
        page.get_by_text(f"All {kept} records pass LLaMA-Factory's loader rules.").wait_for()
        page.get_by_text(f"held back {pairs - kept} items: ").first.wait_for()
        page.get_by_test_id("stJson").first.wait_for()
        page.wait_for_timeout(1000)
        shot(page, "6-export")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download", exact=True).click()
        target = tmp_path / "download.json"
        download_info.value.save_as(target)
        browser.close()

    records = json.loads(target.read_text(encoding="utf-8"))
    assert len(records) == kept and validate("alpaca", records) == []
    assert sum(r["output"] == edit for r in records) == 1
    documents = {r["metadata"]["document"] for r in records}
    assert documents == {"ollama-notes-zh-TW.md", "ollama-notes-zh-TW.pdf"}
    assert all(r["metadata"]["pages"] for r in records if r["metadata"]["document"].endswith(".pdf"))


class PixelServer(ThreadingHTTPServer):
    """A local HTTP server that records every request: nothing on the pages may make the browser
    fetch from it."""

    def __init__(self):
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_text_from_documents_names_and_models_is_shown_as_text(served_app, tmp_path):
    from dataset_gen.config import ChunkSettings, ProjectConfig
    from dataset_gen.ingest import ingest_bytes
    from dataset_gen.models import QAPair

    base, data_dir, fake = served_app
    pixel = PixelServer()
    host = pixel.url.removeprefix("http://")
    project = f"**p** ![p]({pixel.url}/project.png) <img src='{pixel.url}/project-img.png'>"
    document = f"**bold** [a](http:x) ![d](http:{host})"  # a file name holds no "/": http:host is a URL too
    text = f"# Pixels\n\nThe chunk shows ![c]({pixel.url}/chunk.png) and <img src='{pixel.url}/chunk-img.png'>.\n"
    answer = f"![x]({pixel.url}/pixel.png) and <img src=\"{pixel.url}/img.png\">"
    judge = f"![m]({pixel.url}/model.png)"
    slug = safe_slug(project)
    with Store.open(data_dir) as store:
        project_id = store.create_project(project, ProjectConfig(model="qwen2.5:7b", judge_model=judge).model_dump())
        document_id = ingest_bytes(store, project_id, text.encode(), document, ChunkSettings(),
                                   max_bytes=1 << 20).document_id
        chunk = store.list_chunks(project_id, document_id=document_id)[0]
        run = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "1", 1)
        [pair_id] = store.save_chunk_pairs(chunk.id, run, [QAPair(
            question=f"What is <b>shown</b> at <img src={pixel.url}/q.png>?", answer=answer,
            evidence=f"![c]({pixel.url}/chunk.png)", grounded=True, reasoning=f"![r]({pixel.url}/reasoning.png)")])
        store.set_judgement(pair_id, 5, 5, 5, f"![j]({pixel.url}/judge.png)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            elsewhere: list[str] = []  # every request the pages make that is not to the app itself
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:", "ws://127.0.0.1"))
                    else elsewhere.append(r.url))
            page.goto(f"{base}/?project={project_id}")
            ready(page)
            page.get_by_role("heading", name=f"Settings of {unlinked(project)}").wait_for()
            page.get_by_test_id("stSidebar").get_by_text(f"Project: {unlinked(project)}", exact=True).wait_for()
            links = f"a[href*='{host}']"  # no text becomes a link to the address it names
            assert page.locator(links).count() == 0

            go(page, "Documents")
            assert page.get_by_role("combobox", name="Document").input_value() == document
            go(page, "Chunks")
            assert page.get_by_test_id("stExpander").first.inner_text().split("\n")[-1].startswith("#0 · Pixels · ")
            assert page.get_by_test_id("stTextArea").first.locator("textarea").input_value() == text.strip()
            go(page, "Generate")

            go(page, "Review")
            focus = page.get_by_test_id("focus-pair")
            focus.wait_for()
            assert [line for line in focus.inner_text().split("\n") if line] == [
                f"Q: What is <b>shown</b> at <img src={pixel.url}/q.png>?", f"A: {answer}",
                f"Evidence: ![c]({pixel.url}/chunk.png)", f"Reasoning: ![r]({pixel.url}/reasoning.png)"]
            source = page.get_by_test_id("source-chunk")
            assert source.inner_text() == text.strip()
            assert source.locator("mark").inner_text() == f"c]({pixel.url}/chunk.png"
            page.get_by_test_id("stCaptionContainer").filter(has_text=f"{unlinked(document)} · Pixels · chunk #0").wait_for()
            page.get_by_text(f"Judge: faithfulness 5, relevance 5, clarity 5. ![j]({unlinked(pixel.url)}/judge.png)",
                             exact=True).wait_for()
            assert page.locator(links).count() == 0
            page.get_by_test_id("stExpander").filter(has_text="Quality checks").click()
            page.get_by_role("button", name=f"Score unjudged pairs with {unlinked(judge)}").wait_for()
            shot(page, "7-text-as-text")

            go(page, "Export")
            page.get_by_text("Include unreviewed pairs", exact=True).click()
            ready(page)
            target = (data_dir / "exports" / slug / f"{slug}-alpaca.json").resolve()
            assert page.get_by_test_id("stCode").first.inner_text() == str(target)
            with page.expect_download() as download_info:
                page.get_by_role("button", name="Download", exact=True).click()
            suggested = download_info.value.suggested_filename
            page.get_by_role("button", name="Write files").click()
            page.get_by_text("Wrote 1 record to").wait_for()
            page.wait_for_timeout(500)
            browser.close()
    finally:
        pixel.shutdown()
        pixel.server_close()
    assert pixel.paths == []  # no page made the browser fetch anything named in a text
    assert elsewhere == []  # nor anything else outside the app: the favicon is a local file
    assert suggested == f"{slug}-alpaca.json"
    assert sorted(p.relative_to(data_dir).as_posix() for p in (data_dir / "exports").rglob("*")) == [
        f"exports/{slug}", f"exports/{slug}/dataset_info.json", f"exports/{slug}/{slug}-alpaca.json"]


def edit_first_answer(page, text: str) -> None:
    """Type ``text`` into the answer cell of the grid's first row, as a person does."""
    grid = page.get_by_test_id("data-grid-canvas")
    grid.wait_for()
    grid.scroll_into_view_if_needed()  # below the filters: mouse positions are in the viewport
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 35 + 17)
    page.mouse.wheel(2000, 0)  # the verdict columns come first: scroll right to the answer, the last but three
    page.wait_for_timeout(300)
    page.mouse.dblclick(box["x"] + box["width"] * 0.75, box["y"] + 35 + 17)
    editor = page.get_by_test_id("portal").locator(".gdg-clip-region textarea, .gdg-clip-region input").first
    editor.wait_for(timeout=10_000)
    editor.fill(text)
    editor.press("Enter")


def test_two_tabs_editing_one_pair(served_app):
    from dataset_gen.config import ChunkSettings
    from dataset_gen.ingest import ingest_bytes
    from dataset_gen.models import QAPair

    base, data_dir, _ = served_app
    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
        name = "ollama-notes-zh-TW.md"
        document_id = ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(),
                                   max_bytes=1 << 30).document_id
        chunk = store.list_chunks(project_id, document_id=document_id)[0]
        run = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "1", 1)
        [x, _] = store.save_chunk_pairs(chunk.id, run, [QAPair("Q1?", "A1", "", False), QAPair("Q2?", "A2", "", False)])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab_a, tab_b = (browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(2))
        for tab in (tab_a, tab_b):
            tab.goto(f"{base}/review?project={project_id}")
            ready(tab)
        edit_first_answer(tab_a, "A1 from tab A")
        tab_a.get_by_test_id("focus-pair").filter(has_text="A1 from tab A").wait_for(timeout=20_000)
        ready(tab_a)

        edit_first_answer(tab_b, "A1 from tab B")  # tab B still shows A1
        tab_b.get_by_text(f"Pair {x} was changed in another tab").wait_for(timeout=20_000)
        ready(tab_b)
        theirs = tab_b.get_by_test_id(f"stale-theirs-{x}").inner_text()
        assert [line for line in theirs.split("\n") if line] == ["Q: Q1?", "A: A1 from tab A", "Status: generated"]
        mine = tab_b.locator(f".st-key-rv_conflict_{x} textarea")
        assert [mine.nth(i).input_value() for i in range(mine.count())] == ["Q1?", "A1 from tab B"]
        shot(tab_b, "8-stale-edit")
        with Store.open(data_dir) as store:
            assert store.get_pair(x).answer == "A1 from tab A"

        tab_b.get_by_role("button", name="Save mine over it").click()
        tab_b.get_by_test_id("focus-pair").filter(has_text="A1 from tab B").wait_for(timeout=20_000)
        ready(tab_b)
        assert tab_b.get_by_text(f"Pair {x} was changed in another tab").count() == 0
        browser.close()
    with Store.open(data_dir) as store:
        pair = store.get_pair(x)
    assert (pair.answer, pair.original_answer, pair.revision) == ("A1 from tab B", "A1", 2)


def test_closing_the_page_stops_parsing_its_upload(served_app, tmp_path_factory):
    import pymupdf

    base, data_dir, _ = served_app
    # 20 copies of the 117-page PDF: 2,340 pages, several seconds of parsing.
    big = tmp_path_factory.mktemp("upload") / "long-2340p.pdf"
    with pymupdf.open(CORPUS / "pdf_long_117p_de_math.pdf") as part, pymupdf.open() as whole:
        for _ in range(20):
            whole.insert_pdf(part)
        whole.save(big, garbage=1, deflate=True)
    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
    stopped = "INFO dataset_gen.ui: Upload of 'long-2340p.pdf' abandoned (the browser session ended): parsing stopped, nothing stored\n"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/documents?project={project_id}")
        ready(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
        page.get_by_test_id("stSpinner").wait_for(timeout=60_000)  # uploaded; the script is parsing it
        closed = time.monotonic()
        page.close()
        deadline = time.monotonic() + 60
        while not any(line.endswith(stopped) for line in SERVER_LOGS[base]):
            assert time.monotonic() < deadline, "".join(SERVER_LOGS[base])
            time.sleep(0.05)
        took = time.monotonic() - closed
        browser.close()
    with Store.open(data_dir) as store:
        assert store.list_documents(project_id) == []
        assert store.list_chunks(project_id) == []
    print(f"parsing stopped {took:.2f} s after the page closed")
