"""How many tokens a prompt and its reply take, and whether they fit the model's context window.

Token counts here are estimates from characters (no tokenizer is loaded): :func:`estimate_tokens`
is deliberately high (it sizes ``num_ctx`` and decides whether a prompt fits before it is sent);
the real count comes back in each reply (Ollama's ``prompt_eval_count``) and is checked with
:func:`was_truncated`.

Ollama does not refuse a prompt longer than ``num_ctx``: its runner keeps the first ``num_keep``
tokens and the last ones, so that exactly ``num_ctx`` tokens are evaluated, and logs "truncating
input prompt" (runner/ollamarunner/runner.go). The reply then reports ``prompt_eval_count ==
num_ctx`` and is about a prompt the model never saw whole.
"""

from __future__ import annotations

import math
import re

from .errors import BackendError

__all__ = [
    "MIN_REPLY_TOKENS_PER_PAIR",
    "ContextWindowError",
    "estimate_tokens",
    "messages_tokens",
    "plan_num_ctx",
    "reply_room",
    "was_truncated",
]

MIN_REPLY_TOKENS_PER_PAIR = 100
"""The fewest reply tokens per requested pair worth asking for: a question, a short answer, a
quote and the JSON around them. A window that leaves less than this fails the chunk before sending."""

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a chat template adds around each message (role markers, separators), estimated high."""

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


class ContextWindowError(BackendError):
    """A prompt and its reply do not fit the model's context window (found before sending), or
    the server cut the prompt to fit (found from the reply's prompt token count)."""


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate: one per CJK character, one per 3 other characters.

    Used to size ``num_ctx`` and to decide whether a prompt fits; real counts come back from the server.
    """
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


def messages_tokens(messages: list[dict]) -> int:
    """:func:`estimate_tokens` of every message's content plus :data:`MESSAGE_OVERHEAD_TOKENS` each."""
    return sum(estimate_tokens(str(m.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def plan_num_ctx(prompt_tokens: int, output_tokens: int, model_limit: int | None = None) -> int:
    """Context window (tokens) for prompt plus reply, rounded up to 1024, at least 2048.

    Ollama silently cuts prompts longer than its default window (2048–4096 tokens depending on the
    version and memory, docs/context-length.mdx), so the window is always set. One value is used
    for a whole run, because a new ``num_ctx`` makes Ollama reload the model. Capped at the model's
    own ``context_length`` when known (``/api/show`` ``model_info["<arch>.context_length"]``).
    """
    needed = prompt_tokens + output_tokens + 256
    size = max(2048, math.ceil(needed / 1024) * 1024)
    return min(size, model_limit) if model_limit else size


def reply_room(prompt_tokens: int, context_tokens: int) -> int:
    """Tokens the window of ``context_tokens`` leaves for a reply after ``prompt_tokens`` (0 when none)."""
    return max(0, context_tokens - prompt_tokens)


def was_truncated(prompt_eval_count: int, context_tokens: int | None) -> bool:
    """Whether the server cut the prompt to fit the window: it evaluated the whole window
    (``prompt_eval_count >= context_tokens``), which a prompt that fits never does because the
    window is sized to leave room for the reply. A count of 0 (older servers leave it out for
    cached prompts, ollama#2068) or an unknown window says nothing."""
    return bool(context_tokens) and prompt_eval_count > 0 and prompt_eval_count >= int(context_tokens or 0)
