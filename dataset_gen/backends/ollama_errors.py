"""Failures of the ``ollama`` client, classified and turned into one-line errors.

The wire facts are those listed in :mod:`dataset_gen.backends.ollama`: ``ollama.ResponseError``
(``.status_code``, ``.error``) for a status >= 400, the builtin ``ConnectionError`` when nothing
listens, ``httpx`` errors for timeouts and dropped connections, and ``json.JSONDecodeError`` or a
pydantic ``ValidationError`` for a body that is not an Ollama reply.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import ollama
import pydantic

from ..errors import BackendError, BackendUnreachableError, ModelNotFoundError

__all__ = ["MORE_TIME", "is_retryable", "one_line", "server_error_in", "translate"]

_CONNECT_ERRORS = (ConnectionRefusedError, httpx.ConnectError, httpx.ConnectTimeout)
_DROP_ERRORS = (
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
_TIMEOUT_ERRORS = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)

MORE_TIME = ("give each request more seconds with --timeout SECONDS on the command line, "
              "DATASET_GEN_READ_TIMEOUT in the environment, or the project's read timeout setting in the app")
"""What a person can change when a request times out (the same knob, wherever they run it)."""


def _is_unreachable(exc: BaseException) -> bool:
    # The client turns httpx.ConnectError into a bare builtin ConnectionError; its subclasses
    # ConnectionResetError & co. mean a connection that was made and then lost.
    if isinstance(exc, _CONNECT_ERRORS):
        return True
    return type(exc) is ConnectionError


def is_retryable(exc: BaseException) -> bool:
    """True for failures another attempt may fix: no connection, a dropped connection, a read
    timeout, HTTP 5xx (500, 502, 503 "server busy"), and an error reported after status 200."""
    if _is_unreachable(exc) or isinstance(exc, _DROP_ERRORS + _TIMEOUT_ERRORS):
        return True
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code >= 500 or exc.status_code == -1
    return False


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` on one line (line breaks become spaces), cut to ``limit`` characters."""
    flat = re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def server_error_in(exc: pydantic.ValidationError) -> str | None:
    """The ``error`` text when the reply that failed validation was an ``{"error": …}`` body."""
    for detail in exc.errors():
        body = detail.get("input")
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    return None


def _looks_like_missing_model(exc: ollama.ResponseError) -> bool:
    # 404 "model 'x' not found"; older servers and the scheduler path say
    # 'model "x" not found, try pulling it first'.
    text = str(exc.error).lower()
    return exc.status_code == 404 or ("not found" in text and "model" in text)



def translate(exc: Exception, *, host: str, what: str, model: str | None, attempts: int,
              read_timeout_s: float) -> BackendError | None:
    """The one-line error a person sees for ``exc`` raised by the ``ollama`` client while doing
    ``what`` (e.g. ``"POST /api/chat"``) at ``host`` after ``attempts`` tries; ``None`` for
    errors that are bugs (they are raised as they are)."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    for_model = f" for model '{model}'" if model else ""

    if _is_unreachable(exc):
        return BackendUnreachableError(
            f"Ollama is not running at {host} (no answer after {tries}): start it with "
            "`ollama serve` (or the Ollama app), or point OLLAMA_HOST, --host or the project's host setting "
            "at where it runs"
        )
    if isinstance(exc, httpx.ReadTimeout):
        return BackendError(
            f"Model '{model or '?'}' on {host} took longer than {read_timeout_s:g} s to "
            f"answer ({tries}): {MORE_TIME}, or use smaller chunks or a smaller model"
        )
    if isinstance(exc, _TIMEOUT_ERRORS):
        return BackendError(
            f"Ollama at {host} did not take {what}{for_model} within "
            f"{read_timeout_s:g} s ({tries}): {MORE_TIME}"
        )
    if isinstance(exc, _DROP_ERRORS):
        return BackendError(
            f"Ollama at {host} closed the connection without answering {what}{for_model} "
            f"({tries}): {one_line(exc) or type(exc).__name__}; check the Ollama log (the "
            f"model may have crashed or run out of memory)"
        )
    if isinstance(exc, ollama.ResponseError):
        status = exc.status_code
        text = one_line(exc.error)
        if model and 400 <= status < 500 and _looks_like_missing_model(exc):
            return ModelNotFoundError(
                f"Model '{model}' is not pulled on {host}: run `ollama pull {model}` "
                f"(server said: {text})"
            )
        if status == 404:
            return BackendError(
                f"{host} answered HTTP 404 to {what}: {text}; is OLLAMA_HOST / --host "
                f"pointing at an Ollama server?"
            )
        if status == -1:
            return BackendError(
                f"Ollama at {host} failed while answering {what}{for_model} ({tries}): {text}"
            )
        hint = ""
        if status == 503:
            hint = "; the server is busy: lower the concurrency or raise OLLAMA_MAX_QUEUE"
        elif status >= 500:
            hint = "; see the Ollama log for details"
        return BackendError(
            f"Ollama at {host} failed {what}{for_model} (HTTP {status}, {tries}): {text}{hint}"
        )
    if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, ValueError)):
        detail = one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 160)
        return BackendError(
            f"{host} sent a reply to {what}{for_model} that is not valid Ollama JSON "
            f"({type(exc).__name__}: {detail}); is OLLAMA_HOST / --host pointing at an "
            f"Ollama server?"
        )
    if isinstance(exc, httpx.HTTPError):
        return BackendError(f"Could not talk to Ollama at {host}: {one_line(exc)}")
    return None
