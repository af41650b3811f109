"""JSON replies from servers that cannot be held to a schema: the instruction that asks for the
JSON in words, and the repair of what comes back.

Used by :class:`~dataset_gen.backends.openai_compat.OpenAIBackend` when a server rejects
``response_format`` of type ``json_schema`` (then ``json_object`` gets the instruction too, since
OpenAI requires the word "JSON" in the messages for it) or both kinds.
"""

from __future__ import annotations

import json
import re

__all__ = ["repair_json", "with_schema_instruction"]

_FENCE = re.compile(r"```[\w-]*\s*\n(.*?)\n?```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def with_schema_instruction(messages: list[dict], schema: dict) -> list[dict]:
    """``messages`` with the last user message asking for one JSON value following ``schema``
    (compact JSON). A conversation without a user message gets one at the end. The input list
    and its dicts are not changed."""
    instruction = ("Reply with one JSON value only, no other text and no code fence. It must follow "
                   "this JSON Schema: " + json.dumps(schema, ensure_ascii=False, separators=(",", ":")))
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message.get('content') or ''}\n\n{instruction}"
            return out
    return [*out, {"role": "user", "content": instruction}]


def repair_json(content: str) -> str:
    """The JSON value in a reply written without structured output, as compact JSON text, or
    ``content`` unchanged when no JSON value can be read from it.

    Repairs: the body of a Markdown code fence is taken; text before the first ``{`` or ``[``
    and after the value is dropped; commas before a closing ``}`` or ``]`` are removed. Non-ASCII
    characters are kept as they are.
    """
    text = content.strip()
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1).strip()
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return content
    decoder = json.JSONDecoder()
    for candidate in (text[start:], _TRAILING_COMMA.sub(r"\1", text[start:])):
        try:
            value, _ = decoder.raw_decode(candidate)
        except json.JSONDecodeError:
            continue
        return json.dumps(value, ensure_ascii=False)
    return content
