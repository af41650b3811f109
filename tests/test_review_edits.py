"""Review edits are keyed by pair id and revision: an edit made from what a tab showed lands on the
pair it showed, or is refused (keeping the person's text) when someone saved that pair since.

Against a real SQLite store, and the Review page driven by Streamlit's AppTest: two AppTest
instances on one data folder are two browser tabs."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.config import ChunkSettings
from dataset_gen.errors import StoreError
from dataset_gen.ingest import ingest_bytes
from dataset_gen.models import QAPair
from dataset_gen.store import Store
from dataset_gen.store_pairs import StaleEditError
from ui.safe import text_block

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


def qa(question: str, answer: str) -> QAPair:
    return QAPair(question=question, answer=answer, evidence="", grounded=False)


def add_pairs(store: Store, project_id: int, name: str, pairs: list[QAPair]) -> list[int]:
    """Ingest corpus file ``ollama-notes-zh-TW.md`` under ``name`` and store ``pairs`` on its first
    chunk from a new run; return the pair ids."""
    data = (CORPUS / "ollama-notes-zh-TW.md").read_bytes() + name.encode()  # other bytes: a new document
    document_id = ingest_bytes(store, project_id, data, name, ChunkSettings(), max_bytes=1 << 30).document_id
    chunk = store.list_chunks(project_id, document_id=document_id)[0]
    run = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "1", 1)
    return store.save_chunk_pairs(chunk.id, run, pairs)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path) as opened:
        yield opened


@pytest.fixture
def seeded(store):
    """A project "notes" with three pairs on document ``m-notes.md``: (project id, pair ids)."""
    project_id = store.create_project("notes")
    ids = add_pairs(store, project_id, "m-notes.md", [qa("Q1?", "A1"), qa("Q2?", "A2"), qa("Q3?", "A3")])
    return project_id, ids


# --- the store --------------------------------------------------------------------------------


def test_every_change_a_person_makes_raises_the_revision(store, seeded):
    project_id, (x, y, _) = seeded
    assert store.get_pair(x).revision == 0
    assert store.update_pair(x, answer="A1, by hand").revision == 1
    assert store.update_pair(x, answer="A1, by hand").revision == 1  # same text: no change
    assert store.set_status([x, y], "accepted") == 2
    assert (store.get_pair(x).revision, store.get_pair(y).revision) == (2, 1)
    assert store.set_status([x], "accepted") == 0  # already accepted: no change
    store.set_judgement(x, 5, 4, 3, "fine")  # a model's scores and the duplicate marks are not edits
    store.set_duplicates(project_id, {y: x})
    store.set_language_ok(x, False)
    assert (store.get_pair(x).revision, store.get_pair(y).revision) == (2, 1)


def test_an_edit_from_an_older_revision_is_refused_with_the_newer_text(store, seeded):
    _, (x, _, _) = seeded
    seen = store.get_pair(x).revision  # both tabs drew revision 0
    store.update_pair(x, answer="A1 from tab A", expected_revision=seen)
    with pytest.raises(StaleEditError) as refused:
        store.update_pair(x, question="Q1 from tab B?", expected_revision=seen)
    assert str(refused.value) == (
        f"QA pair {x} was changed elsewhere since you saw it (your revision 0, now 1), so your change was"
        " not saved; it now reads: question 'Q1?', answer 'A1 from tab A', status generated: compare, then"
        " make your change again"
    )
    assert isinstance(refused.value, StoreError)
    assert (refused.value.current.answer, refused.value.current.revision, refused.value.expected) == (
        "A1 from tab A", 1, 0)
    kept = store.get_pair(x)
    assert (kept.question, kept.answer, kept.revision) == ("Q1?", "A1 from tab A", 1)
    assert store.update_pair(x, question="Q1 from tab B?", expected_revision=1).question == "Q1 from tab B?"


def test_a_status_change_from_an_older_revision_changes_no_pair(store, seeded):
    _, (x, y, z) = seeded
    store.update_pair(y, answer="A2 from tab A")
    store.set_status([z], "accepted")
    with pytest.raises(StaleEditError, match=f"QA pair {y} was changed elsewhere"):
        store.set_status([x, y], "accepted", expected_revisions={x: 0, y: 0})
    assert [store.get_pair(i).status for i in (x, y)] == ["generated", "generated"]
    # A pair already in the wanted status is skipped, so its revision does not matter.
    assert store.set_status([x, z], "accepted", expected_revisions={x: 0, z: 0}) == 1
    assert [store.get_pair(i).status for i in (x, y, z)] == ["accepted", "generated", "accepted"]


# --- the Review page, in two tabs ------------------------------------------------------------


def review_tab(project_id: int) -> AppTest:
    """A browser tab on the Review page of the project."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/review.py")
    at.run()
    assert not at.exception, at.exception
    return at


def edit_row(at: AppTest, position: int, **cells) -> None:
    """Edit cells of the grid's row at ``position`` as drawn, the way the browser reports it."""
    at.session_state[at.session_state["rv_drawn"]["key"]] = {
        "edited_rows": {position: cells}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def seed_app(data_dir: Path) -> tuple[int, list[int]]:
    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
        return project_id, add_pairs(store, project_id, "m-notes.md", [qa("Q1?", "A1"), qa("Q2?", "A2")])


def test_a_stale_edit_in_a_second_tab_is_refused_and_keeps_the_persons_text(app_data_dir):
    project_id, (x, _) = seed_app(app_data_dir)
    tab_a, tab_b = review_tab(project_id), review_tab(project_id)
    assert list(tab_b.data_editor[0].value.index) == [x, _]
    edit_row(tab_a, 0, answer="A1 from tab A")
    with Store.open(app_data_dir) as store:
        assert (store.get_pair(x).answer, store.get_pair(x).revision) == ("A1 from tab A", 1)

    edit_row(tab_b, 0, answer="A1 from tab B")
    assert [w.value for w in tab_b.warning] == [
        f"Pair {x} was changed in another tab or by another person after this page showed it, so your edit"
        " was not saved. Compare, then save yours over it or discard it."]
    theirs = next(h.value for h in tab_b.html if f"stale-theirs-{x}" in h.value)
    assert theirs == text_block([("Q:", "Q1?"), ("A:", "A1 from tab A"), ("Status:", "generated")],
                                f"stale-theirs-{x}")
    assert tab_b.text_area(key=f"rv_mine_a_{x}").value == "A1 from tab B"
    assert tab_b.text_area(key=f"rv_mine_q_{x}").value == "Q1?"
    with Store.open(app_data_dir) as store:
        assert (store.get_pair(x).answer, store.get_pair(x).revision) == ("A1 from tab A", 1)

    tab_b.run()  # the person's text stays on the page until they act on it
    assert tab_b.text_area(key=f"rv_mine_a_{x}").value == "A1 from tab B"
    tab_b.button(key=f"rv_mine_save_{x}").click().run()
    assert not tab_b.exception and not tab_b.warning
    with Store.open(app_data_dir) as store:
        pair = store.get_pair(x)
    assert (pair.answer, pair.original_answer, pair.revision) == ("A1 from tab B", "A1", 2)


def test_an_edit_after_another_tab_accepted_the_pair_is_refused(app_data_dir):
    project_id, (x, _) = seed_app(app_data_dir)
    tab_a, tab_b = review_tab(project_id), review_tab(project_id)
    edit_row(tab_a, 0, status="accepted")
    edit_row(tab_b, 0, answer="A1 from tab B")
    assert len(tab_b.warning) == 1 and tab_b.warning[0].value.startswith(f"Pair {x} was changed in another tab")
    assert text_block([("Q:", "Q1?"), ("A:", "A1"), ("Status:", "accepted")], f"stale-theirs-{x}") in [
        h.value for h in tab_b.html]
    with Store.open(app_data_dir) as store:
        pair = store.get_pair(x)
    assert (pair.answer, pair.status, pair.edited, pair.revision) == ("A1", "accepted", False, 1)
    tab_b.button(key=f"rv_mine_discard_{x}").click().run()
    assert not tab_b.warning
    with Store.open(app_data_dir) as store:
        assert store.get_pair(x).answer == "A1"


def test_an_edit_in_a_tab_drawn_before_new_pairs_sorted_above_lands_on_its_pair(app_data_dir):
    project_id, (x, y) = seed_app(app_data_dir)
    tab = review_tab(project_id)
    with Store.open(app_data_dir) as store:
        [new] = add_pairs(store, project_id, "a-first.md", [qa("New Q?", "New A")])  # sorts above x
        assert [p.id for p in store.list_pairs(project_id)] == [new, x, y]

    edit_row(tab, 0, answer="A1, fixed")  # row 0 of the grid as the person saw it: pair x
    assert not tab.warning and not tab.error
    with Store.open(app_data_dir) as store:
        assert [(p.id, p.answer) for p in store.list_pairs(project_id)] == [
            (new, "New A"), (x, "A1, fixed"), (y, "A2")]
    assert list(tab.data_editor[0].value.index) == [new, x, y]  # redrawn from the store

    edit_row(tab, 2, status="rejected")
    with Store.open(app_data_dir) as store:
        assert [p.status for p in store.list_pairs(project_id)] == ["generated", "generated", "rejected"]


def test_ticked_rows_follow_their_pairs_when_new_pairs_sort_above(app_data_dir):
    project_id, (x, y) = seed_app(app_data_dir)
    tab = review_tab(project_id)
    edit_row(tab, 0, select=True)  # tick pair x
    with Store.open(app_data_dir) as store:
        [new] = add_pairs(store, project_id, "a-first.md", [qa("New Q?", "New A")])
    tab.run()
    assert list(tab.data_editor[0].value["select"]) == [False, True, False]
    tab.button(key="rv_accept_sel").click().run()
    tab.button(key="rv_bulk_yes").click().run()
    assert not tab.exception
    with Store.open(app_data_dir) as store:
        assert [(p.id, p.status) for p in store.list_pairs(project_id)] == [
            (new, "generated"), (x, "accepted"), (y, "generated")]


def test_accepting_a_ticked_pair_another_tab_edited_is_refused(app_data_dir):
    project_id, (x, y) = seed_app(app_data_dir)
    tab_a, tab_b = review_tab(project_id), review_tab(project_id)
    edit_row(tab_b, 0, select=True)
    edit_row(tab_a, 0, answer="A1 from tab A")
    tab_b.button(key="rv_accept_sel").click().run()
    tab_b.button(key="rv_bulk_yes").click().run()
    assert len(tab_b.warning) == 1 and tab_b.warning[0].value.startswith(f"Pair {x} was changed in another tab")
    with Store.open(app_data_dir) as store:
        assert [(p.answer, p.status) for p in store.list_pairs(project_id)] == [
            ("A1 from tab A", "generated"), ("A2", "generated")]
    tab_b.button(key=f"rv_mine_save_{x}").click().run()  # accepts it, now that the person saw the text
    with Store.open(app_data_dir) as store:
        assert [(p.answer, p.status) for p in store.list_pairs(project_id)] == [
            ("A1 from tab A", "accepted"), ("A2", "generated")]
