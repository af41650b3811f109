"""Model servers the core can generate with.

:class:`Backend` is the typed interface the rest of the core depends on and :func:`make_backend`
the only place that builds one from settings: :class:`OllamaBackend` speaks Ollama's REST API,
:class:`OpenAIBackend` an OpenAI-compatible ``/v1`` API (vLLM, llama.cpp, LM Studio). Tests may
pass any object with the same shape.
"""

from __future__ import annotations

from .base import API_KINDS, Backend, ModelDetails
from .factory import make_backend, make_backends
from .ollama import OllamaBackend
from .openai_compat import OpenAIBackend
from .thinking import strip_think

__all__ = ["API_KINDS", "Backend", "ModelDetails", "OllamaBackend", "OpenAIBackend", "make_backend", "make_backends", "strip_think"]
