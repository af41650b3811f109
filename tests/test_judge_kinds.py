"""The judge on every kind of item: a conversation judged as a whole (every turn in the prompt, one
verdict), a choice question with its options shown and the correct one marked, and items with no
source chunk judged from the judge's own knowledge (its own template, counted and said by the CLI).
Real HTTP to the fake Ollama server, a real SQLite store; the prompts are read back from the fake."""

from __future__ import annotations

import json
import re

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.judge import judge_pairs
from dataset_gen.prompts import GENERIC, LANGUAGES, load_prompt
from tests.fake_ollama import Reply, qa_responder
from tests.kinds_fixtures import TEXT, kinds_project

VERDICTS = {  # a marker only that item's prompt holds -> the fake judge's reply to it
    "Assistant: Set OLLAMA_HOST": {"faithfulness": 5, "relevance": 4, "clarity": 3, "reason": "All turns are backed."},
    "B. 11434": {"faithfulness": 4, "relevance": 5, "clarity": 5, "reason": "The marked option is right."},
    "capital of France": {"faithfulness": 3, "relevance": 2, "clarity": 4, "reason": "Correct as far as I know."},
    "Write a haiku": {"faithfulness": 1, "relevance": 3, "clarity": 2, "reason": "Not a haiku."},
}


def _judge_reply(request: dict) -> Reply:
    text = request["messages"][-1]["content"]
    found = [v for marker, v in VERDICTS.items() if marker in text]
    return Reply(json.dumps(found[0])) if len(found) == 1 else qa_responder(request)


@pytest.fixture
def kinds(tmp_path):
    """See :func:`tests.kinds_fixtures.kinds_project`."""
    store, project_id, ids = kinds_project(tmp_path)
    yield store, project_id, ids
    store.close()


def _scores(store, pair_id: int) -> tuple:
    p = store.get_pair(pair_id)
    return p.faithfulness, p.relevance, p.clarity, p.judge_reason


def _prompt_of(fake, marker: str) -> list[dict]:
    [messages] = [r["messages"] for r in fake.chat_requests() if marker in r["messages"][-1]["content"]]
    return messages


def test_every_kind_is_judged_with_its_own_prompt_and_scores_are_stored(kinds, fake_ollama):
    store, project_id, ids = kinds
    fake_ollama.responder = _judge_reply
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", concurrency=1)
    assert (summary.total, summary.judged, summary.sourceless, summary.failures) == (4, 4, 2, [])
    assert summary.sourceless_line() == ("2 judged items have no source document, so the judge scored them from "
                                         "its own knowledge (faithfulness = factually correct as far as it knows)")
    assert len(fake_ollama.chat_requests()) == 4  # one verdict per conversation, not one per turn
    assert _scores(store, ids["conversation"]) == (5, 4, 3, "All turns are backed.")
    assert _scores(store, ids["choice"]) == (4, 5, 5, "The marked option is right.")
    assert _scores(store, ids["model"]) == (3, 2, 4, "Correct as far as I know.")
    assert _scores(store, ids["examples"]) == (1, 3, 2, "Not a haiku.")

    system, user = _prompt_of(fake_ollama, "Assistant: Set OLLAMA_HOST")
    assert "Score the whole conversation" in system["content"]
    fence = re.match(r"<(source-[0-9a-f]{12})>\n", user["content"]).group(1)
    assert user["content"] == (
        f"<{fence}>\n{TEXT}\n</{fence}>\n\n<{fence}>\n"
        "User: Which port does Ollama use?\n\nAssistant: It serves on port 11434 by default.\n\n"
        "User: And how do I change it?\n\nAssistant: Set OLLAMA_HOST to another address.\n"
        f"</{fence}>")

    _, user = _prompt_of(fake_ollama, "B. 11434")
    assert user["content"].endswith(
        "Question: Which port does Ollama serve on by default?\n\nA. 8080\nB. 11434\nC. 5000\nD. 443\n"
        f"Answer: B. 11434\n</{re.match(r'<(source-[0-9a-f]{12})>', user['content']).group(1)}>")
    assert TEXT in user["content"]

    system, user = _prompt_of(fake_ollama, "capital of France")
    assert "to check them against, so judge them by what you know." in system["content"]
    assert "faithfulness: here it means factual correctness as far as you know" in system["content"]
    fence = re.search(r"<(source-[0-9a-f]{12})>", user["content"]).group(1)
    assert user["content"] == (
        "There is no source text: judge from your own knowledge.\n\n"
        f"<{fence}>\nQuestion: What is the capital of France?\nAnswer: Paris is the capital of France.\n</{fence}>")

    runs = store.list_runs(project_id, kind="judge")
    assert [(r.prompt_name, r.pairs_judged) for r in runs] == [("nosource_judge", 4)]  # the first item's template


def test_a_bad_conversation_verdict_is_re_asked_with_the_conversation_repair(kinds, fake_ollama):
    store, project_id, ids = kinds
    good = {"faithfulness": 2, "relevance": 4, "clarity": 4, "reason": "The second answer is not in the source."}
    fake_ollama.push(Reply('{"faithfulness": 7}'), Reply(json.dumps(good)))
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", concurrency=1,
                          pair_ids=[ids["conversation"]])
    assert (summary.judged, summary.sourceless) == (1, 0)
    assert _scores(store, ids["conversation"]) == (2, 4, 4, "The second answer is not in the source.")
    repair = fake_ollama.chat_requests()[1]["messages"][-1]["content"]
    assert repair.startswith("Your reply could not be used: the verdict is not valid: ")
    assert repair.endswith('Reply again with JSON only: one object for the whole conversation with the keys '
                           '"faithfulness", "relevance" and "clarity" (each a whole number from 1 to 5) and '
                           '"reason" (one line in English).')


def test_the_cli_says_how_many_items_were_judged_without_a_source(kinds, tmp_path, fake_ollama, capsys):
    store, _, _ = kinds
    store.close()
    fake_ollama.responder = _judge_reply
    code = main(["--data-dir", str(tmp_path), "judge", "--model", "qwen2.5:7b", "--host", fake_ollama.url])
    err = [line for line in capsys.readouterr().err.splitlines() if line and not line.startswith("[")]
    assert code == 0
    assert err[0].startswith("judged 4 of 4 pairs in ")
    assert err[1:] == ["2 judged items have no source document, so the judge scored them from its own knowledge "
                       "(faithfulness = factually correct as far as it knows)"]


@pytest.mark.parametrize("language", [*LANGUAGES, GENERIC])
def test_every_language_has_the_kind_templates(language):
    conversation = load_prompt("conversation_judge", language)
    assert conversation.variables == {"fence", "source", "turns"} | ({"language_name"} if language == GENERIC else set())
    assert conversation.variables_of("user_turn") == conversation.variables_of("assistant_turn") == {"content"}
    assert load_prompt("conversation_judge_repair", language).variables_of("user") >= {"problem"}
    nosource = load_prompt("nosource_judge", language)
    assert nosource.variables_of("user") == {"fence", "question", "answer"}
    assert nosource.variables_of("conversation") == {"fence", "turns"}
    assert nosource.variables_of("user_turn") == {"content"}


def test_traditional_chinese_turns_are_labelled_in_traditional_characters(kinds, fake_ollama):
    store, project_id, ids = kinds
    judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", concurrency=1,
                pair_ids=[ids["conversation"], ids["model"]], language="zh-TW")
    texts = [r["messages"][-1]["content"] for r in fake_ollama.chat_requests()]
    systems = [r["messages"][0]["content"] for r in fake_ollama.chat_requests()]
    assert "使用者：Which port does Ollama use?\n\n助理：It serves on port 11434 by default." in texts[1]
    assert texts[0].startswith("沒有來源文字：請依你自己的知識評斷。")
    assert "就你所知的事實正確性" in systems[0] and "為整段對話評分" in systems[1]
