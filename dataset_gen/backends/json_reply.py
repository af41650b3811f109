"""JSON replies from servers that cannot be held to a schema: the instruction that asks for the
JSON in words, the repair of what comes back, and reading a reply's first JSON object.

Used by :class:`~dataset_gen.backends.openai_compat.OpenAIBackend` when a server rejects
``response_format`` of type ``json_schema`` (then ``json_object`` gets the instruction too, since
OpenAI requires the word "JSON" in the messages for it) or both kinds.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["first_json_value", "first_object", "json_problem", "repair_json", "with_schema_instruction"]

ModelT = TypeVar("ModelT", bound=BaseModel)

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


def json_problem(error: json.JSONDecodeError) -> str:
    """The decoder's message without a trailing "at" (``"Unterminated string starting at"``), so
    a caller can add its own "at line 3" without saying "at at"."""
    return error.msg.removesuffix(" at")


def first_json_value(text: str) -> object:
    """The JSON value a QA reply holds: the value at the first ``{`` or ``[`` (whatever its shape),
    or, when that does not decode, the first later object with a ``"pairs"`` key that does; each
    start is also tried with commas before a closing bracket removed.

    A reply that opens an object and starts again (an opening brace, blank lines, then the whole
    ``{"pairs": …}``, which thinking models write when structured output and reasoning meet) is
    read from the second brace; a pair object inside a broken list is never taken for the reply.

    :raises ValueError: no JSON value starts anywhere in ``text`` ("the reply held no JSON"), or
        none decodes ("the JSON is invalid (<reason> at character <n>)", the first error).
    """
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch in "{["]
    if not starts:
        raise ValueError("the reply held no JSON")
    first_error: json.JSONDecodeError | None = None
    for n, start in enumerate(starts[:200]):  # far more openings than any repair needs
        for candidate in (text[start:], _TRAILING_COMMA.sub(r"\1", text[start:])):
            try:
                value, _ = decoder.raw_decode(candidate)
            except json.JSONDecodeError as exc:
                first_error = first_error or exc
                continue
            # The first value is taken whatever its shape (its shape error is the one to report);
            # a later one only when it is the reply's object, not a pair inside a broken list.
            if n == 0 or (isinstance(value, dict) and "pairs" in value):
                return value
    assert first_error is not None
    raise ValueError(f"the JSON is invalid ({json_problem(first_error)} at character {first_error.pos})")


def first_object(content: str, model: type[ModelT], what: str) -> ModelT:
    """``model`` validated from the first JSON object in ``content`` (a judge's verdict, a score).

    :raises ValueError: no ``{`` in ``content`` ("the reply held no JSON"), or the object there does
        not decode or fit ``model`` ("the <what> is not valid: <first line of the reason>").
    """
    start = content.find("{")
    if start < 0:
        raise ValueError("the reply held no JSON")
    try:
        data, _ = json.JSONDecoder().raw_decode(content[start:])
        return model.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"the {what} is not valid: {str(exc).splitlines()[0]}") from None
