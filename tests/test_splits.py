"""Held-out splits: no chunk (or document) in two splits, multi-hop items included; stable reruns;
``export --split`` and its ``dataset_info.json`` entries. Real SQLite in ``tmp_path``, the CLI run
in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_gen.cli import main
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.splits import assign, check_fraction, split_project
from dataset_gen.store import Store
from dataset_gen.store_splits import SplitItem


def _text(name: str, n: int) -> str:
    return "".join(f"Section {name}{i}: the value of {name}{i} is {i * 7} units.\n" for i in range(n))


def build(store: Store, name: str = "notes") -> dict[str, list[int]]:
    """Documents a (6 chunks) and b (4 chunks); two factual pairs per chunk, and comparison pairs
    in a1 (with a2), a3 (with a4) and b0 (with b1); every pair accepted but one of a5's."""
    project = store.create_project(name)
    run = store.start_run(project, "m", {}, "qa_generate", "5", 10)
    chunks: dict[str, list[int]] = {}
    for doc, n in (("a", 6), ("b", 4)):
        text = _text(doc, n)
        lines = text.splitlines(keepends=True)
        doc_id = store.add_document(project, Document(f"{doc}.md", text, "markdown", doc * 64))
        starts = [sum(len(x) for x in lines[:i]) for i in range(n)]
        chunks[doc] = store.replace_chunks(doc_id, [
            Chunk(f"{doc}.md", i, starts[i], starts[i] + len(lines[i]), lines[i]) for i in range(n)])
    for doc, ids in chunks.items():
        for i, chunk_id in enumerate(ids):
            pairs = [QAPair(f"What is the value of {doc}{i} ({k})?", f"{i * 7} units.", f"{doc}{i} is {i * 7}", True)
                     for k in range(2)]
            partner = {("a", 1): ids[2] if doc == "a" else None, ("a", 3): ids[4] if doc == "a" else None,
                       ("b", 0): ids[1] if doc == "b" else None}.get((doc, i))
            if partner is not None:
                pairs.append(QAPair(f"How do {doc}{i} and the next section compare?", "The next is 7 more.",
                                    f"{doc}{i} is {i * 7}", True, question_type="comparison",
                                    context_chunk_ids=(partner,)))
            store.add_pairs(chunk_id, run, pairs)
    every = store.pair_ids(project)
    store.set_status(every, "accepted")
    store.set_status([min(p.id for p in store.list_pairs(project) if p.chunk_id == chunks["a"][5])], "rejected")
    return chunks


def _by_split(store: Store, project: int) -> dict[str, set[int]]:
    """Split → the chunks (own and context) of its items."""
    found: dict[str, set[int]] = {}
    for p in store.list_pairs(project):
        if p.split is not None:
            found.setdefault(p.split, set()).update({p.chunk_id, *p.context_chunk_ids})
    return found


def _documents_by_split(store: Store, project: int) -> dict[str, set[str]]:
    return {s: {p.document for p in store.list_pairs(project, split=s)} for s in ("train", "validation", "test")}


def _assert_no_shared(groups: dict) -> None:
    names = sorted(groups)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not groups[a] & groups[b], (a, b, groups[a] & groups[b])


def test_split_shares_no_chunk_and_reruns_stably(tmp_path: Path):
    with Store.open(tmp_path) as store:
        chunks = build(store)
        project = store.project_id("notes")
        report = split_project(store, project, test=0.3, validation=0.2, seed=7)
        assert (report.assigned, report.joined, report.kept, report.blocked) == (22, 0, 0, 0)
        assert report.counts == {"train": 11, "validation": 4, "test": 7, "none": 0}
        pairs = store.list_pairs(project)
        assert all(p.split is not None for p in pairs if p.status == "accepted")
        assert [p.split for p in pairs if p.status == "rejected"] == [None]
        _assert_no_shared(_by_split(store, project))
        # a comparison's two chunks are in one split, with every item of both
        for own, other in ((chunks["a"][1], chunks["a"][2]), (chunks["a"][3], chunks["a"][4]),
                           (chunks["b"][0], chunks["b"][1])):
            assert len({p.split for p in pairs if p.chunk_id in (own, other)}) == 1
        before = {p.id: p.split for p in pairs}

        again = split_project(store, project, test=0.5, seed=99)  # other fractions, other seed: nothing moves
        assert (again.assigned, again.kept) == (0, 22)
        assert {p.id: p.split for p in store.list_pairs(project)} == before

        # new items: one on a chunk that has a split joins it; the rejected one accepted later too
        run = store.start_run(project, "m", {}, "qa_generate", "5", 1)
        target = chunks["b"][3]
        [new_id] = store.add_pairs(target, run, [QAPair("What is b3 worth?", "21 units.", "b3 is 21", True)])
        store.set_status([new_id, *(p.id for p in pairs if p.status == "rejected")], "accepted")
        third = split_project(store, project, test=0.3, validation=0.2, seed=7)
        assert (third.assigned, third.joined, third.kept) == (2, 2, 22)
        after = {p.id: p.split for p in store.list_pairs(project)}
        assert after[new_id] == before[next(p.id for p in pairs if p.chunk_id == target)]
        assert {k: v for k, v in after.items() if k in before and before[k] is not None} == {
            k: v for k, v in before.items() if v is not None}
        _assert_no_shared(_by_split(store, project))


def test_split_is_reproducible_by_seed(tmp_path: Path):
    made = []
    for name in ("one", "two"):
        with Store.open(tmp_path / name) as store:
            build(store)
            project = store.project_id("notes")
            split_project(store, project, test=0.3, seed=3)
            made.append([p.split for p in store.list_pairs(project)])
    assert made[0] == made[1]


def test_split_by_document_shares_no_document(tmp_path: Path):
    with Store.open(tmp_path) as store:
        build(store)
        project = store.project_id("notes")
        report = split_project(store, project, test=0.4, by="document", seed=1)
        assert report.counts == {"train": 13, "validation": 0, "test": 9, "none": 0}
        docs = _documents_by_split(store, project)
        assert docs == {"train": {"a.md"}, "validation": set(), "test": {"b.md"}}


def test_items_without_a_chunk_are_groups_of_their_own():
    items = [SplitItem(i, "accepted", None, (), ()) for i in range(1, 11)]
    chosen, report = assign(items, test=0.2, seed=5)
    assert sorted(chosen) == list(range(1, 11))
    assert report.counts == {"train": 8, "validation": 0, "test": 2, "none": 0}


def test_a_new_item_linking_two_splits_is_left_out():
    items = [SplitItem(1, "accepted", "train", (10,), (1,)), SplitItem(2, "accepted", "test", (11,), (1,)),
             SplitItem(3, "accepted", None, (10, 11), (1,))]
    chosen, report = assign(items, test=0.5)
    assert chosen == {}
    assert (report.blocked, report.counts["none"]) == (1, 1)


@pytest.mark.parametrize("value, message", [
    (1.5, "--test 1.5 is not a fraction from 0 to 1: write e.g. 0.1 for 10%"),
    (-0.1, "--test -0.1 is not a fraction from 0 to 1: write e.g. 0.1 for 10%"),
])
def test_fraction_bounds(value: float, message: str):
    with pytest.raises(ValueError) as error:
        check_fraction("--test", value)
    assert str(error.value) == message


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_split_bounds_and_sum(tmp_path: Path, capsys):
    with Store.open(tmp_path) as store:
        build(store)
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "split", "--project", "notes", "--test", "2")
    assert (code, err) == (2, "error: --test 2 is not a fraction from 0 to 1: write e.g. 0.1 for 10%\n")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "split", "--project", "notes", "--test", "0.6",
                            "--validation", "0.5")
    assert (code, err) == (2, "error: --test 0.6 and --validation 0.5 add up to more than 1: leave some items "
                              "for train\n")


def test_export_train_and_test_are_registered(tmp_path: Path, capsys):
    with Store.open(tmp_path) as store:
        build(store)
    out_dir = tmp_path / "out"
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "notes", "--format", "alpaca",
                            "--output", out_dir / "notes.json", "--split", "test")
    assert code == 2
    assert err == ("error: No items in the test split of project 'notes': it has no splits yet; run split "
                   "--project 'notes' --test 0.1 first\n")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "split", "--project", "notes", "--test", "0.3",
                            "--validation", "0.2", "--seed", "7")
    assert (code, err) == (0, "split: 22 items assigned (0 joined their chunk's split), 0 kept; train 11, "
                              "validation 4, test 7\n")
    for split in ("train", "test"):
        code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "notes", "--format",
                                "sharegpt", "--output", out_dir / f"notes-{split}.json" if split == "test"
                                else out_dir / "notes.json", "--split", split)
        assert code == 0, err
    info = json.loads((out_dir / "dataset_info.json").read_text())
    assert {k: v["file_name"] for k, v in info.items()} == {"notes": "notes.json", "notes-test": "notes-test.json"}
    train = json.loads((out_dir / "notes.json").read_text())
    test = json.loads((out_dir / "notes-test.json").read_text())
    assert (len(train), len(test)) == (11, 7)
    train_chunks = {r["metadata"]["chunk_id"] for r in train}
    test_chunks = {r["metadata"]["chunk_id"] for r in test}
    assert not train_chunks & test_chunks
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "notes", "--format", "ragas",
                            "--output", out_dir / "eval.jsonl", "--split", "test")
    assert (code, err) == (0, f"wrote 7 questions to {out_dir / 'eval.jsonl'}\n")


def test_export_page_shows_counts_runs_the_split_and_writes_the_test_file(app_data_dir):
    from streamlit.testing.v1 import AppTest

    with Store.open(app_data_dir) as store:
        build(store)
        project = store.project_id("notes")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project
    at.run()
    at.switch_page("ui/pages/export.py")
    at.run()
    assert not at.exception, at.exception
    line = "Accepted items per held-out split: train {}, validation {}, test {}, not assigned {}"
    assert at.caption[0].value == line.format(0, 0, 0, 22)
    at.number_input(key="ex_split_test").set_value(0.3).run()
    at.number_input(key="ex_split_seed").set_value(7).run()
    at.button(key="ex_split_run").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == "22 items assigned, 0 kept as they were"
    with Store.open(app_data_dir) as store:
        assert store.split_counts(project) == {"train": 15, "validation": 0, "test": 7, "none": 0}
    at.selectbox(key="ex_split").set_value("test").run()
    assert at.caption[0].value == line.format(15, 0, 7, 0)
    next(b for b in at.button if b.label == "Write files").click().run()
    assert not at.exception, at.exception
    folder = app_data_dir / "exports" / "notes"
    assert len(json.loads((folder / "notes-alpaca-test.json").read_text(encoding="utf-8"))) == 7
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["notes-alpaca-test"]["file_name"] == "notes-alpaca-test.json"
