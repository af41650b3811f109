"""Review desk queries at scale: count, one page of 50 pairs, and the ids of a filtered selection,
over a project of 50,000 pairs in a real SQLite file. Prints milliseconds per query.

    python bench/bench_review.py [--pairs 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset_gen.models import Chunk, Document, QAPair  # noqa: E402
from dataset_gen.store import Store  # noqa: E402


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    args = parser.parse_args()
    per_chunk, chunks = 5, args.pairs // 5
    body = "Ollama 預設在 11434 埠提供服務，模型存放在使用者目錄。" * 10
    text = "\n\n".join(f"## 第 {i} 節\n\n{body}" for i in range(chunks))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        project = store.create_project("bench")
        document = Document("bench.md", text, "markdown", sha256(text.encode()).hexdigest())
        spans, offset = [], 0
        for part in text.split("\n\n## "):
            spans.append((offset, offset + len(part)))
            offset += len(part) + 4
        chunk_ids = store.replace_chunks(store.add_document(project, document), [
            Chunk("bench.md", i, s, e, text[s:e], (f"第 {i} 節",)) for i, (s, e) in enumerate(spans[:chunks])])
        run = store.start_run(project, "m", {}, "qa_generate", "2", chunks)
        start = time.perf_counter()
        for n, chunk_id in enumerate(chunk_ids):
            store.save_chunk_pairs(chunk_id, run, [
                QAPair(f"第 {n} 節的問題 {k}：埠號是多少？", f"答案 {k}：11434。", "11434", k % 4 != 0)
                for k in range(per_chunk)])
        build = time.perf_counter() - start
        total = store.count_pairs(project)
        print(f"{total} pairs in {len(chunk_ids)} chunks; saved chunk by chunk in {build:.1f} s")
        for label, fn in [
            ("count, no filter", lambda: store.count_pairs(project)),
            ("count, ungrounded + search", lambda: store.count_pairs(project, grounded=False, search="埠號")),
            ("page 1 (50 pairs)", lambda: store.list_pairs(project, limit=50)),
            ("page 900 (50 pairs)", lambda: store.list_pairs(project, limit=50, offset=44_950)),
            ("ids of all filtered (ungrounded)", lambda: store.pair_ids(project, grounded=False)),
            ("accept all filtered (ungrounded)", lambda: store.set_status(store.pair_ids(project, grounded=False),
                                                                         "accepted")),
            ("lengths for statistics", lambda: store.pair_lengths(project)),
        ]:
            ms, _ = timed(fn)
            print(f"{label}: {ms:.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
