"""Responders for :class:`tests.fake_ollama.FakeOllama` that answer like a model too small for the
job: valid JSON of the asked shape whose pairs are junk in one way each. Each takes the
well-behaved :func:`tests.fake_ollama.qa_responder` reply and spoils every pair; judge requests and
everything else are answered as that responder would.

- ``placeholder``: every field is a placeholder (``<question>``, ``...``), as SmolLM2-135M replies.
- ``echo``: the question is the first line of the prompt's system message.
- ``wrong_language``: question and answer in English whatever the document's language.
- ``trivial_evidence``: the evidence is the first two words of the quoted sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.fake_ollama import Reply, qa_responder

KINDS = ("placeholder", "echo", "wrong_language", "trivial_evidence")


def _spoil(kind: str, pair: dict, request: dict) -> dict:
    pair = dict(pair)
    if kind == "placeholder":
        return {key: "<question>" if key == "question" else "..." for key in pair}
    if kind == "echo":
        system = next((str(m.get("content") or "") for m in request.get("messages") or []
                       if m.get("role") == "system"), "")
        pair["question"] = next((line.strip() for line in system.splitlines() if len(line.strip()) >= 20), system)
    elif kind == "wrong_language":
        pair["question"] = "What does this part of the text explain about the program?"
        pair["answer"] = "It explains how the program is installed and started on a computer."
    elif kind == "trivial_evidence":
        pair["evidence"] = " ".join(pair["evidence"].split()[:2])[:4]
    return pair


def responder(kind: str) -> Callable[[dict], Reply]:
    """A responder whose generation replies are junk of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose from {', '.join(KINDS)}")

    def answer(request: dict) -> Reply:
        reply = qa_responder(request)
        try:
            data = json.loads(reply.content)
        except ValueError:
            return reply
        if not isinstance(data, dict) or "pairs" not in data:
            return reply
        data["pairs"] = [_spoil(kind, pair, request) for pair in data["pairs"]]
        return Reply(json.dumps(data, ensure_ascii=False))

    return answer
