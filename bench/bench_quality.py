"""Quality figures on the corpus with the fake Ollama server: calls and prompt tokens per exported
pair, near-duplicate rate before and after de-duplication, and the share of chunks covered.

Runs the real pipeline (parse, split, generate with several question types, judge, de-duplicate,
select for export) on the user's notes in three formats and two more corpus documents. The same
notes in three formats give the same questions three times, and the fake model builds questions
from the chunk's sentences whatever the type, so the duplicate rate here is far above a real
model's: the figure shows that de-duplication finds them all, not what a model would write.

    python bench/bench_quality.py [--types factual,explanation,comparison,unanswerable]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_generation import CountingBackend, start_fake  # noqa: E402

from dataset_gen.config import ChunkSettings, Settings  # noqa: E402
from dataset_gen.export import select_for_training  # noqa: E402
from dataset_gen.generation import run_generation  # noqa: E402
from dataset_gen.ingest import ingest_bytes  # noqa: E402
from dataset_gen.judge import judge_pairs  # noqa: E402
from dataset_gen.quality import coverage, mark_duplicates  # noqa: E402
from dataset_gen.store import Store  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"
FILES = ("ollama-notes-zh-TW.md", "ollama-notes-zh-TW.pdf", "ollama-notes-zh-TW.docx",
         "md_frontmatter_mkdocs_admonitions.md", "pdf_multicolumn_latex_2col.pdf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="factual,explanation,comparison,unanswerable")
    parser.add_argument("--pairs-per-chunk", type=int, default=2)
    args = parser.parse_args()
    kinds = tuple(args.types.split(","))
    fake, url = start_fake(0.0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        project_id = store.create_project("bench")
        for name in FILES:
            ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
        backend = CountingBackend(url)
        settings = Settings(concurrency=4, pairs_per_chunk=args.pairs_per_chunk, question_types=kinds)
        summary = run_generation(store, project_id, backend, "qwen2.5:7b", settings)
        generation_calls = backend.calls
        judged = judge_pairs(store, project_id, backend, "qwen2.5:7b", concurrency=4)
        dedupe = mark_duplicates(store, project_id)
        pairs = store.list_pairs(project_id)
        exported = select_for_training(pairs, min_score=3)
        documents, uncovered = coverage(store, project_id)
        run = store.get_run(summary.run_id)
        store.close()
    fake.stdin.close()
    fake.wait(timeout=10)
    chunks = sum(d.chunks for d in documents)
    print(f"documents {len(FILES)}, chunks {chunks}, question types {', '.join(kinds)}, "
          f"{args.pairs_per_chunk} pairs per chunk and type")
    print(f"pairs generated {summary.pairs}; judged {judged.judged}; exported for fine-tuning {len(exported)}")
    print(f"model calls: generation {generation_calls}, judge {backend.calls - generation_calls}; "
          f"calls per exported pair {backend.calls / max(1, len(exported)):.2f}")
    print(f"prompt tokens per exported pair (generation): {run.prompt_tokens / max(1, len(exported)):.0f}")
    print(f"near-duplicate rate: {dedupe.rate_before:.1%} before, {dedupe.rate_after:.1%} after "
          f"({len(dedupe.clusters)} clusters)")
    print(f"chunks covered: {chunks - len(uncovered)}/{chunks} = {(chunks - len(uncovered)) / max(1, chunks):.1%}")


if __name__ == "__main__":
    main()
