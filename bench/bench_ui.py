"""The Chunks page in a real browser at two sizes: a project of 1,000 chunks and one of 30,000 (by
default), served by ``streamlit run`` from one data folder and driven by Playwright with Debian's
Chromium. Each interaction (open the page, go to page 3, filter by status, filter skipped, search,
show all again) is timed from the action to the moment the app's script has finished and the page
is drawn; the best of ``--repeat`` tries counts. Prints milliseconds per interaction for both sizes
and the ratio large/small (the goal: every ratio within 1.5).

    python bench/bench_ui.py [--small 1000] [--large 30000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from dataset_gen.models import Chunk, Document  # noqa: E402
from dataset_gen.store import Store  # noqa: E402
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, free_port, ready  # noqa: E402


def build(store: Store, name: str, chunks: int) -> int:
    """A project ``name`` of 10 Markdown documents with ``chunks`` chunks in all; every 10th chunk
    is marked failed and every 14th skipped as base64, so that every filter (and the search) fills
    a page of 50 at both sizes and the two sizes draw the same amount. Returns its id."""
    project_id = store.create_project(name)
    body = "Ollama 預設在 11434 埠提供服務，模型存放在使用者目錄。" * 6
    per_doc = chunks // 10
    for d in range(10):
        sections = [f"## Section {d}-{i}\n\n{body} ({i})" for i in range(per_doc)]
        text = "\n\n".join(sections)
        document = Document(f"doc-{d:02}.md", text, "markdown", sha256(text.encode()).hexdigest())
        rows, offset = [], 0
        for i, section in enumerate(sections):
            rows.append(Chunk(document.name, i, offset, offset + len(section), section, (f"Section {d}-{i}",)))
            offset += len(section) + 2
        ids = store.replace_chunks(store.add_document(project_id, document), rows)
        for i, chunk_id in enumerate(ids):
            if i % 10 == 7:
                store.set_chunk_failed(chunk_id, "model gave no JSON")
            if i % 14 == 9:
                store.set_skip(chunk_id, "base64")
    return project_id


def timed(page, action) -> float:
    """Milliseconds from ``action()`` until the app has rerun and is idle."""
    start = time.perf_counter()
    action()
    page.wait_for_timeout(50)  # let the rerun begin before waiting for it to end
    ready(page)
    return (time.perf_counter() - start) * 1000


def interactions(page, base: str, project_id: int) -> dict[str, float]:
    """One pass of the interactions over the project; milliseconds each."""
    times = {"open the Chunks page": timed(page, lambda: page.goto(f"{base}/chunks?project={project_id}"))}
    page.get_by_text("Chunks 1–50 of").wait_for()
    page_box = page.get_by_role("spinbutton", name="Page")

    def go_page() -> None:
        page_box.fill("3")
        page_box.press("Enter")

    times["go to page 3"] = timed(page, go_page)
    page.get_by_text("Chunks 101–150 of").wait_for()

    def pick(label: str, option: str):
        def action() -> None:
            page.get_by_role("combobox", name=label).click()  # a select box: open its list, click the option
            page.get_by_role("option", name=option, exact=True).click()
        return action

    times["filter: failed"] = timed(page, pick("Status", "failed"))
    times["filter: any status"] = timed(page, pick("Status", "Any"))
    times["filter: only skipped"] = timed(page, pick("Skipped", "Only skipped"))
    times["filter: skipped any"] = timed(page, pick("Skipped", "Any"))

    def search() -> None:
        box = page.get_by_role("textbox", name="Search chunks")
        box.fill("(1")  # the sections numbered 1, 10–19, 100–199, …: more than a page at both sizes
        box.press("Enter")

    times["search"] = timed(page, search)
    page.get_by_text("Chunks 1–50 of").wait_for()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Store.open(Path(tmp)) as store:
            projects = {"small": build(store, "small", args.small), "large": build(store, "large", args.large)}
        print(f"built {args.small} + {args.large} chunks in {time.perf_counter() - start:.1f} s")
        port = free_port()
        env = {**os.environ, "DATASET_GEN_DATA_DIR": tmp, "OLLAMA_HOST": "http://127.0.0.1:9"}
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":  # noqa: S310 (our own http://127.0.0.1 server)
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            best: dict[str, dict[str, float]] = {"small": {}, "large": {}}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.repeat):
                    for size, project_id in projects.items():
                        page = browser.new_page(viewport={"width": 1400, "height": 1000})
                        for label, ms in interactions(page, base, project_id).items():
                            best[size][label] = min(ms, best[size].get(label, float("inf")))
                        page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"{'interaction':24} {args.small:>8} {args.large:>8}   ratio  (ms, best of {args.repeat})")
    worst = 0.0
    for label, small in best["small"].items():
        large = best["large"][label]
        worst = max(worst, large / small)
        print(f"{label:24} {small:8.0f} {large:8.0f}   {large / small:5.2f}")
    print(f"worst ratio {worst:.2f} (goal: 1.5 or less)")


if __name__ == "__main__":
    main()
