"""Generation overhead: wall time of a run against the ideal (calls × latency ÷ slots).

Runs the real pipeline (store, prompts, ollama client, HTTP) against fake Ollama servers from
``tests/fake_ollama.py`` (one process each, a fixed latency per call) and prints the figures.
By default 2 servers × 2 slots (``--concurrency`` is per server) against the ideal of 4 slots.
Target: ≤ 1.10×.

    python bench/bench_generation.py [--chunks 200] [--latency 0.1] [--hosts 2] [--concurrency 2]
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
    """The real backend, counting its chat calls (re-asks included) for the ideal time."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def chat(self, *args, **kwargs):
        self.calls += 1  # one worker thread per call at a time; += under the GIL is enough for a count
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
    parser.add_argument("--hosts", type=int, default=2, help="fake servers, one process each")
    parser.add_argument("--concurrency", type=int, default=2, help="slots per server")
    args = parser.parse_args()

    document, chunks = synthetic_document(args.chunks)
    fakes = [start_fake(args.latency) for _ in range(args.hosts)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        project_id = store.create_project("bench")
        store.replace_chunks(store.add_document(project_id, document), chunks)
        backends = [CountingBackend(url) for _, url in fakes]
        settings = Settings(data_dir=Path(tmp), concurrency=args.concurrency, pairs_per_chunk=3, language="zh-TW")
        start = time.perf_counter()
        summary = run_generation(store, project_id, backends, "qwen2.5:7b", settings)
        wall = time.perf_counter() - start
        calls = sum(b.calls for b in backends)
        store.close()
    for fake, _ in fakes:
        fake.stdin.close()
        fake.wait(timeout=10)
    slots = args.hosts * args.concurrency
    ideal = calls * args.latency / slots
    print(f"chunks {args.chunks}, latency {args.latency * 1000:.0f} ms, {args.hosts} hosts x {args.concurrency} slots")
    print(f"model calls: {calls} ({', '.join(str(b.calls) for b in backends)} per host); pairs saved: "
          f"{summary.pairs}; failed chunks: {len(summary.failures)}")
    print("chunks per host: " + ", ".join(f"{h.host} {h.chunks}" for h in summary.hosts))
    ratio = f"{wall / ideal:.3f}x" if ideal else "n/a (no latency)"
    print(f"wall time: {wall:.2f} s; ideal: {ideal:.2f} s; overhead ratio: {ratio} (target <= 1.10x)")
    print(f"overhead per call: {(wall - ideal) / calls * slots * 1000:.1f} ms of a worker's time")


if __name__ == "__main__":
    main()
