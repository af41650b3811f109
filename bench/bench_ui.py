"""The Chunks and Review pages in a real browser at two sizes: a project of 1,000 chunks and one
of 30,000, and a project of 1,000 QA pairs and one of 100,000 (by default), served by ``streamlit
run`` from one data folder and driven by Playwright with Debian's Chromium. Each interaction
(Chunks: open the page, go to page 3, filter by status, filter skipped, search, show all again;
Review: open the page, page the grid, accept one pair from the focus panel) is timed from the
action to the moment the app's script has finished and the page is drawn; the best of
``--repeat`` tries counts. Prints milliseconds per interaction for both sizes and the ratio
large/small (the goal: every ratio within 1.5).

    python bench/bench_ui.py [--small 1000] [--large 30000] [--pairs-small 1000] [--pairs-large 100000]
                             [--repeat 3] [--only chunks|review]
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

from dataset_gen.models import Chunk, Document, QAPair  # noqa: E402
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


def build_pairs(store: Store, name: str, pairs: int) -> int:
    """A project ``name`` of one Markdown document whose chunks hold 20 pairs each, ``pairs`` in
    all, every 4th ungrounded, all ``generated``. Returns its id."""
    project_id = store.create_project(name)
    chunks = max(pairs // 20, 1)
    body = "Ollama 預設在 11434 埠提供服務，模型存放在使用者目錄。" * 4
    sections = [f"## 第 {i} 節\n\n{body}" for i in range(chunks)]
    text = "\n\n".join(sections)
    document = Document(f"{name}.md", text, "markdown", sha256(text.encode()).hexdigest())
    rows, offset = [], 0
    for i, section in enumerate(sections):
        rows.append(Chunk(document.name, i, offset, offset + len(section), section, (f"第 {i} 節",)))
        offset += len(section) + 2
    ids = store.replace_chunks(store.add_document(project_id, document), rows)
    run = store.start_run(project_id, "m", {}, "qa_generate", "2", chunks)
    for n, chunk_id in enumerate(ids):
        store.save_chunk_pairs(chunk_id, run, [
            QAPair(f"第 {n} 節的問題 {k}：埠號是多少？", f"答案 {k}：11434。", "11434", k % 4 != 0) for k in range(20)])
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


def review(page, base: str, project_id: int) -> dict[str, float]:
    """One pass of the Review interactions over the project; milliseconds each."""
    times = {"open the Review page": timed(page, lambda: page.goto(f"{base}/review?project={project_id}"))}
    page.get_by_role("heading", name="Pair 1 of").wait_for()
    page_box = page.get_by_role("spinbutton", name="Page")

    def go_page() -> None:
        page_box.fill("3")
        page_box.press("Enter")

    times["page the grid to 3"] = timed(page, go_page)
    page.get_by_role("heading", name="Pair 101 of").wait_for()
    times["accept one pair"] = timed(page, lambda: page.locator(".st-key-rv_accept button").click())
    page.get_by_role("heading", name="Pair 102 of").wait_for()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=30_000)
    parser.add_argument("--pairs-small", type=int, default=1000)
    parser.add_argument("--pairs-large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("chunks", "review"))
    args = parser.parse_args()
    cases = [c for c in ("chunks", "review") if args.only in (None, c)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        projects: dict[tuple[str, str], int] = {}
        with Store.open(Path(tmp)) as store:
            if "chunks" in cases:
                projects |= {("chunks", "small"): build(store, "small", args.small),
                             ("chunks", "large"): build(store, "large", args.large)}
            if "review" in cases:
                projects |= {("review", "small"): build_pairs(store, "pairs-small", args.pairs_small),
                             ("review", "large"): build_pairs(store, "pairs-large", args.pairs_large)}
        print(f"built {', '.join(cases)} projects in {time.perf_counter() - start:.1f} s")
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
            best: dict[tuple[str, str], dict[str, float]] = {key: {} for key in projects}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.repeat):
                    for key, project_id in projects.items():
                        page = browser.new_page(viewport={"width": 1400, "height": 1000})
                        drive = interactions if key[0] == "chunks" else review
                        for label, ms in drive(page, base, project_id).items():
                            best[key][label] = min(ms, best[key].get(label, float("inf")))
                        page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    worst = 0.0
    for case in cases:
        sizes = (args.small, args.large) if case == "chunks" else (args.pairs_small, args.pairs_large)
        print(f"{case + ': interaction':28} {sizes[0]:>8} {sizes[1]:>8}   ratio  (ms, best of {args.repeat})")
        for label, small in best[(case, "small")].items():
            large = best[(case, "large")][label]
            worst = max(worst, large / small)
            print(f"{label:28} {small:8.0f} {large:8.0f}   {large / small:5.2f}")
    print(f"worst ratio {worst:.2f} (goal: 1.5 or less)")


if __name__ == "__main__":
    main()
