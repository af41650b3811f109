"""Quality figures on the corpus with the fake Ollama server: pairs caught per reason and exported,
calls and prompt tokens per passing exported pair, near-duplicate rate before and after
de-duplication, and the share of chunks covered; once with the well-behaved fake, then once for each
kind of bad reply of ``tests/bad_replies.py`` (placeholders, echoes, wrong language, trivial
evidence), as a model too small for the job gives them.

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

from bench_generation import CountingBackend  # noqa: E402

from dataset_gen.config import ChunkSettings, Settings  # noqa: E402
from dataset_gen.gate import hold_back, summary  # noqa: E402
from dataset_gen.generation import run_generation  # noqa: E402
from dataset_gen.ingest import ingest_bytes  # noqa: E402
from dataset_gen.judge import judge_pairs  # noqa: E402
from dataset_gen.quality import coverage, mark_duplicates  # noqa: E402
from dataset_gen.store import Store  # noqa: E402
from tests import bad_replies  # noqa: E402
from tests.fake_ollama import FakeOllama  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"
FILES = ("ollama-notes-zh-TW.md", "ollama-notes-zh-TW.pdf", "ollama-notes-zh-TW.docx",
         "md_frontmatter_mkdocs_admonitions.md", "pdf_multicolumn_latex_2col.pdf")


def cost_per_item(item_kind: str, turns: int = 3) -> dict:
    """Generation only, well-behaved fake: calls and prompt tokens per exported item when making
    ``item_kind`` (``qa``: factual pairs, 2 per chunk; ``conversation``: one of ``turns`` exchanges
    per chunk)."""
    model = "qwen2.5:7b"
    fake = FakeOllama(models=(model,)).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp))
            project_id = store.create_project("bench")
            for name in FILES:
                ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
            backend = CountingBackend(fake.url)
            settings = Settings(concurrency=4, pairs_per_chunk=2, kind=item_kind, turns=turns)
            summary = run_generation(store, project_id, backend, model, settings)
            exported, _ = hold_back(store.list_pairs(project_id))
            prompt_tokens = store.get_run(summary.run_id).prompt_tokens
            store.close()
    finally:
        fake.stop()
    return dict(items=summary.pairs, exported=len(exported), calls=backend.calls, prompt_tokens=prompt_tokens)


def run_scenario(kind: str, kinds: tuple[str, ...], pairs_per_chunk: int) -> dict:
    """Generate, judge, de-duplicate and gate the corpus with the fake server answering as ``kind``
    (``good``: the well-behaved fake; else a kind of :mod:`tests.bad_replies`); the figures."""
    model = "qwen2.5:7b"
    fake = FakeOllama(models=(model,), responder=None if kind == "good" else bad_replies.responder(kind)).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp))
            project_id = store.create_project("bench")
            for name in FILES:
                ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
            CountingBackend.calls = 0
            backend = CountingBackend(fake.url)
            settings = Settings(concurrency=4, pairs_per_chunk=pairs_per_chunk, question_types=kinds)
            summary = run_generation(store, project_id, backend, model, settings)
            generation_calls = backend.calls
            judged = judge_pairs(store, project_id, backend, model, concurrency=4)
            dedupe = mark_duplicates(store, project_id)
            pairs = store.list_pairs(project_id)
            exported, held = hold_back(pairs, min_score=3)
            documents, uncovered = coverage(store, project_id)
            run = store.get_run(summary.run_id)
            store.close()
    finally:
        fake.stop()
    return dict(kind=kind, pairs=summary.pairs, judged=judged.judged, exported=len(exported), held=held,
                generation_calls=generation_calls, calls=backend.calls, prompt_tokens=run.prompt_tokens,
                dedupe=dedupe, chunks=sum(d.chunks for d in documents), uncovered=len(uncovered))


def run_sourceless() -> list[str]:
    """Calls and prompt tokens per exported item for items with no source chunk: a distilled
    topic (2 x 2 tags, 3 questions each), an expansion of 5 examples into 10 records (the fake has 12 distinct ones), and tagging
    the user's notes' pairs (tree from the headings, items 20 a call), with the fake server."""
    from dataset_gen.distill import distill
    from dataset_gen.expand import Example, expand
    from dataset_gen.tags import run_tagging
    from tests.fake_distill import DistillResponder

    model = "qwen2.5:7b"
    lines = []
    fake = FakeOllama(models=(model,), responder=DistillResponder(top=2, children=2)).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp))
            backend = CountingBackend(fake.url)
            project_id = store.create_project("distill")
            d = distill(store, project_id, backend, model, "台灣的夜市小吃", tags=2, questions_per_tag=3)
            exported = len(hold_back(store.list_pairs(project_id), min_score=3)[0])
            lines.append(f"[distill] items {d.items}; exported {exported}; calls per exported item "
                         f"{d.calls / max(1, exported):.2f}; prompt tokens per exported item {d.prompt_tokens / max(1, exported):.0f}")
            project_id = store.create_project("expand")
            examples = [Example(f"Example question number {i} about Ollama?", "An answer.", "alpaca") for i in range(5)]
            e = expand(store, project_id, backend, model, examples, "Questions about Ollama", 10)
            exported = len(hold_back(store.list_pairs(project_id), min_score=3)[0])
            lines.append(f"[expand] records {e.items}; held back {len(e.held)}; exported {exported}; calls per exported "
                         f"item {e.calls / max(1, exported):.2f}; prompt tokens per exported item "
                         f"{e.prompt_tokens / max(1, exported):.0f}")
            project_id = store.create_project("tags")
            name = FILES[0]
            ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
            run_generation(store, project_id, backend, model, Settings(concurrency=4, pairs_per_chunk=2))
            tagged = run_tagging(store, project_id, backend, model, build=True, language="zh-TW")
            exported = len(hold_back(store.list_pairs(project_id), min_score=3)[0])
            lines.append(f"[tagging] {name}: {tagged.tags} tags, {tagged.tagged} items tagged with {tagged.calls} calls; "
                         f"added per exported item: calls {tagged.calls / max(1, exported):.2f}, prompt tokens "
                         f"{tagged.prompt_tokens / max(1, exported):.0f}")
            store.close()
    finally:
        fake.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="factual,explanation,comparison,unanswerable")
    parser.add_argument("--pairs-per-chunk", type=int, default=2)
    args = parser.parse_args()
    kinds = tuple(args.types.split(","))
    print(f"documents {len(FILES)}, question types {', '.join(kinds)}, {args.pairs_per_chunk} pairs per chunk and type; "
          "fine-tuning export of every unreviewed pair, judge threshold 3")
    for kind in ("good", *bad_replies.KINDS):
        r = run_scenario(kind, kinds, args.pairs_per_chunk)
        per = max(1, r["exported"])
        print(f"[{kind}] pairs generated {r['pairs']}; judged {r['judged']}; exported {r['exported']}; "
              f"{summary(r['held']) or 'held back none'}")
        print(f"[{kind}] model calls: generation {r['generation_calls']}, judge {r['calls'] - r['generation_calls']}; "
              + (f"calls per passing exported pair {r['calls'] / per:.2f}; prompt tokens per passing exported pair "
                 f"(generation) {r['prompt_tokens'] / per:.0f}" if r["exported"] else "no pair passed: nothing exported"))
        if kind == "good":
            d = r["dedupe"]
            print(f"[good] near-duplicate rate: {d.rate_before:.1%} before, {d.rate_after:.1%} after "
                  f"({len(d.clusters)} clusters); chunks covered: {r['chunks'] - r['uncovered']}/{r['chunks']} = "
                  f"{(r['chunks'] - r['uncovered']) / max(1, r['chunks']):.1%}")
    print_costs()
    for line in run_sourceless():
        print(line)


def print_costs() -> None:
    """Calls and prompt tokens per exported item, single-turn pairs beside 3-exchange conversations."""
    for item_kind in ("qa", "conversation"):
        r = cost_per_item(item_kind)
        per = max(1, r["exported"])
        print(f"[{item_kind}] items {r['items']}, exported {r['exported']}; calls per exported item "
              f"{r['calls'] / per:.2f}; prompt tokens per exported item {r['prompt_tokens'] / per:.0f}")


if __name__ == "__main__":
    main()
