"""Generation overhead: wall time of a run against the ideal (calls × latency ÷ concurrency).

Runs the real pipeline (store, prompts, ollama client, HTTP) against the fake Ollama server from
``tests/fake_ollama.py`` with a fixed latency per call, and prints the figures. Target: ≤ 1.10×.

    python bench/bench_generation.py [--chunks 200] [--latency 0.1] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from dataset_gen.backends import OllamaBackend  # noqa: E402
from dataset_gen.config import Settings  # noqa: E402
from dataset_gen.generation import run_generation  # noqa: E402
from dataset_gen.models import Chunk, Document  # noqa: E402
from dataset_gen.store import Store  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"


def synthetic_document(n_chunks: int) -> tuple[Document, list[Chunk]]:
    """A document of ``n_chunks`` sections cut from the Traditional Chinese notes (real text)."""
    source = (CORPUS / "ollama-notes-zh-TW.md").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in source.split("\n\n") if len(p.strip()) > 80]
    parts, chunks, offset = [], [], 0
    for i in range(n_chunks):
        body = f"## Section {i}\n\n{paragraphs[i % len(paragraphs)]}"
        chunks.append(Chunk("bench.md", i, offset, offset + len(body), body, (f"Section {i}",)))
        parts.append(body)
        offset += len(body) + 2
    text = "\n\n".join(parts)
    return Document("bench.md", text, "markdown", sha256(text.encode()).hexdigest()), chunks


class CountingBackend(OllamaBackend):
    """The real backend, counting chat calls (re-asks included) for the ideal time."""

    calls = 0

    def chat(self, *args, **kwargs):
        type(self).calls += 1
        return super().chat(*args, **kwargs)


def start_fake(latency_s: float) -> tuple[subprocess.Popen, str]:
    """The fake Ollama server in its own process, as a real server would be (no shared GIL)."""
    code = (
        "import sys, time; from fake_ollama import FakeOllama; "
        f"f = FakeOllama(latency_s={latency_s!r}).start(); print(f.url, flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT / "tests", stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per model call")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    document, chunks = synthetic_document(args.chunks)
    fake, url = start_fake(args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        project_id = store.create_project("bench")
        store.replace_chunks(store.add_document(project_id, document), chunks)
        backend = CountingBackend(url)
        settings = Settings(data_dir=Path(tmp), concurrency=args.concurrency, pairs_per_chunk=3, language="zh-TW")
        start = time.perf_counter()
        summary = run_generation(store, project_id, backend, "qwen2.5:7b", settings)
        wall = time.perf_counter() - start
        calls = backend.calls
        store.close()
    fake.stdin.close()
    fake.wait(timeout=10)
    ideal = calls * args.latency / args.concurrency
    print(f"chunks {args.chunks}, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}")
    print(f"model calls: {calls}; pairs saved: {summary.pairs}; failed chunks: {len(summary.failures)}")
    ratio = f"{wall / ideal:.3f}x" if ideal else "n/a (no latency)"
    print(f"wall time: {wall:.2f} s; ideal: {ideal:.2f} s; overhead ratio: {ratio} (target <= 1.10x)")
    print(f"overhead per call: {(wall - ideal) / calls * args.concurrency * 1000:.1f} ms of a worker's time")


if __name__ == "__main__":
    main()
