"""The checks by code on every pair (dataset_gen.checks), the export gate (dataset_gen.gate), and a
run against the fake Ollama scripted to reply junk: stored with flags, held back by export."""

import json

import pytest

from dataset_gen.checks import REASONS, check_pair, check_reply, describe
from dataset_gen.cli import main
from dataset_gen.gate import HOLD_REASONS, summary
from dataset_gen.qa import reply_schema
from dataset_gen.store import Store
from tests.fake_ollama import Reply

TEA = ("# Tea storage\n\nGreen tea keeps its flavour for about six months when stored in an airtight tin.\n\n"
       "Black tea lasts up to two years in a cool, dark cupboard.\n\n"
       "Oolong tea should be kept away from strong smells such as coffee or spices.\n")
GREEN = "Green tea keeps its flavour for about six months when stored in an airtight tin."
TAIPEI = "## 首都\n\n台北是台灣的首都，也是人口最多的城市之一。\n"


def en(question, answer, evidence=GREEN, **kw):
    return check_pair(question, answer, evidence, TEA, "en", heading_path=("Tea storage",), **kw)


def zh(question, answer, evidence="台北是台灣的首都", chunk=TAIPEI):
    return check_pair(question, answer, evidence, chunk, "zh-TW", heading_path=("首都",))


def test_a_good_pair_passes_in_english_and_traditional_chinese():
    assert en("How long does green tea keep its flavour in an airtight tin?", "About six months.") == ()
    assert zh("台灣的首都是哪一座城市？", "台灣的首都是台北。") == ()


@pytest.mark.parametrize("question, answer, evidence", [
    ("...", "...", GREEN),
    ("…", "…", GREEN),
    ("<question>", "<answer>", GREEN),
    ("How long does green tea keep?", "answer", GREEN),
    ("How long does green tea keep?", "About six months.", "..."),
    ("How long does green tea keep?", "{answer}", GREEN),
])
def test_placeholders_are_flagged(question, answer, evidence):
    assert "placeholder" in en(question, answer, evidence)


def test_gemmas_copied_example_is_a_placeholder_and_trivial_evidence_nothing_else():
    assert en("...", "...", "...") == ("placeholder", "trivial_evidence")


@pytest.mark.parametrize("answer", [
    "Your reply could not be used: it has 2 pairs, not 3",  # the English re-ask
    "Reply again with JSON only, exactly 3 different pairs (never the same pair twice), in this shape:",
    "Each answer must be correct and complete, and use only the text.",  # the prompt's own rule
    "Do the task for the text above and reply with the JSON.",
])
def test_echoes_of_the_prompt_and_the_re_ask_are_flagged(answer):
    assert en("How long does green tea keep its flavour?", answer) == ("echo", "trivial_evidence")


def test_an_echo_of_the_chinese_re_ask_is_flagged():
    assert zh("台灣的首都是哪一座城市？", "你的回覆無法使用：台北") == ("echo",)


def test_the_purpose_of_this_document_is_not_self_contained():
    assert en("What is the purpose of this document?", "Tea storage.", "Tea storage") == (
        "not_self_contained", "trivial_evidence")


@pytest.mark.parametrize("evidence", [
    "Tea storage",  # the chunk's heading alone
    "# Tea storage",
    "Green tea",  # two words that occur in the chunk
    "about six months",  # three words
    "Black tea lasts up to two years in a cool, dark cupboard.",  # shares none of the answer's key terms
])
def test_trivial_evidence_is_flagged(evidence):
    assert en("How long does green tea keep its flavour in an airtight tin?", "About six months.", evidence) == (
        "trivial_evidence",)


def test_unanswerable_questions_keep_evidence_that_only_is_nearby():
    assert en("How should white tea be stored?", "The document does not say; it covers green, black and oolong "
              "tea.", question_type="unanswerable") == ()


KO_CHUNK = "서울은 대한민국의 수도이며 인구는 약 천만 명이다. 한강이 도시를 가로질러 흐른다."
JA_CHUNK = "東京は日本の首都であり、人口は約千四百万人です。隅田川が街を流れています。"


def test_a_question_asked_in_another_language_that_quotes_the_document_is_the_wrong_language():
    korean = check_pair('What does "서울은 대한민국의 수도" say about the city?', "서울은 대한민국의 수도이다.",
                        "서울은 대한민국의 수도이며", KO_CHUNK, "ko")
    assert korean == ("wrong_language",)
    japanese = check_pair("「東京は日本の首都であり」這句話說明了什麼城市的地位？", "東京は日本の首都です。",
                          "東京は日本の首都であり", JA_CHUNK, "ja")
    assert japanese == ("wrong_language",)
    # asked in the document's language, quoting a command or a term in another: fine
    assert check_pair("「ollama serve」指令會啟動什麼服務？", "它會啟動本機的 Ollama 伺服器。",
                      "ollama serve 會啟動本機的 Ollama 伺服器", "執行 ollama serve 會啟動本機的 Ollama 伺服器。",
                      "zh-TW") == ()


@pytest.mark.parametrize("answer", ["", "   ", "\n\t"])
def test_empty_and_whitespace_answers_are_flagged(answer):
    assert en("How long does green tea keep its flavour?", answer) == ("empty",)


def test_kana_in_a_zh_tw_answer_and_an_english_answer_are_the_wrong_language():
    assert zh("台灣的首都是哪一座城市？", "台北は台灣的首都。") == ("wrong_language",)
    assert zh("台灣的首都是哪一座城市？", "Taipei is the capital city of Taiwan.") == (
        "wrong_language", "trivial_evidence")
    assert zh("台灣的首都是哪一座城市？", "台湾的首都是台北，这里说的是简体。") == ("wrong_language",)
    # kana the chunk itself has may be quoted
    quoted = "東京車站附近有一家很有名的壽司老店叫做「すし」，已經開了五十多年。"
    assert zh("東京車站附近有哪家老店？", quoted, quoted, chunk=quoted) == ()


def test_duplicates_within_one_reply_are_flagged_after_the_first():
    reply = [
        ("How long does green tea keep its flavour?", "About six months in an airtight tin.", GREEN),
        ("How long does green tea keep its flavour?", "Six months.", GREEN),
        ("How long does green tea keep  its flavour in a tin?", "About six months in an airtight tin.", GREEN),
        ("How long does black tea last?", "Up to two years.", "Black tea lasts up to two years in a cool, dark cupboard."),
    ]
    assert check_reply(reply, TEA, "en") == [(), ("repeated",), ("repeated",), ()]


def test_every_reason_has_one_line_of_text_and_the_schema_refuses_empty_strings():
    assert all(text and "\n" not in text for text in HOLD_REASONS.values())
    assert set(REASONS) < set(HOLD_REASONS) and describe("echo") == REASONS["echo"]
    item = reply_schema(2)["properties"]["pairs"]["items"]["properties"]
    assert {k: v["minLength"] for k, v in item.items()} == {"question": 4, "answer": 1, "evidence": 8}


def test_the_summary_counts_most_first():
    from collections import Counter
    assert summary(Counter(ungrounded=4, trivial_evidence=3, placeholder=5)) == (
        "held back 12 items: placeholder 5, ungrounded 4, trivial evidence 3")
    assert summary(Counter()) == ""


JUNK = {"pairs": [
    {"question": "How long does green tea keep its flavour in an airtight tin?", "answer": "About six months.",
     "evidence": GREEN},
    {"question": "...", "answer": "...", "evidence": "Black tea lasts up to two years in a cool, dark cupboard."},
    {"question": "<question>", "answer": "<answer>",
     "evidence": "Oolong tea should be kept away from strong smells such as coffee or spices."},
    {"question": "What is the guide's topic?", "answer": "Tea storage.", "evidence": "Tea storage"},
    {"question": "Where should black tea be kept?", "answer": "In a cool, dark cupboard, where it lasts.",
     "evidence": "Black tea lasts ten years in a warm cupboard."},
]}


def run(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_junk_replies_are_stored_with_flags_and_held_back_by_export(tmp_path, fake_ollama, capsys):
    notes = tmp_path / "tea.md"
    notes.write_text(TEA, encoding="utf-8")
    fake_ollama.push(Reply(json.dumps(JUNK)))
    base = ("--data-dir", tmp_path)
    code, err = run(capsys, *base, "generate", notes, "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                    "--project", "tea", "--pairs-per-chunk", "5")
    assert code == 1 and err.splitlines()[-1].startswith("not usable: 4 of 5 pairs fail the checks"), err
    with Store(tmp_path / "dataset_gen.sqlite3") as store:
        project_id = store.project_id("tea")
        pairs = store.list_pairs(project_id)
        assert [(p.flags, p.grounded) for p in pairs] == [
            ((), True), (("placeholder",), True), (("placeholder",), True), (("trivial_evidence",), True),
            ((), False)]
        assert store.count_pairs(project_id, flag="placeholder") == 2
    out = tmp_path / "tea.jsonl"
    code, err = run(capsys, *base, "export", "--project", "tea", "--format", "openai", "--output", out,
                    "--include-unreviewed")
    assert code == 0, err
    assert err.splitlines()[0] == "held back 4 items: placeholder 2, trivial evidence 1, ungrounded 1"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][0]["content"] for r in records] == [JUNK["pairs"][0]["question"]]
    code, err = run(capsys, *base, "export", "--project", "tea", "--format", "openai", "--output", out,
                    "--include-unreviewed", "--include-flagged", "placeholder")
    assert code == 0, err
    assert err.splitlines()[0] == "held back 2 items: trivial evidence 1, ungrounded 1"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["messages"][0]["content"] for r in records] == ["How long does green tea keep its flavour in an "
                                                              "airtight tin?", "...", "<question>"]
    code, err = run(capsys, *base, "export", "--project", "tea", "--format", "ragas", "--output",
                    tmp_path / "tea-ragas.jsonl", "--include-unreviewed", "--include-flagged", "ungrounded,trivial evidence")
    assert code == 0, err
    assert err.splitlines()[0] == "held back 2 items: placeholder 2"
    with pytest.raises(SystemExit) as exited:
        main([*map(str, base), "export", "--project", "tea", "--format", "openai", "--output", str(out),
              "--include-flagged", "plaecholder"])
    assert exited.value.code == 2
    assert "Unknown reason plaecholder: choose from rejected, empty, placeholder," in capsys.readouterr().err


def test_an_edit_recomputes_flags_and_old_pairs_get_theirs_filled(tmp_path):
    from dataset_gen.models import Chunk, Document, QAPair
    with Store(tmp_path / "db.sqlite3") as store:
        project = store.create_project("tea")
        [chunk] = store.replace_chunks(store.add_document(project, Document("tea.md", TEA, "markdown", "1" * 64)),
                                       [Chunk("tea.md", 0, 0, len(TEA), TEA, ("Tea storage",))])
        run_id = store.start_run(project, "m", {}, "qa_generate", "5", 1)
        [pair_id, old_id] = store.save_chunk_pairs(chunk, run_id, [
            QAPair("...", "...", GREEN, True, flags=("placeholder",)),
            QAPair("What is the purpose of this document?", "Tea storage.", "Tea storage", True)])
        edited = store.update_pair(pair_id, question="How long does green tea keep its flavour in a tin?",
                                   answer="About six months.")
        assert edited.flags == ()
        assert store.update_pair(pair_id, answer="…").flags == ("placeholder",)
        with store._write() as conn:  # a pair stored before schema version 6
            conn.execute("UPDATE qa_pairs SET flags = NULL WHERE id = ?", (old_id,))
        assert store.get_pair(old_id).flags == ()
        assert store.fill_flags(project) == 1 and store.fill_flags(project) == 0
        assert store.get_pair(old_id).flags == ("not_self_contained", "trivial_evidence")
