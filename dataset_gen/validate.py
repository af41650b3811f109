"""Check export records against what LLaMA-Factory's loader accepts.

The loader does not fail on a bad row: it logs a warning and skips it, and when every row is skipped
training stops with "Cannot find valid samples". :func:`validate` finds those rows before they are
written, with a reason a person can act on.

Rules (LLaMA-Factory ``data/README.md`` and its converters):

- Alpaca: ``instruction`` and ``output`` are non-empty strings; ``input`` and ``system``, when
  present, are strings; ``history``, when present, is a list of ``[user, assistant]`` pairs of
  non-empty strings (the converter unpacks each entry into two turns before the instruction).
- ShareGPT (``conversations`` of ``from``/``value``) and OpenAI messages (``messages`` of
  ``role``/``content``): an optional leading system turn, then turns alternating user/assistant
  starting with the user, an even number of them (ending on the assistant), every value a
  non-empty string; ``system``, when present, is a string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any


@dataclass(frozen=True)
class Problem:
    """Record number ``index`` (0-based, in the list given to :func:`validate`) and why it would be
    dropped or is wrong."""

    index: int
    reason: str


@dataclass(frozen=True)
class _Turns:
    """How one conversational format names its list, keys and roles."""

    key: str
    role_key: str
    content_key: str
    user: tuple[str, ...]
    assistant: tuple[str, ...]
    system: str


# LLaMA-Factory's ShareGPT defaults also accept observation/function_call turns in the user and
# assistant positions; our OpenAI-style registry entry maps only user/assistant/system.
_SHAREGPT = _Turns("conversations", "from", "value", ("human", "observation"),
                   ("gpt", "function_call"), "system")
_OPENAI = _Turns("messages", "role", "content", ("user",), ("assistant",), "system")


def validate(format: str, records: list[dict]) -> list[Problem]:
    """Every problem in ``records`` for export format ``format``, in record order.

    A record can have several problems. An empty list means LLaMA-Factory loads every record.

    :raises ValueError: ``format`` is not ``"alpaca"``, ``"sharegpt"`` or ``"openai"``.
    """
    checks: dict[str, Callable[[dict], list[str]]] = {
        "alpaca": _check_alpaca,
        "sharegpt": partial(_check_turns, spec=_SHAREGPT),
        "openai": partial(_check_turns, spec=_OPENAI),
    }
    if format not in checks:
        raise ValueError(f"Unknown export format {format!r}: expected alpaca, sharegpt or openai")
    check = checks[format]
    problems: list[Problem] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append(Problem(index, "record is not a JSON object"))
            continue
        problems.extend(Problem(index, reason) for reason in check(record))
    return problems


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_system(record: dict) -> list[str]:
    if "system" in record and not isinstance(record["system"], str):
        return ["'system' must be a string"]
    return []


def _check_alpaca(record: dict) -> list[str]:
    reasons = []
    if not _nonempty(record.get("instruction")):
        reasons.append("'instruction' must be a non-empty string")
    if "input" in record and not isinstance(record["input"], str):
        reasons.append("'input' must be a string")
    if not _nonempty(record.get("output")):
        reasons.append("'output' must be a non-empty string")
    return reasons + _check_history(record.get("history", [])) + _check_system(record)


def _check_history(history: Any) -> list[str]:
    if not isinstance(history, list):
        return ["'history' must be a list of [user, assistant] pairs"]
    for number, entry in enumerate(history, 1):
        if not (isinstance(entry, list) and len(entry) == 2 and all(_nonempty(text) for text in entry)):
            return [f"history entry {number} must be [user, assistant], two non-empty strings"]
    return []


def _check_turns(record: dict, spec: _Turns) -> list[str]:
    turns = record.get(spec.key)
    if not isinstance(turns, list) or not turns:
        return [f"'{spec.key}' must be a non-empty list"] + _check_system(record)
    reasons = []
    if not all(isinstance(t, dict) and spec.role_key in t and spec.content_key in t for t in turns):
        reasons.append(
            f"every turn of '{spec.key}' must be an object with '{spec.role_key}' and "
            f"'{spec.content_key}'"
        )
        return reasons + _check_system(record)

    body = turns
    if turns[0][spec.role_key] == spec.system:
        if not isinstance(turns[0][spec.content_key], str):
            reasons.append("turn 1: the system text must be a string")
        body = turns[1:]
    first = len(turns) - len(body) + 1  # 1-based number of the first non-system turn
    known = (*spec.user, *spec.assistant)
    for offset, turn in enumerate(body):
        role = turn[spec.role_key]
        number = first + offset
        expected = spec.assistant if offset % 2 else spec.user
        if role == spec.system:
            reasons.append(f"turn {number}: '{spec.system}' is allowed only as the first turn")
            break
        if role not in known:
            reasons.append(f"turn {number}: unknown role {role!r}")
            break
        if role not in expected:
            reasons.append(f"turn {number}: expected '{expected[0]}', got {role!r}")
            break
    for offset, turn in enumerate(body):
        if not _nonempty(turn[spec.content_key]):
            reasons.append(
                f"turn {first + offset}: '{spec.content_key}' must be a non-empty string"
            )
    if not body:
        reasons.append(f"'{spec.key}' has no turns besides the system turn")
    elif len(body) % 2:
        reasons.append(
            f"odd number of turns ({len(body)}): the last turn must be '{spec.assistant[0]}'"
        )
    return reasons + _check_system(record)
