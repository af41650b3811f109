"""The one interface the core needs from a model server, whatever the server speaks.

:class:`Backend` is what generation, the trial, the judge and the duplicate check are typed
against; :func:`dataset_gen.backends.factory.make_backend` builds one from :class:`Settings`. Every
server-specific idea (Ollama's ``num_ctx``/``think``/``keep_alive``, OpenAI's ``response_format``
fallbacks and API key) lives inside the class that speaks to that server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..models import ChatReply, ModelInfo, SamplingOptions

__all__ = ["API_KINDS", "Backend", "ModelDetails"]

API_KINDS = ("ollama", "openai")
"""The kinds of server a backend can be built for: Ollama's REST API, or an OpenAI-compatible
``/v1`` API (vLLM, llama.cpp's ``llama-server``, LM Studio, OpenAI itself)."""


@dataclass(frozen=True)
class ModelDetails:
    """What a server says about one model.

    ``context_length`` is the longest context in tokens the model (or the server, for servers
    that fix it at start-up such as vLLM's ``max_model_len``) accepts, ``None`` when the server
    does not say. ``capabilities`` are the server's words for what the model can do (Ollama's
    ``"completion"``, ``"thinking"``, ``"embedding"``, …), ``()`` when it does not say.
    ``fixed_context`` is ``True`` when the server fixed the window at start-up and a request cannot
    choose it (OpenAI-compatible servers): the whole ``context_length`` is then the window.
    """

    name: str
    context_length: int | None = None
    capabilities: tuple[str, ...] = ()
    fixed_context: bool = False


@runtime_checkable
class Backend(Protocol):
    """What the core needs from a model server.

    ``kind`` is one of :data:`API_KINDS`; ``host`` is the normalised base URL named in error
    messages. Every method raises :class:`dataset_gen.errors.BackendError` (or a subclass:
    :class:`~dataset_gen.errors.BackendUnreachableError` when nothing answers,
    :class:`~dataset_gen.errors.ModelNotFoundError` when the server lacks the model) whose
    message is one line naming the host and what to do.
    """

    kind: str
    host: str

    def health(self) -> str:
        """One line saying what answers at ``host`` (e.g. ``"Ollama 0.12.6"``), asked before any
        work so that a wrong host or a stopped server fails fast."""
        ...

    def list_models(self) -> list[ModelInfo]:
        """The models available on the server, sorted by name."""
        ...

    def model_info(self, model: str) -> ModelDetails:
        """Context length and capabilities of ``model``."""
        ...

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
        """One complete (non-streamed) chat reply.

        ``messages`` are ``{"role", "content"}`` dicts; ``schema`` is the JSON Schema the reply
        must follow (the backend uses the server's structured output where it has one);
        ``context_tokens`` is the context window the request needs, in tokens (the backend sets
        it where the server lets a request choose, e.g. Ollama's ``num_ctx``); ``think`` asks a
        reasoning model to reason first (``True``) or not (``False``), ``None`` leaving it to the
        backend (Ollama: off when ``schema`` is given), where the server has such a switch. The reply's
        ``content`` has no reasoning in it; the reasoning is in ``thinking``.
        """
        ...

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One embedding vector per text, in order."""
        ...

    def close(self) -> None:
        """Release the connection pool."""
        ...
