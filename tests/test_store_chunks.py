"""Editing, merging and deleting chunks after splitting, on a real SQLite file."""

import sqlite3

import pytest

from dataset_gen.errors import StoreError
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.store import DB_FILENAME, Store

TEXT = "# A\n\n甲乙丙。\n\n# B\n\n丁戊己。\n\n# C\n\n庚辛壬。"


@pytest.fixture
def chunks(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    spans = [(TEXT.index(h), TEXT.index(h) + 9) for h in ("# A", "# B", "# C")]
    assert spans == [(0, 9), (11, 20), (22, 31)]
    ids = store.replace_chunks(
        store.add_document(project_id, Document("a.pdf", TEXT, "pdf", "0" * 64, page_starts=(0, 11, 22))),
        [Chunk("a.pdf", i, s, e, TEXT[s:e], (TEXT[s + 2],), i + 1, i + 1) for i, (s, e) in enumerate(spans)])
    run_id = store.start_run(project_id, "m", {}, "qa_generate", "1", 3)
    for chunk_id in ids:
        store.save_chunk_pairs(chunk_id, run_id, [QAPair(f"Q{chunk_id}?", "A", "甲乙丙", True)])
    yield store, project_id, ids
    store.close()


def test_edit_marks_the_chunk_edited_and_pending_and_keeps_its_source(chunks):
    store, project_id, ids = chunks
    store.edit_chunk(ids[0], "# A\n\n甲乙丙，已修正。")
    row = store.get_chunk(ids[0])
    assert (row.text, row.edited, row.gen_status, row.start, row.end, row.pairs) == (
        "# A\n\n甲乙丙，已修正。", True, "pending", 0, 9, 1)
    with pytest.raises(StoreError, match="cannot be empty"):
        store.edit_chunk(ids[0], "  \n")


def test_merge_neighbours_takes_the_document_text_and_moves_pairs(chunks):
    store, project_id, ids = chunks
    assert store.merge_chunks(ids[0], ids[1]) == ids[0]
    rows = store.list_chunks(project_id)
    assert [(r.id, r.ordinal, r.start, r.end, r.page_start, r.page_end, r.pairs) for r in rows] == [
        (ids[0], 0, 0, 20, 1, 2, 2), (ids[2], 1, 22, 31, 3, 3, 1)]
    assert rows[0].text == TEXT[0:20] == "# A\n\n甲乙丙。\n\n# B\n\n丁戊己。" and not rows[0].edited and rows[0].gen_status == "pending"
    with pytest.raises(StoreError, match="not neighbours"):
        store.merge_chunks(ids[2], ids[0])


def test_merge_with_an_edited_chunk_joins_the_texts(chunks):
    store, _, ids = chunks
    store.edit_chunk(ids[2], "# C\n\n改過。")
    store.merge_chunks(ids[1], ids[2])
    row = store.get_chunk(ids[1])
    assert (row.text, row.edited) == ("# B\n\n丁戊己。\n\n# C\n\n改過。", True)


def test_delete_removes_pairs_and_renumbers(chunks):
    store, project_id, ids = chunks
    store.delete_chunk(ids[1])
    assert [(r.id, r.ordinal) for r in store.list_chunks(project_id)] == [(ids[0], 0), (ids[2], 1)]
    assert store.count_pairs(project_id) == 2
    with pytest.raises(StoreError, match=f"No chunk with id {ids[1]}"):
        store.delete_chunk(ids[1])


def test_edit_above_the_size_limit_names_the_chunk_and_keeps_it(chunks, tmp_path):
    store, project_id, ids = chunks
    store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)
    with pytest.raises(StoreError) as caught:
        store.edit_chunk(ids[1], "長" * 500)
    assert str(caught.value) == (
        f"{tmp_path / DB_FILENAME}: the new text of chunk {ids[1]} (500 characters) is too big to store "
        "(SQLite takes at most 1,000 bytes per value): split it or leave it out; nothing was saved from "
        "the step that failed"
    )
    assert caught.value.reason == "too_big"
    row = store.get_chunk(ids[1])
    assert (row.text, row.edited, row.gen_status) == ("# B\n\n丁戊己。", False, "done")


def test_skip_reason_and_override_are_stored_and_undone(chunks):
    store, project_id, ids = chunks
    assert [(c.skip_reason, c.send_anyway, c.skipped) for c in store.list_chunks(project_id)] == [(None, False, False)] * 3
    store.set_skip(ids[0], "table of contents")
    store.set_skip(ids[1], "base64 data")
    store.set_send_anyway(ids[1], True)
    assert [(c.skip_reason, c.send_anyway, c.skipped) for c in store.list_chunks(project_id)] == [
        ("table of contents", False, True), ("base64 data", True, False), (None, False, False)]
    store.set_send_anyway(ids[1], False)
    assert store.get_chunk(ids[1]).skipped is True
    store.edit_chunk(ids[0], "# A\n\n甲乙丙，丁戊己。")  # the new text is screened again: not junk
    assert store.get_chunk(ids[0]).skip_reason is None
    with pytest.raises(StoreError, match="No chunk with id 999"):
        store.set_send_anyway(999, True)
    with pytest.raises(StoreError, match="A skip reason cannot be empty"):
        store.set_skip(ids[2], " ")


def test_replacing_chunks_stores_each_with_its_skip_reason_in_the_same_step(chunks):
    store, project_id, ids = chunks
    document_id = store.get_chunk(ids[0]).document_id
    new = [Chunk("a.md", i, c.start, c.end, c.text, c.heading_path) for i, c in enumerate(store.list_chunks(project_id))]
    fresh = store.replace_chunks(document_id, new, [None, "base64 data", None])
    assert [(c.id, c.skip_reason) for c in store.list_chunks(project_id)] == [
        (fresh[0], None), (fresh[1], "base64 data"), (fresh[2], None)]
    with pytest.raises(ValueError):  # one reason per chunk
        store.replace_chunks(document_id, new, [None])
