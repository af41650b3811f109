"""QA pairs, conversations and objective questions of the same chunks: a run of one kind takes the
chunks that have no item of its kind (``Store.lacking_chunk_ids``), never deletes items of another
kind, and a second run of the same kind makes nothing new. The CLI over real HTTP to the fake
Ollama, a real store, and the app's Generate page (AppTest) counting what a run of its kind takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dataset_gen.checks import REASONS
from dataset_gen.cli import main
from dataset_gen.config import ChunkSettings, ProjectConfig, Settings
from dataset_gen.conversation import parse_roles
from dataset_gen.gate import hold_reasons
from dataset_gen.ingest import ingest_bytes
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, Reply, _find_chunk, qa_responder

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("# Ollama\n\n## Ports\n\nOllama serves on port 11434 by default. Set OLLAMA_HOST to listen on another "
         "address.\n\n## Models\n\nModels are stored in the ~/.ollama/models folder. The OLLAMA_MODELS variable "
         "moves them elsewhere.\n")


def responder(request: dict) -> Reply:
    """:func:`tests.fake_ollama.qa_responder`, and for objective questions one item quoting the
    chunk's first sentence, its correct option first (as a model tends to put it)."""
    fmt = request.get("format")
    items = (fmt.get("properties") or {}).get("items") if isinstance(fmt, dict) else None
    chunk = _find_chunk(request.get("messages") or [])
    if chunk is None or not isinstance(items, dict):
        return qa_responder(request)
    first = chunk.split("\n\n")[-1].split(". ")[0].strip().rstrip(".") + "."
    if "options" in items["items"]["properties"]:
        item = {"question": f"Which is true? ({first[:20]})", "options": [first, "It has no port.",
                                                                          "It needs a licence.", "It is a GPU."],
                "answer": first, "evidence": first}
    else:
        item = {"question": first, "answer": "True", "evidence": first}
    return Reply(json.dumps({"items": [item]}))


def _generate(tmp_path: Path, fake, *extra: str, capsys) -> tuple[int, str]:
    small = tmp_path / "small.md"
    small.write_text(SMALL, encoding="utf-8")
    code = main(["--data-dir", str(tmp_path), "generate", str(small), "--project", "kinds", "--model", "qwen2.5:7b",
                 "--host", fake.url, "--pairs-per-chunk", "1", "--concurrency", "1", "--language", "en", "--chunk-size", "200", *extra])
    return code, capsys.readouterr().err


def _items(tmp_path: Path) -> list[tuple[int, str, str]]:
    with Store.open(tmp_path) as store:
        return [(p.id, p.kind, p.question_type) for p in store.list_pairs(store.project_id("kinds"))]


def _summary(err: str) -> str:
    return next(line for line in err.splitlines() if " from " in line and "(project 'kinds'" in line)


def _lines(err: str) -> list[str]:
    """The run's summary line (its wall time left out) and its document line."""
    return [re.sub(r", in \d+\.\ds \(", " (", line) for line in err.splitlines()
            if "(project 'kinds'" in line or line.startswith("small.md: 2 chunks d")]


def test_qa_then_conversation_then_choice_gives_all_three_and_each_again_makes_nothing(tmp_path, capsys):
    with FakeOllama(responder=responder) as fake:
        qa = _generate(tmp_path, fake, capsys=capsys)
        conversation = _generate(tmp_path, fake, "--kind", "conversation", "--turns", "2", capsys=capsys)
        choice = _generate(tmp_path, fake, "--kind", "choice", capsys=capsys)
        items = _items(tmp_path)
        calls = len(fake.chat_requests())
        again = [_generate(tmp_path, fake, capsys=capsys),
                 _generate(tmp_path, fake, "--kind", "conversation", "--turns", "2", capsys=capsys),
                 _generate(tmp_path, fake, "--kind", "choice", capsys=capsys)]
        assert len(fake.chat_requests()) == calls == 2 + 2 + 4  # nothing asked again
    assert [code for code, _ in (qa, conversation, choice, *again)] == [0] * 6
    assert _lines(qa[1]) == ["2 pairs from 2 chunks (project 'kinds', run 1)",
                             "small.md: 2 chunks done, 0 failed; 2 pairs, 2 pass every check"]
    assert _lines(conversation[1]) == ["2 conversations from 2 chunks (project 'kinds', run 2)",
                                       "small.md: 2 chunks done, 0 failed; 2 conversations, 2 pass every check"]
    assert _lines(choice[1]) == ["4 questions from 2 chunks (project 'kinds', run 3)",
                                 "small.md: 2 chunks done, 0 failed; 4 questions, 4 pass every check"]
    assert [_lines(err) for _, err in again] == [
        ["0 pairs from 0 chunks (project 'kinds', run 4)"],
        ["0 conversations from 0 chunks (project 'kinds', run 5)"],
        ["0 questions from 0 chunks (project 'kinds', run 6)"]]
    # every kind on both chunks, nothing of an earlier run deleted or replaced (ids in order of making)
    assert items == [(1, "qa", "factual"), (3, "conversation", "factual"), (5, "choice", "single_choice"),
                     (6, "choice", "true_false"), (2, "qa", "factual"), (4, "conversation", "factual"),
                     (7, "choice", "single_choice"), (8, "choice", "true_false")]
    assert _items(tmp_path) == items
    with Store.open(tmp_path) as store:  # what report lists: each run counts the chunks it made items for
        runs = store.list_runs(store.project_id("kinds"))
        assert [(r.id, r.chunks_done, r.chunks_failed) for r in runs] == [
            (6, 0, 0), (5, 0, 0), (4, 0, 0), (3, 2, 0), (2, 2, 0), (1, 2, 0)]


def test_conversation_first_then_qa_keeps_the_conversations(tmp_path, capsys):
    with FakeOllama(responder=responder) as fake:
        conversation = _generate(tmp_path, fake, "--kind", "conversation", "--turns", "2", capsys=capsys)
        qa = _generate(tmp_path, fake, "--kind", "qa", capsys=capsys)
    assert _lines(conversation[1])[0] == "2 conversations from 2 chunks (project 'kinds', run 1)"
    assert _lines(qa[1])[0] == "2 pairs from 2 chunks (project 'kinds', run 2)"
    assert _items(tmp_path) == [(1, "conversation", "factual"), (3, "qa", "factual"), (2, "conversation", "factual"),
                                (4, "qa", "factual")]
    with Store.open(tmp_path) as store:
        project_id = store.project_id("kinds")
        assert [len(p.turns) for p in store.list_pairs(project_id, kind="conversation")] == [4, 4]
        assert [c.gen_status for c in store.list_chunks(project_id)] == ["done", "done"]
        assert store.lacking_chunk_ids(project_id, "qa", ("factual",)) == []
        assert store.lacking_chunk_ids(project_id, "conversation") == []
        assert len(store.lacking_chunk_ids(project_id, "choice", ("single_choice", "true_false"))) == 2


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "pending" in c.value)


def test_the_generate_page_counts_what_a_run_of_its_kind_takes(app_data_dir, fake_ollama, capsys):
    with FakeOllama(responder=responder) as fake:
        assert _generate(app_data_dir, fake, capsys=capsys)[0] == 0  # QA pairs on both chunks
    with Store.open(app_data_dir) as store:
        project_id = store.project_id("kinds")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/generate.py")
    at.run()
    assert not at.exception, at.exception
    start = next(b for b in at.button if b.label == "Start generation")
    assert (_caption(at), start.disabled) == ("0 chunks pending, 0 failed, 2 done.", True)
    assert [i.value for i in at.info] == ["Every chunk already has items of this kind (QA pair)."]
    next(s for s in at.selectbox if s.label == "What to make from each chunk").select("conversation").run()
    assert not at.exception, at.exception
    start = next(b for b in at.button if b.label == "Start generation")
    assert (_caption(at), start.disabled) == ("2 chunks pending, 0 failed, 0 done.", False)
    assert [i.value for i in at.info] == []


def test_single_choice_options_are_shuffled_by_the_question_and_true_false_keeps_its_order(tmp_path, capsys):
    """A scripted reply whose correct option is always first: stored, the correct options stand at
    A, D, A, D, B, C (drawn from each question), the answer is exactly one option, and the same
    reply stored again gives the same order; true/false stays (True, False)."""
    questions = [f"Which port does Ollama use in setup {n}?" for n in range(1, 7)]
    single = {"items": [{"question": q, "options": ["11434", "8080", "443", "3000"], "answer": "11434",
                         "evidence": "Ollama serves on port 11434 by default."} for q in questions]}
    truth = {"items": [{"question": "Ollama serves on port 11434 by default.", "answer": "True",
                        "evidence": "Ollama serves on port 11434 by default."}]}
    small = tmp_path / "ports.md"
    small.write_text("## Ports\n\nOllama serves on port 11434 by default. Set OLLAMA_HOST to listen elsewhere.\n",
                     encoding="utf-8")
    orders = []
    for run in (1, 2):
        with FakeOllama() as fake:
            fake.push(Reply(json.dumps(single)), Reply(json.dumps(truth)))
            assert main(["--data-dir", str(tmp_path / str(run)), "generate", str(small), "--model", "qwen2.5:7b",
                         "--host", fake.url, "--kind", "choice", "--pairs-per-chunk", "6", "--concurrency", "1",
                         "--language", "en"]) in (0, 1), capsys.readouterr().err
        with Store.open(tmp_path / str(run)) as store:
            pairs = store.list_pairs(store.project_id("default"))
        orders.append([(p.question_type, p.choices, p.answer) for p in pairs])
    assert orders[0] == orders[1]
    chosen = [(choices, answer) for kind, choices, answer in orders[0] if kind == "single_choice"]
    assert all(sorted(c) == ["11434", "3000", "443", "8080"] and c.count(a) == 1 for c, a in chosen)
    assert "".join("ABCD"[c.index(a)] for c, a in chosen) == "ADADBC"
    assert [(c, a) for kind, c, a in orders[0] if kind == "true_false"] == [(("True", "False"), "True")]


def test_a_chunk_its_own_kind_marked_done_is_not_asked_again_even_without_items(tmp_path):
    """A QA run marked the chunk done and the model gave no pair: a QA run does not take it again
    (that would never end), a conversation run does."""
    with Store.open(tmp_path) as store:
        project_id = store.create_project("kinds")
        ingest_bytes(store, project_id, SMALL.encode(), "small.md", ChunkSettings(), max_bytes=1 << 20)
        [chunk] = store.list_chunks(project_id)
        store.finish_chunk(chunk.id, store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "4", 1))
        assert store.lacking_chunk_ids(project_id, "qa", ("factual",)) == []
        assert store.lacking_chunk_ids(project_id, "conversation") == [chunk.id]
        assert store.lacking_chunk_ids(project_id, "choice", ("single_choice", "true_false")) == [chunk.id]


def test_editing_a_choice_answer_to_text_that_is_no_option_is_flagged_and_held_back(tmp_path, capsys):
    with FakeOllama(responder=responder) as fake:
        assert _generate(tmp_path, fake, "--kind", "choice", capsys=capsys)[0] == 0
    with Store.open(tmp_path) as store:
        project_id = store.project_id("kinds")
        item = next(p for p in store.list_pairs(project_id) if p.question_type == "single_choice")
        assert (item.choices, item.answer, item.flags) == (
            ("Ollama serves on port 11434 by default.", "It has no port.", "It is a GPU.", "It needs a licence."),
            "Ollama serves on port 11434 by default.", ())
        edited = store.update_pair(item.id, answer="Port 8080")
        assert (edited.answer, edited.flags) == ("Port 8080", ("not_an_option",))
        assert hold_reasons(edited) == ["not_an_option"]
        assert REASONS["not_an_option"] == "the answer of a choice question is not exactly one of its options"
        back = store.update_pair(item.id, answer="It is a GPU.")  # another option: a wrong answer, but an option
        assert (back.answer, back.flags) == ("It is a GPU.", ())
        right = store.update_pair(item.id, answer="Ollama serves on port 11434 by default.")
        assert (right.flags, hold_reasons(right)) == ((), [])
        truth = next(p for p in store.list_pairs(project_id) if p.question_type == "true_false")
        assert store.update_pair(truth.id, answer="Maybe").flags == ("not_an_option",)
        assert store.update_pair(truth.id, answer="False").flags == ()


def test_roles_take_a_full_width_comma_and_a_bad_value_is_told_in_one_plain_line(tmp_path, capsys):
    with FakeOllama(responder=responder) as fake:
        code, err = _generate(tmp_path, fake, "--kind", "conversation", "--turns", "2", "--roles", "只有一個",
                              capsys=capsys)
        assert (code, err.splitlines()) == (2, ['error: --roles: needs two names separated by a comma, e.g. "使用者,助理"'])
        code, err = _generate(tmp_path, fake, "--kind", "conversation", "--turns", "2", "--roles", "使用者，助理",
                              capsys=capsys)
        assert code == 0, err
        system = fake.chat_requests()[0]["messages"][0]["content"]
    assert "使用者" in system and "助理" in system
    with Store.open(tmp_path) as store:
        project_id = store.project_id("kinds")
        assert ProjectConfig.load(store.get_settings(project_id)).roles == "使用者,助理"
        assert {store.conversation_settings(p.id)[2] for p in store.list_pairs(project_id)} == {("使用者", "助理")}
    assert ProjectConfig(roles=" 新同事 ， IT 助理 ").roles == "新同事,IT 助理"
    assert ProjectConfig(roles="新同事,IT 助理").apply(Settings()).roles == ("新同事", "IT 助理")
    assert parse_roles("使用者，助理") == ("使用者", "助理")


def test_conversation_options_on_another_kind_are_said_to_do_nothing(tmp_path, capsys):
    with FakeOllama(responder=responder) as fake:
        code, err = _generate(tmp_path, fake, "--turns", "2", "--scenario", "新同事", capsys=capsys)
    assert code == 0
    assert err.splitlines()[0] == ("note: --turns, --scenario only shape conversations (--kind conversation); "
                                   "this run makes qa items")
