"""The review trail (table ``review_changes``): every status change and text edit made on the
Review page is kept in the SQLite file, so Undo takes back the newest batch after the store is
opened again (a reload, another tab), refuses pairs changed since and keeps what was there.
Judge scores are stale exactly when the text changed after they were given."""

from __future__ import annotations

import sqlite3

import pytest

from dataset_gen.errors import StoreError
from dataset_gen.store import DB_FILENAME, Store
from dataset_gen.store_audit import Batch, UndoResult
from tests.test_review_edits import add_pairs, qa


@pytest.fixture
def seeded(tmp_path):
    """A project with three pairs in a real SQLite file: (data folder, project id, pair ids)."""
    with Store.open(tmp_path) as store:
        project_id = store.create_project("notes")
        ids = add_pairs(store, project_id, "m-notes.md", [qa("Q1?", "A1"), qa("Q2?", "A2"), qa("Q3?", "A3")])
    return tmp_path, project_id, ids


def states(store: Store, ids) -> list[tuple[str, str, int]]:
    return [(store.get_pair(i).status, store.get_pair(i).answer, store.get_pair(i).revision) for i in ids]


def test_undo_takes_back_the_newest_batch_after_the_store_is_opened_again(seeded):
    data, project_id, (x, y, z) = seeded
    with Store.open(data) as store:
        store.change_status([x, y, z], "accepted")
        store.edit_pair(y, answer="A2, by hand", expected_revision=1)
        store.change_status([z], "rejected")
    with Store.open(data) as store:  # a reload: nothing of the session is left
        assert store.last_change(project_id) == Batch(3, 1, "rejected", None)
        assert store.undo_last(project_id) == UndoResult(Batch(3, 1, "rejected", None), (z,), ())
        assert store.last_change(project_id) == Batch(2, 1, "accepted", y)
    with Store.open(data) as store:
        assert store.undo_last(project_id) == UndoResult(Batch(2, 1, "accepted", y), (y,), ())
        assert store.undo_last(project_id) == UndoResult(Batch(1, 3, "accepted", None), (x, y, z), ())
        assert store.undo_last(project_id) is None
        assert states(store, (x, y, z)) == [("generated", "A1", 2), ("generated", "A2", 4), ("generated", "A3", 4)]


def test_undo_keeps_a_pair_changed_since_and_undoes_the_rest(seeded):
    data, project_id, (x, y, z) = seeded
    with Store.open(data) as store:
        store.change_status([x, y, z], "rejected")
    with Store.open(data) as other_tab:
        other_tab.update_pair(y, answer="A2, from another tab")  # not through the Review page
    with Store.open(data) as store:
        result = store.undo_last(project_id)
        assert result == UndoResult(Batch(1, 3, "rejected", None), (x, z), (y,))
        assert states(store, (x, y, z)) == [("generated", "A1", 2), ("rejected", "A2, from another tab", 2),
                                            ("generated", "A3", 2)]
        assert store.last_change(project_id) is None  # the batch is undone, y's refusal on record


def test_the_trail_keeps_what_was_there(seeded):
    data, project_id, (x, y, _) = seeded
    with Store.open(data) as store:
        store.change_status([x], "accepted")
        store.edit_pair(y, question="Q2, by hand?")
        store.edit_pair(y, question="Q2, by hand?")  # the same text: no change, no entry
        store.undo_last(project_id)
    conn = sqlite3.connect(data / DB_FILENAME)
    rows = conn.execute("SELECT batch_id, pair_id, old_status, new_status, old_question, old_answer, old_revision,"
                        " new_revision, undone_at IS NOT NULL, undo_kept FROM review_changes ORDER BY id").fetchall()
    conn.close()
    assert rows == [(1, x, "generated", "accepted", None, None, 0, 1, 0, None),
                    (2, y, "generated", "generated", "Q2?", "A2", 0, 1, 1, 0)]


def test_an_older_batch_can_be_undone_after_a_newer_one_on_the_same_pair(seeded):
    data, project_id, (x, _, _) = seeded
    with Store.open(data) as store:
        store.change_status([x], "accepted")  # revision 1
        store.change_status([x], "rejected")  # revision 2
        assert store.undo_last(project_id).restored == (x,)  # back to accepted at revision 3
        assert store.undo_last(project_id).restored == (x,)  # the older batch now expects 3
        assert states(store, [x]) == [("generated", "A1", 4)]


def test_each_project_undoes_its_own_changes(seeded):
    data, project_id, (x, _, _) = seeded
    with Store.open(data) as store:
        other = store.create_project("other")
        [w] = add_pairs(store, other, "o-notes.md", [qa("W?", "AW")])
        store.change_status([x], "accepted")
        store.change_status([w], "rejected")
        assert store.undo_last(project_id) == UndoResult(Batch(1, 1, "accepted", None), (x,), ())
        assert store.last_change(other) == Batch(2, 1, "rejected", None)


def test_judge_scores_are_stale_exactly_when_the_text_changed_after_judging(seeded):
    data, project_id, (x, y, _) = seeded
    with Store.open(data) as store:
        assert store.stale_judgements([x, y]) == set()  # not judged: nothing to be stale
        store.set_judgement(x, 5, 4, 4, "good")
        store.change_status([x], "accepted")  # the revision goes up, the text stays
        assert (store.get_pair(x).revision, store.stale_judgements([x])) == (1, set())
        store.undo_last(project_id)  # the undo of a status change: still fresh
        assert (store.get_pair(x).revision, store.stale_judgements([x])) == (2, set())
        store.edit_pair(x, answer="A1, by hand")
        assert store.stale_judgements([x, y, 999]) == {x}
        store.change_status([x], "rejected")  # a status change does not make it fresh again
        assert store.stale_judgements([x]) == {x}
        store.set_judgement(x, 3, 3, 3, "judged again")
        assert store.stale_judgements([x]) == set()
        store.clear_judgement(x)
        assert store.stale_judgements([x]) == set()


def test_pairs_judged_before_the_migration_are_fresh_unless_edited(tmp_path):
    from dataset_gen.migrations import MIGRATIONS

    with Store.open(tmp_path) as store:
        project_id = store.create_project("notes")
        x, y = add_pairs(store, project_id, "m-notes.md", [qa("Q1?", "A1"), qa("Q2?", "A2")])
        store.set_judgement(x, 5, 5, 5, "")
        store.set_judgement(y, 5, 5, 5, "")
        store.update_pair(y, answer="A2, by hand")
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    # as a file written before the trail: no column, no trigger, no table
    conn.execute("DELETE FROM schema_migrations WHERE version = ?", (len(MIGRATIONS),))
    conn.execute("DROP TRIGGER qa_pairs_judged_follows_status")
    conn.execute("DROP TABLE review_changes")
    conn.execute("ALTER TABLE qa_pairs DROP COLUMN judged_revision")
    conn.commit()
    conn.close()
    with Store.open(tmp_path) as store:
        assert store.stale_judgements([x, y]) == {y}


def test_a_new_tab_undoes_the_change_made_in_another(app_data_dir):
    from tests.test_focus_review import review

    with Store.open(app_data_dir) as store:
        project_id = store.create_project("notes")
        x, y = add_pairs(store, project_id, "m-notes.md", [qa("Q1?", "A1"), qa("Q2?", "A2")])
    first = review(project_id)
    first.button(key="rv_accept").click().run()
    first.button(key="rv_reject").click().run()
    second = review(project_id)  # a reload: a new session with no history of its own
    assert second.button(key="rv_undo_button").label == "Undo: 1 pair rejected"
    second.button(key="rv_undo_button").click().run()
    assert [i.value for i in second.info] == ["Undone: 1 pair has its earlier status back; 0 changed since were"
                                              " kept as they are."]
    assert second.button(key="rv_undo_button").label == "Undo: 1 pair accepted"
    with Store.open(app_data_dir) as store:
        assert [store.get_pair(i).status for i in (x, y)] == ["accepted", "generated"]


def test_the_change_stamp_moves_with_every_write_from_here_or_elsewhere(seeded):
    data, project_id, (x, _, _) = seeded
    with Store.open(data) as store:
        first = store.change_stamp()
        store.list_pairs(project_id)
        assert store.change_stamp() == first  # reading changes nothing
        store.change_status([x], "accepted")
        second = store.change_stamp()
        assert second != first
        with Store.open(data) as other:  # another connection: another tab's process, the CLI
            other.change_status([x], "rejected")
        assert store.change_stamp() != second
        assert list(store.document_names(project_id).values()) == ["m-notes.md"]


def test_undo_of_the_batch_shown_is_refused_when_a_newer_one_came_since(seeded):
    data, project_id, (x, y, z) = seeded
    with Store.open(data) as store:
        store.change_status([x, y], "accepted")
        shown = store.last_change(project_id)
        assert shown is not None
        store.change_status([z], "rejected")  # from the command line, while the page still shows the first
        with pytest.raises(StoreError, match="A newer change was made since this page showed its Undo"):
            store.undo_last(project_id, shown.batch_id)
        assert [s for s, _, _ in states(store, (x, y, z))] == ["accepted", "accepted", "rejected"]  # nothing undone
        newest = store.last_change(project_id)
        assert newest is not None and store.undo_last(project_id, newest.batch_id) is not None


def test_undoing_the_only_edit_of_a_pair_leaves_it_unedited(seeded):
    data, project_id, (x, _, _) = seeded
    with Store.open(data) as store:
        store.edit_pair(x, answer="A1, by hand", expected_revision=0)
        store.edit_pair(x, answer="A1, again", expected_revision=1)
        store.undo_last(project_id)  # back to the first edit: still edited, the model's text kept
        pair = store.get_pair(x)
        assert (pair.answer, pair.edited, pair.original_answer) == ("A1, by hand", True, "A1")
        store.undo_last(project_id)  # back to the model's text
        pair = store.get_pair(x)
        assert (pair.answer, pair.edited, pair.original_question, pair.original_answer) == ("A1", False, None, None)
        assert store.count_pairs(project_id, edited=True) == 0
