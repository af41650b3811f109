"""Multi-turn conversations grounded in a chunk: the reply's shape, its parsing and the checks by
code on every turn.

A conversation of ``N`` exchanges is asked for in one model call (:mod:`dataset_gen.conversation_gen`);
the reply is ``{"turns": [{"user", "assistant", "evidence"}, ...]}`` with exactly ``N`` exchanges.
Stored, it is ``2N`` turns: user turns at even positions, assistant turns at odd ones.

Every assistant turn is checked as a QA pair is (:func:`dataset_gen.checks.check_reply`, the user
turn before it as the question, so a follow-up repeating an earlier question is ``repeated``), and
its evidence is looked up in the source text by :func:`dataset_gen.grounding.is_grounded`. A
follow-up may lean on earlier turns ("And how do I remove it?"): pronouns and ellipsis are no
problem, but the phrases of :data:`dataset_gen.checks.NOT_SELF_CONTAINED` still are. The
conversation is grounded only when every assistant turn is; its flags are every turn's codes, in
the order of :data:`dataset_gen.checks.REASONS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, ValidationError, field_validator

from .backends.json_reply import first_json_value
from .checks import REASONS, check_reply
from .grounding import is_grounded
from .language import language_matches, script_problem
from .models import Turn

MIN_TURNS, MAX_TURNS = 1, 10
"""Fewest and most exchanges (a user turn and the assistant's reply) a conversation may have."""

ROLES = ("user", "assistant")


class _Exchange(BaseModel):
    user: str = Field(min_length=1)
    assistant: str = Field(min_length=1)
    evidence: str = ""

    @field_validator("user", "assistant", "evidence", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class _Reply(BaseModel):
    turns: list[_Exchange]


@dataclass(frozen=True)
class Conversation:
    """A generated conversation before it is stored.

    ``turns`` are its ``2N`` :class:`dataset_gen.models.Turn` (checked: evidence, grounding,
    flags); ``grounded`` is ``True`` when every assistant turn is; ``flags`` the union of the turns'
    codes; ``language_ok`` whether all of its text is in ``language``; ``context_chunk_ids`` the
    neighbouring chunks it rests on besides its own; ``scenario`` and ``roles`` (``(user,
    assistant)`` descriptions, ``()`` for none) what was asked for."""

    turns: tuple[Turn, ...]
    grounded: bool
    flags: tuple[str, ...]
    language_ok: bool
    language: str
    context_chunk_ids: tuple[int, ...] = ()
    scenario: str = ""
    roles: tuple[str, ...] = ()


def reply_schema(n: int) -> dict:
    """JSON schema of the reply (Ollama ``format``): ``{"turns": [...]}`` with exactly ``n``
    objects of non-empty ``user``, ``assistant`` and ``evidence`` strings (evidence at least 8
    characters, as a pair's)."""
    item = {
        "type": "object",
        "properties": {"user": {"type": "string", "minLength": 2}, "assistant": {"type": "string", "minLength": 1},
                       "evidence": {"type": "string", "minLength": 8}},
        "required": ["user", "assistant", "evidence"],
    }
    return {"type": "object", "properties": {"turns": {"type": "array", "items": item, "minItems": n, "maxItems": n}},
            "required": ["turns"]}


def parse_reply(content: str) -> list[tuple[str, str, str]]:
    """``[(user, assistant, evidence), ...]`` from a reply: the whole reply as JSON, or the first
    JSON value in it (:func:`dataset_gen.backends.json_reply.first_json_value`), inside a Markdown
    code fence or not; a bare list is read as the ``turns``.

    :raises ValueError: empty, no JSON, or not the shape of :func:`reply_schema` (a short reason).
    """
    text = content.strip()
    if not text:
        raise ValueError("the reply was empty")
    fence = re.match(r"```[\w-]*\s*\n(.*?)\n?```\s*$", text, re.DOTALL)
    data = first_json_value(fence.group(1).strip() if fence else text)
    if isinstance(data, list):
        data = {"turns": data}
    try:
        exchanges = _Reply.model_validate(data).turns
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"the JSON does not match the required shape ({where}: {first['msg']})") from None
    return [(e.user, e.assistant, e.evidence) for e in exchanges]


def problems(exchanges: Sequence[tuple[str, str, str]], n: int, language: str) -> list[str]:
    """What makes a parsed reply unusable, as short phrases for the re-ask (``[]``: usable): fewer
    than ``n`` exchanges, an assistant turn without evidence, or text not in ``language``'s script
    (:func:`dataset_gen.language.script_problem`)."""
    found = []
    if len(exchanges) < n:
        found.append(f"it has {len(exchanges)} exchanges, not {n}")
    for i, (_, _, evidence) in enumerate(exchanges[:n], 1):
        if not evidence:
            found.append(f"assistant turn {i} has no evidence; each needs a quote from the text")
    script = script_problem(" ".join(f"{u} {a}" for u, a, _ in exchanges[:n]), language)
    if script:
        found.append(f"it is {script}")
    return found


def check_turns(contents: Sequence[str], evidences: Sequence[str], sources: Sequence[str], language: str,
                heading_path: Sequence[str] = ()) -> tuple[list[Turn], bool, tuple[str, ...], bool]:
    """Check a conversation's turns by code: ``(turns, grounded, flags, language_ok)``.

    ``contents`` are the ``2N`` turn texts in order (user first); ``evidences`` one quote per
    assistant turn (``N``); ``sources`` the texts it rests on (its chunk, then neighbours). Each
    assistant turn gets :func:`dataset_gen.checks.check_reply`'s codes with the user turn before it
    as the question, and is grounded when its evidence is in any source. The edit state of the
    returned turns is unset (``edited`` ``False``).

    :raises ValueError: ``contents`` is not ``2 * len(evidences)`` long.
    """
    if len(contents) != 2 * len(evidences):
        raise ValueError(f"{len(contents)} turns do not make {len(evidences)} exchanges")
    joined = "\n\n".join(sources)
    exchanges = [(contents[2 * i], contents[2 * i + 1], evidences[i]) for i in range(len(evidences))]
    codes = check_reply(exchanges, joined, language, heading_path=heading_path)
    turns: list[Turn] = []
    for i, ((user, assistant, evidence), found) in enumerate(zip(exchanges, codes, strict=True)):
        turns.append(Turn(2 * i, "user", user))
        turns.append(Turn(2 * i + 1, "assistant", assistant, evidence,
                          any(is_grounded(evidence, text) for text in sources), flags=found))
    every = {code for found in codes for code in found}
    flags = tuple(code for code in REASONS if code in every)
    grounded = all(t.grounded for t in turns)
    language_ok = "wrong_language" not in flags and language_matches(" ".join(contents), language)
    return turns, grounded, flags, language_ok


def parse_roles(text: str) -> tuple[str, ...]:
    """``"a new employee, the IT helpdesk"`` → ``("a new employee", "the IT helpdesk")``; ``""``
    → ``()``; the full-width comma ``，`` separates as ``,`` does.

    :raises ValueError: not exactly two non-empty names separated by a comma.
    """
    if not text.strip():
        return ()
    names = tuple(part.strip() for part in text.replace("\uff0c", ",").split(","))  # "，" as typed in Chinese
    if len(names) != 2 or not all(names):
        raise ValueError(f"Roles must be two names separated by a comma, USER,ASSISTANT; got {text!r}")
    return names
