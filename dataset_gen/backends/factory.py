"""The one place that knows the backend classes: build a :class:`~dataset_gen.backends.base.Backend`
from :class:`~dataset_gen.config.Settings`."""

from __future__ import annotations

from dataclasses import replace

from ..config import Settings
from .base import Backend
from .ollama import OllamaBackend
from .openai_compat import OpenAIBackend

__all__ = ["make_backend", "make_backends"]


def make_backend(
    settings: Settings,
    *,
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    max_retries: int | None = None,
    environ: dict | None = None,
) -> Backend:
    """A backend for ``settings.api``: Ollama at ``settings.ollama_host``, or an OpenAI-compatible
    server at ``settings.openai_base_url`` with the key from the variable ``settings.api_key_env``
    (read from ``environ``, default the process environment: :meth:`Settings.api_key`).

    Timeouts (seconds) and retries default to the settings'; a quick status probe passes smaller
    ones. Nothing is sent to the server here.

    :raises ValueError: ``settings.api`` is not one of :data:`~dataset_gen.backends.base.API_KINDS`.
    """
    connect = settings.connect_timeout_s if connect_timeout_s is None else connect_timeout_s
    read = settings.read_timeout_s if read_timeout_s is None else read_timeout_s
    retries = settings.max_retries if max_retries is None else max_retries
    if settings.api == "ollama":
        return OllamaBackend(settings.ollama_host, connect_timeout_s=connect, read_timeout_s=read, max_retries=retries)
    if settings.api == "openai":
        return OpenAIBackend(settings.openai_base_url, api_key=settings.api_key(environ),
                             api_key_env=settings.api_key_env, connect_timeout_s=connect, read_timeout_s=read,
                             max_retries=retries)
    raise ValueError(f"Unknown API {settings.api!r}: choose ollama or openai")


def make_backends(settings: Settings, **kwargs) -> list[Backend]:
    """One backend per server of :meth:`Settings.server_urls` (a repeated ``--host``, a project's
    ``hosts``), in order, each built like :func:`make_backend` with the same ``kwargs``.

    :raises ValueError: ``settings.api`` is not one of :data:`~dataset_gen.backends.base.API_KINDS`.
    """
    def one(url: str) -> Settings:
        if settings.api == "openai":
            return replace(settings, hosts=(), openai_base_url=url)
        return replace(settings, hosts=(), ollama_host=url)

    return [make_backend(one(url), **kwargs) for url in settings.server_urls()]
