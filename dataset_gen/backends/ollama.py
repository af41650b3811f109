"""Talk to a local Ollama server through the official ``ollama`` Python client.

Wire facts used here (Ollama docs/api.md, api/types.go, server/routes.go; client ``ollama`` 0.6.x):

* ``POST /api/chat`` with ``"stream": false`` answers one JSON object
  ``{"message": {"role", "content", "thinking"?}, "done", "done_reason"?, "total_duration"?,
  "prompt_eval_count"?, "eval_count"?, ...}``. Durations are in nanoseconds; counts are tokens.
* Errors are ``{"error": "<text>"}`` with the real HTTP status: 404 ``model 'x' not found``,
  400 for a bad request, 500 for a server failure, 503 ``server busy, please try again.  maximum
  pending requests exceeded`` when the queue (``OLLAMA_MAX_QUEUE``) is full.
* The client raises ``ollama.ResponseError`` (``.status_code``, ``.error``) for a status >= 400,
  the builtin ``ConnectionError`` when nothing listens, and lets ``httpx`` errors through for
  everything else (``httpx.ReadTimeout``, ``httpx.RemoteProtocolError`` for a dropped connection).
  A body that is not an Ollama reply raises ``json.JSONDecodeError`` or a pydantic
  ``ValidationError``.
* Thinking models (``capabilities`` contains ``"thinking"``) put their reasoning in
  ``message.thinking`` on current servers; older servers, and some models with ``think`` off,
  leave it inline in ``content`` as ``<think>…</think>`` (docs/capabilities/thinking.mdx).

Every failure leaves this module as a :class:`~dataset_gen.errors.BackendError` (or one of its
subclasses) whose message is one line naming the host and, where there is one, the model.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
import ollama
import pydantic
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..config import DEFAULT_OLLAMA_HOST, normalise_host
from ..errors import BackendError, BackendUnreachableError
from ..models import ChatReply, ModelInfo, SamplingOptions
from .base import ModelDetails
from .ollama_errors import is_retryable, one_line, server_error_in, translate
from .thinking import strip_think

__all__ = ["OllamaBackend", "strip_think"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest wait between two attempts, in seconds, whatever ``backoff_s`` and the attempt number.
MAX_BACKOFF_S = 60.0

def _context_length(info: Mapping[str, Any]) -> int | None:
    """``model_info["<arch>.context_length"]`` (``<arch>`` from ``general.architecture``), else
    the first other ``*.context_length`` key; ``None`` when there is none."""
    arch = info.get("general.architecture")
    keys = [f"{arch}.context_length"] if arch else []
    keys += sorted(k for k in info if k.endswith(".context_length") and k not in keys)
    for key in keys:
        value = info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


# --- the backend ----------------------------------------------------------------------------------


class OllamaBackend:
    """A model server reached over Ollama's REST API.

    ``host`` is normalised with :func:`dataset_gen.config.normalise_host`
    (``"localhost"`` → ``"http://localhost:11434"``) and is named in every error message.
    ``connect_timeout_s`` bounds opening a connection; ``read_timeout_s`` bounds the wait for the
    reply (a whole non-streamed answer, so it must cover the model's full generation time).
    A failed call is tried again up to ``max_retries`` times, waiting ``backoff_s * 2**n`` seconds
    before retry ``n`` (n = 0, 1, …; at most :data:`MAX_BACKOFF_S`), for: connection refused or
    dropped, read timeouts, HTTP 5xx (including 503 "server busy") and an error the server reports
    after status 200. HTTP 4xx (404 model not found, 400 bad request) is never retried.

    ``think`` (``None``: decided per request, see :meth:`chat`) and
    ``keep_alive`` (a duration such as ``"5m"``; ``None``: the server's default) are sent with
    every chat request; they are Ollama's own options, so they live here and not in the core.

    The instance holds one ``httpx`` connection pool and may be shared between threads.
    """

    kind = "ollama"

    def __init__(
        self,
        host: str = DEFAULT_OLLAMA_HOST,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 600.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        think: bool | None = None,
        keep_alive: str | None = None,
    ):
        self.host: str = normalise_host(host)
        self.think = think
        self.keep_alive = keep_alive
        self.connect_timeout_s = float(connect_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = max(0.0, float(backoff_s))
        self._capabilities: dict[str, tuple[str, ...] | None] = {}
        self._capabilities_lock = threading.Lock()
        self._client = ollama.Client(
            host=self.host,
            timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
        )

    def __repr__(self) -> str:
        return f"OllamaBackend(host={self.host!r})"

    # -- lifecycle --

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> OllamaBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- API --

    def version(self) -> str:
        """The server's version string from ``GET /api/version``, e.g. ``"0.12.6"``.

        Raises :class:`BackendUnreachableError` when nothing answers at ``host`` and
        :class:`BackendError` when the answer is not Ollama's.
        """

        def call() -> str:
            # The client has no public method for /api/version; _request_raw is the same
            # request path (and error mapping) its other methods use.
            body = self._client._request_raw("GET", "/api/version").json()
            version = body.get("version") if isinstance(body, dict) else None
            if not isinstance(version, str):
                raise ValueError(f"no version in {one_line(body, 120)}")
            return version

        return self._call("GET /api/version", call)

    def health(self) -> str:
        """``"Ollama <version>"`` from ``GET /api/version``: asked before any work, so that a
        stopped server or a host that is not Ollama fails fast, in one line.

        :raises BackendUnreachableError: nothing answers at ``host``.
        :raises BackendError: something answers, but not like Ollama.
        """
        try:
            return f"Ollama {self.version()}"
        except BackendUnreachableError:
            raise
        except BackendError as exc:
            raise BackendError(f"{self.host} does not answer like an Ollama server ({exc}); "
                               "is the host right? Ollama listens on port 11434 by default") from None

    def list_models(self) -> list[ModelInfo]:
        """The models the server has (``GET /api/tags``), sorted by name.

        ``ModelInfo.size`` is in bytes; ``parameter_size`` (e.g. ``"7.6B"``),
        ``quantization_level`` (e.g. ``"Q4_K_M"``) and ``family`` come from ``details`` and are
        ``""`` when the server sends none. Raises :class:`BackendUnreachableError` or
        :class:`BackendError`.
        """
        response = self._call("GET /api/tags", self._client.list)
        models = []
        for m in response.models:
            details = m.details
            models.append(
                ModelInfo(
                    name=m.model or "",
                    size=int(m.size or 0),
                    parameter_size=(details.parameter_size or "") if details else "",
                    quantization_level=(details.quantization_level or "") if details else "",
                    family=(details.family or "") if details else "",
                )
            )
        return sorted(models, key=lambda info: info.name)

    def model_info(self, model: str) -> ModelDetails:
        """The model's context length (:meth:`context_length`) and its ``capabilities`` from
        ``POST /api/show`` (e.g. ``("completion", "thinking")``). Raises like :meth:`context_length`."""
        self._require_model(model)
        response = self._call("POST /api/show", lambda: self._client.show(model), model=model)
        return ModelDetails(model, _context_length(response.modelinfo or {}),
                            tuple(str(c) for c in (response.capabilities or ())))

    def embed(self, model: str, texts: list[str], *, batch: int = 64) -> list[list[float]]:
        """Embedding vectors of ``texts`` from ``POST /api/embed`` (Ollama docs/api.md "Generate
        embeddings"), in order, ``batch`` texts per request. Raises like :meth:`chat`."""
        self._require_model(model)
        vectors: list[list[float]] = []
        for first in range(0, len(texts), batch):
            part = texts[first:first + batch]
            reply = self._call("POST /api/embed", functools.partial(self._client.embed, model=model, input=part), model=model)
            vectors.extend([list(map(float, v)) for v in reply.embeddings])
        return vectors

    def context_length(self, model: str) -> int | None:
        """The context window the model was trained for, in tokens, or ``None`` if unknown.

        Read from ``POST /api/show``: ``model_info["<arch>.context_length"]`` where ``<arch>`` is
        ``model_info["general.architecture"]``. This is the model's maximum, not the ``num_ctx``
        the server will use by default (see docs/context-length.mdx). Raises
        :class:`ModelNotFoundError` when the model is not pulled.
        """
        return self.model_info(model).context_length

    def chat(
        self,
        model: str,
        messages: list[dict],
        *,
        schema: dict | None = None,
        options: SamplingOptions | None = None,
        context_tokens: int | None = None,
        format: dict | str | None = None,
        num_ctx: int | None = None,
        think: bool | None = None,
        keep_alive: str | None = None,
    ) -> ChatReply:
        """One non-streamed chat completion (``POST /api/chat`` with ``"stream": false``).

        ``messages`` are ``{"role": "system"|"user"|"assistant", "content": str}`` dicts.
        ``schema`` (a JSON Schema object) is sent as Ollama's ``format``; ``format`` (``"json"``
        or a schema) is the same field under Ollama's own name and wins when both are given.
        ``options`` become Ollama's ``options`` map (``SamplingOptions.to_ollama()``;
        ``temperature=0`` is sent as 0) and ``context_tokens`` (or ``num_ctx``), in tokens, is
        added to it as ``num_ctx`` when given. ``think`` and ``keep_alive`` (a duration such as
        ``"5m"``) default to the instance's; ``keep_alive`` is sent only when not ``None``.
        ``think`` is sent explicitly to a model whose ``/api/show`` capabilities list
        ``"thinking"`` (when neither is set: off when a ``format`` is given, on otherwise), never
        as ``true`` to a model known not to think, and a 400 "… does not support thinking" is
        asked again once without it.

        Returns a :class:`ChatReply`: ``content`` without ``<think>`` blocks, ``thinking`` from
        ``message.thinking`` or else the stripped blocks, ``done_reason`` (``"stop"``,
        ``"length"`` when ``num_predict`` cut the reply, …), token counts from
        ``prompt_eval_count``/``eval_count`` and ``duration_s`` from ``total_duration`` (ns → s),
        or the wall time when the server sends none.

        Raises :class:`ModelNotFoundError` (HTTP 404: the model is not pulled),
        :class:`BackendUnreachableError` (nothing listening at ``host``) or
        :class:`BackendError` (any other failure left after the retries, with the HTTP status and
        the server's error text; a read timeout; a reply that is not Ollama JSON).
        """
        self._require_model(model)
        opts: dict[str, Any] = dict(options.to_ollama()) if options is not None else {}
        format = format if format is not None else schema
        num_ctx = num_ctx if num_ctx is not None else context_tokens
        think = self._think_for(model, think if think is not None else self.think, json_reply=format is not None)
        keep_alive = keep_alive if keep_alive is not None else self.keep_alive
        if num_ctx is not None:
            opts["num_ctx"] = int(num_ctx)
        kwargs: dict[str, Any] = {"model": model, "messages": messages, "stream": False}
        if opts:
            kwargs["options"] = opts
        if format is not None:
            kwargs["format"] = format
        if think is not None:
            kwargs["think"] = think
        if keep_alive is not None:
            kwargs["keep_alive"] = keep_alive

        def send():
            try:
                return self._client.chat(**kwargs)
            except ollama.ResponseError as exc:
                if not (exc.status_code == 400 and "think" in kwargs and "does not support thinking" in str(exc.error)):
                    raise
            # The server knows better than /api/show (or /api/show did not answer): ask again
            # without ``think``, and never send it for this model again.
            log.warning("Ollama at %s: model '%s' does not support thinking; asking again without think",
                        self.host, model)
            with self._capabilities_lock:
                known = self._capabilities.get(model) or ("completion",)
                self._capabilities[model] = tuple(c for c in known if c != "thinking")
            del kwargs["think"]
            return self._client.chat(**kwargs)

        started = time.monotonic()
        response = self._call("the chat request", send, model=model)
        wall_s = time.monotonic() - started

        message = response.message
        content, inline_thinking = strip_think(message.content or "")
        thinking = message.thinking or inline_thinking
        total_ns = response.total_duration
        return ChatReply(
            content=content,
            thinking=thinking,
            done_reason=response.done_reason or "",
            prompt_tokens=int(response.prompt_eval_count or 0),
            completion_tokens=int(response.eval_count or 0),
            duration_s=total_ns / 1e9 if total_ns else wall_s,
        )

    # -- internals --

    def _model_capabilities(self, model: str) -> tuple[str, ...] | None:
        """The model's ``capabilities`` from ``/api/show``, asked once per model and kept;
        ``None`` when the server did not say (an old server, or ``/api/show`` failed)."""
        with self._capabilities_lock:
            if model in self._capabilities:
                return self._capabilities[model]
        try:
            capabilities: tuple[str, ...] | None = self.model_info(model).capabilities or None
        except BackendError:
            capabilities = None  # the chat request itself will say what is wrong
        with self._capabilities_lock:
            return self._capabilities.setdefault(model, capabilities)

    def _think_for(self, model: str, requested: bool | None, *, json_reply: bool) -> bool | None:
        """The ``think`` value to send (``None``: leave it out).

        A model whose ``/api/show`` lists ``"thinking"`` always gets it explicitly: ``requested``,
        or when nothing was requested, off for a JSON reply (reasoning before structured output
        wastes the reply budget and can break the JSON) and on otherwise. A model known not to
        think never gets ``true`` (Ollama answers 400 "… does not support thinking"). When the
        capabilities are unknown, ``requested`` is sent as it is.
        """
        capabilities = self._model_capabilities(model)
        if capabilities is None:
            return requested
        if "thinking" in capabilities:
            return requested if requested is not None else not json_reply
        return False if requested is False else None

    def _require_model(self, model: str) -> None:
        if not isinstance(model, str) or not model.strip():
            raise BackendError(
                f"No model chosen for Ollama at {self.host}: pick one that `ollama list` shows"
            )

    def _call(self, what: str, fn: Callable[[], T], *, model: str | None = None) -> T:
        """Run ``fn`` with retries; turn whatever it raises into a :class:`BackendError`."""
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            try:
                return fn()
            except pydantic.ValidationError as exc:
                # Status 200 whose body is {"error": ...}: the server failed after it had
                # started answering. Treat it as the client treats such a line in a stream.
                message = server_error_in(exc)
                if message is not None:
                    raise ollama.ResponseError(message, -1) from None
                raise

        def before_sleep(state) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "Ollama at %s: %s failed (attempt %d of %d), retrying in %.2f s: %s",
                self.host,
                what,
                state.attempt_number,
                self.max_retries + 1,
                state.next_action.sleep if state.next_action else 0.0,
                one_line(f"{type(exc).__name__}: {exc}"),
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, exp_base=2, min=0, max=MAX_BACKOFF_S),
            retry=retry_if_exception(is_retryable),
            reraise=True,
            before_sleep=before_sleep,
        )
        try:
            return retrying(attempt)
        except BackendError:
            raise
        except Exception as exc:
            error = translate(exc, host=self.host, what=what, model=model, attempts=attempts,
                              read_timeout_s=self.read_timeout_s)
            if error is None:
                raise
            raise error from exc
