"""Reasoning that models write inline, as ``<think>…</think>`` blocks (DeepSeek-R1, qwen3 and
their templates), split from the answer. Used by every backend."""

from __future__ import annotations

import re

__all__ = ["strip_think"]


_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def strip_think(text: str) -> tuple[str, str]:
    """Split a reply into ``(content, thinking)`` by removing ``<think>…</think>`` blocks.

    * Every closed ``<think>…</think>`` block is removed from the content; the texts inside are
      joined (blank line between them) as the thinking.
    * A ``<think>`` with no closing tag (the reply was cut, e.g. ``done_reason == "length"``)
      makes everything after it thinking.
    * A ``</think>`` with no opening tag (templates that end the prompt with ``<think>``, as some
      qwen3 and deepseek-r1 ones do) makes everything before it thinking.

    Text without any tag is returned unchanged with thinking ``""``; otherwise both parts are
    stripped of surrounding whitespace. Tags are matched case-insensitively.
    """
    if "<" not in text or not (_THINK_OPEN.search(text) or _THINK_CLOSE.search(text)):
        return text, ""
    thoughts: list[str] = []

    # A closing tag before any opening tag: the opening tag was part of the prompt.
    first_close = _THINK_CLOSE.search(text)
    first_open = _THINK_OPEN.search(text)
    if first_close and (first_open is None or first_close.start() < first_open.start()):
        thoughts.append(text[: first_close.start()].strip())
        text = text[first_close.end() :]

    def take(match: re.Match) -> str:
        thoughts.append(match.group(1).strip())
        return ""

    text = _THINK_BLOCK.sub(take, text)

    # An opening tag left without its closing tag: the reply stopped while thinking.
    dangling = _THINK_OPEN.search(text)
    if dangling:
        thoughts.append(text[dangling.end() :].strip())
        text = text[: dangling.start()]

    # Stray closing tags left over carry nothing.
    text = _THINK_CLOSE.sub("", text)
    return text.strip(), "\n\n".join(t for t in thoughts if t)


