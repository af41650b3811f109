"""A domain tag tree from the user's notes (``tests/data/corpus/ollama-notes-zh-TW.md``) headings,
items tagged in batches, Review-style filtering by tag, counts per tag in ``report``, and ``export
--balance 2 --seed 1`` keeping exact ids, the same again. Through the real CLI, the fake Ollama
over HTTP (:class:`tests.fake_distill.DistillResponder`, which answers generation like the default
fake) and a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from dataset_gen.balance import balance
from dataset_gen.cli import main
from dataset_gen.distill import sourceless_pair
from dataset_gen.store import Store
from tests.fake_distill import DistillResponder
from tests.fake_ollama import FakeOllama

NOTES_MD = Path(__file__).resolve().parent / "data" / "corpus" / "ollama-notes-zh-TW.md"


def run(capsys, *args) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), [line for line in err.splitlines() if line and not line.startswith("[")]


def _export_ids(capsys, base, out: Path, *extra) -> list[int]:
    code, _, err = run(capsys, *base, "export", "--format", "alpaca", "--output", out, "--include-unreviewed", *extra)
    assert code == 0, err
    return [r["metadata"]["pair_id"] for r in json.loads(out.read_text(encoding="utf-8"))]


def test_tags_from_the_notes_headings_items_tagged_in_batches_and_a_balanced_export(tmp_path, capsys):
    base = ("--data-dir", tmp_path)
    with FakeOllama(responder=DistillResponder(top=3)) as fake:
        code, _, err = run(capsys, *base, "generate", NOTES_MD, "--model", "qwen2.5:7b", "--host", fake.url,
                           "--pairs-per-chunk", "2", "--concurrency", "1")
        assert code == 0, err
        before = len(fake.chat_requests())
        code, _, err = run(capsys, *base, "tags", "--model", "qwen2.5:7b", "--host", fake.url)
        assert code == 0, err
        calls = fake.chat_requests()[before:]
    kinds = [next(iter(c["format"]["properties"])) for c in calls]
    assert kinds == ["tags", "assignments", "assignments", "assignments"]  # one tree call; 54 items, 20 a call
    headings = calls[0]["messages"][-1]["content"]
    assert "ollama-notes-zh-TW.md: Ollama 學習筆記 > 模型壓縮方法 > 蒸餾（Knowledge Distillation）" in headings
    assert err[:3] == ["Modelfile（模型設定檔）等主題 (25)", "  - Modelfile（模型設定檔） (5)", "  - RAG 應用 (5)"]
    assert err[-1].startswith("tagged 54 items, 0 left untagged, with 4 calls (")
    with Store.open(tmp_path) as store:
        project_id = store.project_id("default")
        tags = store.list_tags(project_id)
        assert [t.path for t in tags if t.parent_id is None] == ["Modelfile（模型設定檔）等主題", "Ollama CPU/GPU 混用等主題",
                                                               "LoRA（Low-Rank Adaptation）等主題"]
        assert len(tags) == 3 + 14
        counts = store.tag_counts(project_id)
        assert sum(counts.values()) == 54 and "untagged" not in counts
        first_leaf = tags[1]
        assert store.count_pairs(project_id, tag_id=first_leaf.id) == counts[first_leaf.path] == 5
        assert store.count_pairs(project_id, tag_id=tags[0].id) == 25  # a top-level tag takes its children's items
        assert store.count_pairs(project_id, tag_id=0) == 0
        pairs = store.list_pairs(project_id)
        assert balance(pairs, store.pair_tags(project_id), 2, seed=1) == balance(pairs, store.pair_tags(project_id), 2, seed=1)
    code, out, _ = run(capsys, *base, "report")
    assert [line for line in out if line.startswith("tags: ")][0].startswith(f"tags: {first_leaf.path} 5, ")

    ids = _export_ids(capsys, base, tmp_path / "a.json", "--balance", "2", "--seed", "1")
    # 45 pass every check; 14 leaf tags with 3 or more of them each: 2 of each
    assert ids == [1, 2, 7, 8, 9, 10, 11, 12, 14, 18, 21, 23, 24, 25, 26, 27, 29, 31, 33, 37, 42, 45, 46, 48, 50, 52, 53, 54]
    assert _export_ids(capsys, base, tmp_path / "b.json", "--balance", "2", "--seed", "1") == ids  # the same again
    assert _export_ids(capsys, base, tmp_path / "c.json", "--balance", "2", "--seed", "2") != ids


def test_untagged_items_are_one_group_and_a_loaded_tree_keeps_tags_of_the_same_path(tmp_path):
    with Store.open(tmp_path) as store:
        project_id = store.create_project("p")
        tags = store.save_tag_tree(project_id, [("A", ["a1", "a2"]), ("B", [])])
        run_id = store.start_item_run(project_id, "distill", "m", {}, "distill_answer", "1")
        ids = store.add_sourceless_pairs(project_id, run_id, [sourceless_pair(f"Question number {i}?", "An answer.", "en")
                                                              for i in range(6)], "model",
                                         [tags[1].id, tags[1].id, tags[2].id, None, None, None])
        pairs = store.list_pairs(project_id)
        assert [p.id for p in balance(pairs, store.pair_tags(project_id), 1, seed=1)] == [ids[0], ids[2], ids[3]]
        store.save_tag_tree(project_id, [("A", ["a1"]), ("C", ["c1"])])
        kept = store.pair_tags(project_id)
        assert [t.path for t in store.list_tags(project_id)] == ["A", "A > a1", "C", "C > c1"]
        assert store.tag_counts(project_id) == {"A > a1": 2, "untagged": 4}
        assert kept[ids[2]] is None
