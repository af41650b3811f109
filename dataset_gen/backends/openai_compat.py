"""Talk to an OpenAI-compatible server (vLLM, llama.cpp's ``llama-server``, LM Studio, OpenAI)
through the official ``openai`` Python client.

Wire facts used here (OpenAI API reference "Chat", "Models", "Embeddings", "Error codes"; vLLM
docs "OpenAI-Compatible Server" and "Reasoning Outputs"; llama.cpp tools/server/README.md):

* ``POST {base}/chat/completions`` answers ``{"choices": [{"message": {"role", "content",
  "reasoning_content"?}, "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens"}}``.
  ``finish_reason`` is ``"stop"``, or ``"length"`` when ``max_tokens`` cut the reply.
* Structured output is ``response_format``: ``{"type": "json_schema", "json_schema": {"name",
  "schema"}}``, or the older ``{"type": "json_object"}``. A server that does not support one
  answers HTTP 400 (422 on some) naming ``response_format``.
* Reasoning models served with a reasoning parser (DeepSeek-R1 style: vLLM
  ``--reasoning-parser``, llama.cpp ``--reasoning-format deepseek``) put the reasoning in
  ``message.reasoning_content`` (newer vLLM also ``message.reasoning``); others leave it inline
  in ``content`` as ``<think>…</think>``.
* ``GET {base}/models`` lists ``{"data": [{"id", "object": "model", "owned_by", …}]}``; vLLM adds
  ``max_model_len``, llama.cpp ``meta.n_ctx_train``.
* Errors are ``{"error": {"message", "type", "param", "code"}}`` (vLLM: ``{"object": "error",
  "message", "type", "code"}``) with the real status: 401 a missing or wrong key, 404 an unknown
  model (``code: "model_not_found"``) or path, 429 rate limited (``Retry-After`` may say how many
  seconds to wait), 5xx a server failure.

Every failure leaves this module as a :class:`~dataset_gen.errors.BackendError` (or a subclass)
whose message is one line naming the base URL and, where there is one, the model.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..config import DEFAULT_OPENAI_BASE_URL, normalise_base_url
from ..errors import BackendError, BackendUnreachableError, ModelNotFoundError
from ..models import ChatReply, ModelInfo, SamplingOptions
from .base import ModelDetails
from .json_reply import repair_json, with_schema_instruction
from .ollama import MAX_BACKOFF_S
from .ollama_errors import MORE_TIME, one_line
from .thinking import strip_think

__all__ = ["STRUCTURED_MODES", "OpenAIBackend"]

log = logging.getLogger(__name__)

T = TypeVar("T")

STRUCTURED_MODES = ("json_schema", "json_object", "prompt")
"""How a reply is held to a schema, best first: ``response_format`` with the schema, then
``response_format`` JSON without it (the schema in the prompt), then the prompt alone with
:func:`~dataset_gen.backends.json_reply.repair_json` on the reply."""

_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured", "grammar", "schema")
"""Words in a 400/422 error text that mean the server rejected the structured-output request."""


class _FormatRejected(Exception):
    """The server refused the ``response_format`` sent (HTTP 400/422 naming it)."""


def _server_text(exc: openai.APIStatusError) -> str:
    """The server's own error message: ``error.message`` (OpenAI), ``message`` (vLLM), or the body."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return one_line(inner["message"])
        if isinstance(inner, str):
            return one_line(inner)
    try:
        text = exc.response.text
    except Exception:  # a body that cannot be read: say what the client said
        text = ""
    return one_line(text or exc.message)


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    return str(inner.get("code") or "") if isinstance(inner, dict) else ""


def _refused(exc: BaseException) -> bool:
    """Whether a connection error is "nothing listens" (as opposed to a dropped connection)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or type(seen).__name__ in ("ConnectError", "ConnectTimeout"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_retryable(exc: BaseException) -> bool:
    """No connection, a dropped connection, a timeout, HTTP 429 and HTTP 5xx."""
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def _retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds from a 429's ``Retry-After`` header (a number), capped at :data:`MAX_BACKOFF_S`."""
    if isinstance(exc, openai.RateLimitError):
        value = exc.response.headers.get("retry-after", "")
        try:
            return min(MAX_BACKOFF_S, max(0.0, float(value)))
        except ValueError:
            return None
    return None


class OpenAIBackend:
    """A model server reached over an OpenAI-compatible ``/v1`` API.

    ``base_url`` is normalised with :func:`dataset_gen.config.normalise_base_url`
    (``"localhost:8000"`` → ``"http://localhost:8000/v1"``) and named in every error message.
    ``api_key`` is sent as ``Authorization: Bearer``; servers without keys (vLLM, llama.cpp, LM
    Studio by default) accept any, so an empty key is sent as ``"none"``. ``api_key_env`` is only
    named in the hint of a 401 (the key is read from that variable by the caller, never stored).
    Timeouts, retries and backoff mean what they mean for
    :class:`~dataset_gen.backends.ollama.OllamaBackend`; HTTP 429 is retried too, after its
    ``Retry-After`` seconds when the server sends them.

    Structured output falls back per model, once and for the instance's life: ``json_schema``,
    then ``json_object``, then the prompt alone (:data:`STRUCTURED_MODES`); :attr:`modes` holds the
    mode each model ended on. The instance may be shared between threads.
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        *,
        api_key: str = "",
        api_key_env: str = "OPENAI_API_KEY",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 600.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
    ):
        self.host: str = normalise_base_url(base_url)
        self.api_key_env = api_key_env
        self.has_key = bool(api_key)
        self.connect_timeout_s = float(connect_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = max(0.0, float(backoff_s))
        self.modes: dict[str, str] = {}
        self._modes_lock = threading.Lock()
        self._client = openai.OpenAI(
            base_url=self.host, api_key=api_key or "none", max_retries=0,
            timeout=openai.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(host={self.host!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- API --

    def health(self) -> str:
        """``"An OpenAI-compatible server with <n> models"`` from ``GET /models``.

        :raises BackendUnreachableError: nothing answers at the base URL.
        :raises BackendError: a refused key (401/403), a wrong path (404), or any other failure.
        """
        models = self._models()
        return f"An OpenAI-compatible server with {len(models)} model{'s' if len(models) != 1 else ''}"

    def list_models(self) -> list[ModelInfo]:
        """The models ``GET /models`` lists, by ``id``, sorted; sizes and details are not given by
        this API and are left empty."""
        return sorted((ModelInfo(name=str(m.id)) for m in self._models()), key=lambda info: info.name)

    def model_info(self, model: str) -> ModelDetails:
        """``model``'s entry in ``GET /models``: context length from ``max_model_len`` (vLLM),
        ``context_length``/``context_window``, or llama.cpp's ``meta.n_ctx`` (the window it was
        started with; ``n_ctx_train``, the model's own, when that is missing); no capabilities. The
        window is fixed by the server (``fixed_context``): a request cannot choose it.

        :raises ModelNotFoundError: the server lists models, but not this one.
        """
        self._require_model(model)
        models = self._models()
        entry = next((m for m in models if m.id == model), None)
        if entry is None:
            if not models:
                return ModelDetails(model)
            names = ", ".join(sorted(str(m.id) for m in models)[:10])
            raise ModelNotFoundError(f"Model '{model}' is not served at {self.host}: pick one it lists ({names})")
        extra = entry.model_extra or {}
        meta = extra.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        for value in (extra.get("max_model_len"), extra.get("context_length"), extra.get("context_window"),
                      meta.get("n_ctx"), meta.get("n_ctx_train")):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return ModelDetails(model, value, fixed_context=True)
        return ModelDetails(model, fixed_context=True)

    def embed(self, model: str, texts: list[str], *, batch: int = 64) -> list[list[float]]:
        """Embedding vectors of ``texts`` from ``POST /embeddings`` (``encoding_format: "float"``),
        in order, ``batch`` texts per request. Raises like :meth:`chat`."""
        self._require_model(model)
        vectors: list[list[float]] = []
        for first in range(0, len(texts), batch):
            part = texts[first:first + batch]
            request = functools.partial(self._client.embeddings.create, model=model, input=part,
                                        encoding_format="float")
            reply = self._call("POST /embeddings", request, model=model)
            vectors.extend(list(map(float, item.embedding)) for item in sorted(reply.data, key=lambda d: d.index))
        return vectors

    def chat(
        self,
        model: str,
        messages: list[dict],
        *,
        schema: dict | None = None,
        options: SamplingOptions | None = None,
        context_tokens: int | None = None,
        think: bool | None = None,
    ) -> ChatReply:
        """One non-streamed chat completion (``POST /chat/completions``).

        ``schema`` goes as ``response_format`` by the model's current mode
        (:data:`STRUCTURED_MODES`); a 400/422 naming the format moves the model to the next mode
        and asks again at once. In ``json_object`` and ``prompt`` modes the last user message
        also asks for JSON following the schema, and in ``prompt`` mode the reply is repaired
        (:func:`~dataset_gen.backends.json_reply.repair_json`). ``options``: ``temperature``,
        ``top_p``, ``seed`` and ``num_predict`` (as ``max_tokens``, when above 0) are OpenAI
        fields; ``top_k`` and ``repeat_penalty`` (as ``repetition_penalty``) are sent as the extra
        fields vLLM and llama.cpp read. ``context_tokens`` is not sent: these servers fix the
        context window when they start (vLLM ``--max-model-len``, llama.cpp ``-c``). ``think`` is
        not sent either: the OpenAI API has no common switch for it (the reasoning a server sends
        is read all the same).

        Returns a :class:`ChatReply`: ``content`` without ``<think>`` blocks, ``thinking`` from
        ``reasoning_content`` (or ``reasoning``) or else the stripped blocks, ``done_reason`` from
        ``finish_reason``, token counts from ``usage``, ``duration_s`` the wall time.

        :raises ModelNotFoundError: HTTP 404 for the model.
        :raises BackendUnreachableError: nothing answers at the base URL.
        :raises BackendError: a refused key, 429 or 5xx left after the retries, a timeout, any
            other HTTP error, or a reply that is not OpenAI JSON.
        """
        self._require_model(model)
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if options is not None:
            for name in ("temperature", "top_p", "seed"):
                if getattr(options, name) is not None:
                    kwargs[name] = getattr(options, name)
            if options.num_predict is not None and options.num_predict > 0:
                kwargs["max_tokens"] = options.num_predict
            if options.top_k is not None:
                extra["top_k"] = options.top_k
            if options.repeat_penalty is not None:
                extra["repetition_penalty"] = options.repeat_penalty
        if extra:
            kwargs["extra_body"] = extra
        started = time.monotonic()
        while True:
            mode = self.modes.get(model, STRUCTURED_MODES[0]) if schema is not None else ""
            sent = messages if mode in ("", "json_schema") else with_schema_instruction(messages, schema or {})
            if mode == "json_schema":
                kwargs["response_format"] = {"type": "json_schema",
                                             "json_schema": {"name": "reply", "schema": schema}}
            elif mode == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
            else:
                kwargs.pop("response_format", None)
            try:
                request = functools.partial(self._client.chat.completions.create, model=model, messages=sent, **kwargs)
                response = self._call("the chat request", request, model=model,
                                      format_sent=mode in ("json_schema", "json_object"))
                break
            except _FormatRejected as rejected:
                self._downgrade(model, mode, str(rejected))
        wall_s = time.monotonic() - started
        if not response.choices:
            raise BackendError(f"{self.host} sent a chat reply without choices for model '{model}'")
        choice = response.choices[0]
        message = choice.message
        extras = message.model_extra or {}
        reasoning = extras.get("reasoning_content") or extras.get("reasoning") or ""
        content, inline = strip_think(message.content or "")
        if mode == "prompt":
            content = repair_json(content)
        usage = response.usage
        return ChatReply(
            content=content,
            thinking=str(reasoning) if isinstance(reasoning, str) and reasoning else inline,
            done_reason=str(choice.finish_reason or ""),
            prompt_tokens=int(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=int(usage.completion_tokens or 0) if usage else 0,
            duration_s=wall_s,
        )

    # -- internals --

    def _downgrade(self, model: str, mode: str, reason: str) -> None:
        following = STRUCTURED_MODES[STRUCTURED_MODES.index(mode) + 1]
        with self._modes_lock:
            self.modes[model] = following
        log.warning("%s rejected response_format %s for model '%s' (%s); using %s from now on",
                    self.host, mode, model, reason, following)

    def _models(self) -> list:
        return list(self._call("GET /models", lambda: self._client.models.list().data))

    def _require_model(self, model: str) -> None:
        if not isinstance(model, str) or not model.strip():
            raise BackendError(f"No model chosen for {self.host}: pick one that GET /v1/models lists")

    def _call(self, what: str, fn: Callable[[], T], *, model: str | None = None, format_sent: bool = False) -> T:
        """Run ``fn`` with retries; turn whatever it raises into a :class:`BackendError` (or
        :class:`_FormatRejected` when ``format_sent`` and the server refused the format)."""
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        exponential = wait_exponential(multiplier=self.backoff_s, exp_base=2, min=0, max=MAX_BACKOFF_S)

        def wait(state) -> float:
            asked = _retry_after_s(state.outcome.exception() if state.outcome else None)
            return asked if asked is not None else exponential(state)

        def before_sleep(state) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s failed (attempt %d of %d), retrying in %.2f s: %s", self.host, what,
                        state.attempt_number, self.max_retries + 1,
                        state.next_action.sleep if state.next_action else 0.0, one_line(f"{type(exc).__name__}: {exc}"))

        retrying = Retrying(stop=stop_after_attempt(self.max_retries + 1), wait=wait,
                            retry=retry_if_exception(_is_retryable), reraise=True, before_sleep=before_sleep)
        try:
            return retrying(attempt)
        except BackendError:
            raise
        except openai.APIStatusError as exc:
            text = _server_text(exc)
            if format_sent and exc.status_code in (400, 422) and any(w in text.lower() for w in _FORMAT_WORDS):
                raise _FormatRejected(text) from exc
            raise self._status_error(exc, text, what, model, attempts) from exc
        except openai.APITimeoutError as exc:
            raise BackendError(f"Model '{model or '?'}' on {self.host} took longer than {self.read_timeout_s:g} s "
                               f"to answer ({_tries(attempts)}): {MORE_TIME}, or use smaller chunks or a smaller "
                               "model") from exc
        except openai.APIConnectionError as exc:
            if _refused(exc):
                raise BackendUnreachableError(
                    f"Nothing answers at {self.host} (no answer after {_tries(attempts)}): start the server "
                    "(`vllm serve`, `llama-server`, LM Studio's local server), or point OPENAI_BASE_URL, --host or the project's base URL setting "
                    "at its URL ending in /v1") from exc
            raise BackendError(f"{self.host} closed the connection without answering {what} "
                               f"({_tries(attempts)}): check the server's log") from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise BackendError(f"{self.host} sent a reply to {what} that is not OpenAI JSON "
                               f"({type(exc).__name__}); is the base URL that of an OpenAI-compatible server?") from exc

    def _status_error(self, exc: openai.APIStatusError, text: str, what: str, model: str | None,
                      attempts: int) -> BackendError:
        status = exc.status_code
        for_model = f" for model '{model}'" if model else ""
        if status in (401, 403):
            key = (f"the key in ${self.api_key_env} was refused" if self.has_key
                   else f"no key was sent: set ${self.api_key_env}")
            return BackendError(f"{self.host} refused the request (HTTP {status}): {text}; {key} "
                                "(the project names which variable holds the key; keys are never stored)")
        if status == 404:
            if model and (_error_code(exc) == "model_not_found" or "model" in text.lower()):
                return ModelNotFoundError(f"Model '{model}' is not served at {self.host}: pick one that "
                                          f"GET /v1/models lists (server said: {text})")
            return BackendError(f"{self.host} answered HTTP 404 to {what}: {text}; is the base URL right? "
                                "It usually ends in /v1")
        if status == 429:
            return BackendError(f"{self.host} kept refusing {what}{for_model} as too many requests (HTTP 429, "
                                f"{_tries(attempts)}): {text}; lower the concurrency or wait")
        hint = "; see the server's log" if status >= 500 else ""
        return BackendError(f"{self.host} failed {what}{for_model} (HTTP {status}, {_tries(attempts)}): {text}{hint}")


def _tries(attempts: int) -> str:
    return f"{attempts} attempt{'s' if attempts != 1 else ''}"
