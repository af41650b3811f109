"""The Review page shows what each kind of item is: a choice question with its options and the
correct one marked, an item with no source chunk saying where it came from (and no empty source),
and the grid's tag column (AppTest, real store)."""

from __future__ import annotations

from dataset_gen.store_tags import Tree
from tests.kinds_fixtures import OPTIONS, kinds_project
from tests.test_focus_review import review


def _html(at) -> str:
    return "".join(h.proto.body for h in at.get("html"))


def test_a_choice_question_shows_its_options_with_the_correct_one_marked(app_data_dir):
    store, project_id, ids = kinds_project(app_data_dir)
    store.close()
    at = review(project_id)
    at.selectbox(key="rv_kind").select("choice").run()
    assert not at.exception, at.exception
    shown = _html(at)
    for letter, option in zip("ABCD", OPTIONS, strict=True):
        mark = "  ✓" if option == "11434" else ""
        assert f"<strong>{letter}.</strong> <span style='white-space: pre-wrap'>{option}{mark}</span>" in shown
    assert "<mark>Ollama serves on port 11434 by default</mark>." in shown


def test_an_item_with_no_source_says_where_it_came_from_and_shows_no_source(app_data_dir):
    store, project_id, ids = kinds_project(app_data_dir)
    tree: Tree = [("Geography", ["Capitals"])]
    store.save_tag_tree(project_id, tree)
    [leaf] = [row.id for row in store.list_tags(project_id) if row.parent_id is not None]
    store.set_pair_tags({ids["model"]: leaf})
    store.close()
    at = review(project_id)
    at.selectbox(key="rv_origin").select("model").run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert "No source chunk: model (distilled). Check it against what you know." in captions
    assert "source-chunk" not in _html(at)
    [grid] = [frame for frame in at.dataframe if "tag" in frame.value.columns]  # the grid
    assert list(grid.value["tag"]) == ["Geography > Capitals"]


def test_the_review_page_in_traditional_chinese_has_no_english_labels_for_flags_statuses_and_fields(app_data_dir):
    from streamlit.testing.v1 import AppTest

    from tests.test_focus_review import ROOT

    store, project_id, ids = kinds_project(app_data_dir)
    store.close()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.session_state["ui_language"] = "zh-TW"
    at.run()
    at.switch_page("ui/pages/review.py")
    at.run()
    assert not at.exception, at.exception
    status = at.multiselect(key="rv_status")
    assert status.options == ["已產生", "已接受", "已拒絕"]
    kind = at.selectbox(key="rv_kind")
    kind.select_index(kind.options.index("選擇題")).run()
    shown = _html(at)
    assert "<strong>問：</strong>" in shown and "<strong>答：</strong>" in shown and "<strong>證據：</strong>" in shown
    flag = at.selectbox(key="rv_flag")
    assert "證據薄弱" in flag.options and "trivial evidence" not in flag.options
