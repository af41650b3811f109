"""Model servers the core can generate with.

:class:`Backend` is the small interface the rest of the core depends on; :class:`OllamaBackend`
implements it over Ollama's REST API. Tests may pass any object with the same shape.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..models import ChatReply, ModelInfo, SamplingOptions
from .ollama import OllamaBackend, strip_think

__all__ = ["Backend", "OllamaBackend", "strip_think"]


@runtime_checkable
class Backend(Protocol):
    """What the core needs from a model server.

    ``host`` is the normalised base URL (``scheme://name:port``) named in error messages. Every
    method raises :class:`dataset_gen.errors.BackendError` (or a subclass) on failure.
    """

    host: str

    def version(self) -> str:
        """The server's version string."""
        ...

    def list_models(self) -> list[ModelInfo]:
        """The models available on the server, sorted by name."""
        ...

    def context_length(self, model: str) -> int | None:
        """The model's maximum context in tokens, or ``None`` when unknown."""
        ...

    def chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: SamplingOptions | None = None,
        num_ctx: int | None = None,
        think: bool | None = None,
        keep_alive: str | None = None,
    ) -> ChatReply:
        """One complete (non-streamed) chat reply."""
        ...
