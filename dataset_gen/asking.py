"""One model call of a run that has no source chunk (distillation, expansion, tagging): render a
template, ask for JSON, parse it, re-ask once with ``distill_repair`` when the reply is unusable,
and add every call's token counts to the run.

The templates are ``dataset_gen/prompts/<name>.<language>.txt`` (a project's overrides win, and a
language without its own templates gets ``<name>.any.txt`` naming it: :func:`load_prompt`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .backends.json_reply import first_json_value
from .context_window import estimate_tokens, plan_num_ctx
from .errors import InvalidModelOutputError
from .models import SamplingOptions
from .prompts import PromptTemplate, load_prompt

T = TypeVar("T")

REPAIR_PROMPT = "distill_repair"
"""The re-ask after an unusable reply; its ``user`` section takes ``{{problem}}`` and ``{{shape}}``."""


class Cancelled(Exception):
    """The person stopped the run (its ``cancel`` event was set) between two calls."""


class Asker:
    """Calls of one run to ``model`` on ``backend``, in ``language``, each recorded on run ``run_id``
    of ``store`` (:meth:`Store.add_run_usage`). ``calls`` counts every call made (re-asks
    included); ``prompt_tokens``/``completion_tokens`` are the server's counts summed.
    ``max_reasks`` re-asks follow an unusable reply (default 1)."""

    def __init__(self, store, run_id: int, backend, model: str, language: str, *,
                 overrides: dict[str, str] | None = None, options: SamplingOptions | None = None,
                 cancel: threading.Event | None = None, max_reasks: int = 1):
        self.store, self.run_id, self.backend, self.model = store, run_id, backend, model
        self.language, self.overrides = language, overrides or {}
        self.options = options or SamplingOptions()
        self.cancel = cancel or threading.Event()
        self.max_reasks = max_reasks
        self.calls = self.prompt_tokens = self.completion_tokens = 0
        self._lock = threading.Lock()

    def template(self, name: str) -> PromptTemplate:
        """Template ``name`` in the run's language. :raises PromptError: missing or broken."""
        return load_prompt(name, self.language, self.overrides)

    def ask(self, name: str, values: dict[str, object], schema: dict, parse: Callable[[object], T],
            shape: str, *, output_tokens: int = 800) -> T:
        """Render template ``name`` with ``values``, send it with the JSON ``schema`` and return
        ``parse(the reply's JSON value)``. ``parse`` raises ``ValueError`` (one line) for a value
        it cannot use; the model is then re-asked with that line and ``shape`` (the JSON shape in
        words). ``output_tokens`` sizes the context window with the prompt (tokens).

        :raises Cancelled: ``cancel`` was set before a call.
        :raises InvalidModelOutputError: still unusable after the re-asks (names the template).
        :raises BackendError: the server failed (unreachable, model missing).
        :raises PromptError: the template is missing or does not render.
        """
        filled: dict[str, Any] = dict(values)
        messages = self.template(name).render(**filled).messages
        repair = self.template(REPAIR_PROMPT)
        problem, raw = "", ""
        for _ in range(self.max_reasks + 1):
            if self.cancel.is_set():
                raise Cancelled()
            tokens = sum(estimate_tokens(str(m["content"])) for m in messages)
            reply = self.backend.chat(self.model, messages, schema=schema, options=self.options,
                                      context_tokens=plan_num_ctx(tokens, output_tokens))
            with self._lock:
                self.calls += 1
                self.prompt_tokens += reply.prompt_tokens
                self.completion_tokens += reply.completion_tokens
            self.store.add_run_usage(self.run_id, reply.prompt_tokens, reply.completion_tokens, reply.duration_s)
            raw = reply.content
            try:
                return parse(first_json_value(reply.content))
            except ValueError as exc:
                problem = str(exc).splitlines()[0] if str(exc) else "the reply could not be read"
            messages = [*messages, {"role": "assistant", "content": reply.content},
                        {"role": "user", "content": repair.render(problem=problem, shape=shape).messages[-1]["content"]}]
        raise InvalidModelOutputError(f"The model's reply to {name} was not usable: {problem}", raw)


def strings(value: object, key: str, *, want: int | None = None) -> list[str]:
    """The non-blank strings of list ``value[key]`` (whitespace runs made one space, in order,
    each once). ``want`` keeps the first ``want``.

    :raises ValueError: ``value`` is no object with that list, or it holds no string.
    """
    items = value.get(key) if isinstance(value, dict) else None
    if not isinstance(items, list):
        raise ValueError(f'the reply has no "{key}" list')
    found = list(dict.fromkeys(" ".join(x.split()) for x in items if isinstance(x, str) and x.strip()))
    if not found:
        raise ValueError(f'the "{key}" list holds no text')
    return found[:want] if want is not None else found


def compact(value: object) -> str:
    """``value`` as one line of JSON with non-ASCII characters kept (for prompts)."""
    return json.dumps(value, ensure_ascii=False)
