"""A fake OpenAI-compatible server for tests: real HTTP on 127.0.0.1, the OpenAI wire protocol
(as vLLM, llama.cpp's ``llama-server`` and LM Studio serve it), no model.

It follows the OpenAI API reference ("Chat", "Models", "Embeddings", "Error codes") and vLLM's
docs ("OpenAI-Compatible Server", "Reasoning Outputs"):

* ``GET /v1/models`` → ``{"object": "list", "data": [{"id", "object": "model", "created",
  "owned_by", "max_model_len"}]}`` (``max_model_len`` as vLLM adds it).
* ``POST /v1/chat/completions`` (non-streamed) → ``{"id", "object": "chat.completion", "created",
  "model", "choices": [{"index": 0, "message": {"role": "assistant", "content",
  "reasoning_content"?}, "logprobs": null, "finish_reason"}], "usage": {"prompt_tokens",
  "completion_tokens", "total_tokens"}}``. ``max_tokens`` cuts the reply (``finish_reason:
  "length"``, ``len // 3`` characters per token).
* ``response_format``: ``json_schema`` and ``json_object`` are honoured when listed in
  ``formats``, else refused with HTTP 400 and ``param: "response_format"`` as OpenAI does;
  ``json_object`` also needs the word "json" in the messages (OpenAI's 400 otherwise).
* ``POST /v1/embeddings`` → ``{"object": "list", "data": [{"object": "embedding", "index",
  "embedding"}], "model", "usage"}``; ``encoding_format: "base64"`` gives little-endian float32.
* Errors are ``{"error": {"message", "type", "param", "code"}}`` with the real status: 401
  ``invalid_api_key`` when ``api_key`` is set and the ``Authorization: Bearer`` differs, 404
  ``model_not_found``, 400 ``invalid_request_error``; an unknown path is FastAPI's 404
  ``{"detail": "Not Found"}`` (vLLM).

``reasoning`` makes every reply carry reasoning: ``"reasoning_content"`` in that field (vLLM
with a reasoning parser), ``"think"`` inline as ``<think>…</think>`` before the content.

Answers: with a JSON schema, a chunk between ``<chunk>`` lines gets ``{"pairs": [...]}`` quoting
its sentences (:func:`tests.fake_ollama.qa_pairs_for`), a ``<source>`` block gets a judge's
verdict; in ``json_object`` mode the same JSON with the count from "exactly N" in the prompt;
without ``response_format`` (prompt-only JSON) the JSON is wrapped as weaker models write it: a
sentence, a ```json fence, and a trailing comma before the last ``]``.

Tests script chat with :meth:`FakeOpenAI.push` (``Reply``, ``APIError``, ``Drop``).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_ollama import _SOURCE, _find_chunk, _pairs_schema, _vector, _verdict, _wanted_pairs, qa_pairs_for

__all__ = ["APIError", "Drop", "FakeOpenAI", "Reply", "openai_responder", "rate_limited"]

THINKING = "The user wants pairs from the text. I will quote it closely."


@dataclass
class Reply:
    """A model answer, sent as it is (``reasoning_content`` only when not ``None``)."""

    content: str | None = ""
    reasoning_content: str | None = None
    finish_reason: str = "stop"


@dataclass
class APIError:
    """An error status with OpenAI's body ``{"error": {"message", "type", "param", "code"}}``
    (``vllm_body``: vLLM's ``{"object": "error", "message", "type", "param", "code"}``)."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | int | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    vllm_body: bool = False


@dataclass
class Drop:
    """Close the connection after reading the request, without answering."""


def rate_limited(retry_after: str = "0") -> APIError:
    """429 as OpenAI sends it, with ``Retry-After`` seconds."""
    return APIError(429, "Rate limit reached for requests. Please try again in 1s.", type="requests",
                    code="rate_limit_exceeded", headers={"retry-after": retry_after})


def openai_responder(request: dict, mode: str) -> str:
    """The content of a well-behaved model's answer; ``mode`` is ``"json_schema"``,
    ``"json_object"`` or ``""`` (no ``response_format``). See the module docstring."""
    messages = request.get("messages") or []
    schema = None
    if mode == "json_schema":
        schema = (request.get("response_format") or {}).get("json_schema", {}).get("schema")
    text = "\n".join(str(m.get("content") or "") for m in messages)
    wants_json = mode != "" or "json" in text.lower()
    if isinstance(schema, dict) and "faithfulness" in (schema.get("properties") or {}) or (
            schema is None and wants_json and _SOURCE.search(str(messages[-1].get("content") or "") if messages else "")):
        # the schema instruction a backend appends without json_schema comes after the pair
        judged = [*messages[:-1], {**messages[-1], "content": re.sub(
            r"\n\nReply with one JSON value only.*\Z", "", str(messages[-1].get("content") or ""), flags=re.S)}]
        answer = json.dumps(_verdict(judged), ensure_ascii=False)
    else:
        chunk = _find_chunk(messages)
        if chunk is None or not wants_json:
            return "Hello! This is a short answer from the fake model."
        pairs_schema = _pairs_schema(schema)
        keys = None
        if pairs_schema and isinstance(pairs_schema.get("items"), dict):
            keys = list(pairs_schema["items"].get("properties") or {}) or None
        answer = json.dumps({"pairs": qa_pairs_for(chunk, _wanted_pairs(pairs_schema, messages), keys)},
                            ensure_ascii=False)
    if mode:
        return answer
    loose = re.sub(r"\}\]\}$", "},]}", answer)  # a trailing comma, as weaker models write
    return f"Here is the JSON you asked for:\n```json\n{loose}\n```"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read FakeOpenAI.requests."""

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: APIError) -> None:
        if error.vllm_body:
            body: dict[str, Any] = {"object": "error", "message": error.message, "type": error.type,
                                    "param": error.param, "code": error.code if error.code is not None else error.status}
        else:
            body = {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
        self._json(error.status, body, error.headers)

    def _body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._error(APIError(400, "We could not parse the JSON body of your request."))
            return None
        return body

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        routes: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
        }
        handler = routes.get((self.command, path))
        try:
            if handler is None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                return self._json(404, {"detail": "Not Found"})
            if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                return self._error(APIError(401, f"Incorrect API key provided: {sent[:3]}***. You can find your "
                                                 "API key at https://platform.openai.com/account/api-keys.",
                                            code="invalid_api_key"))
            handler()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _models(self) -> None:
        fake = self.server.fake
        self._json(200, {"object": "list", "data": [
            {"id": name, "object": "model", "created": 1726000000, "owned_by": "vllm", "root": name,
             "parent": None, "max_model_len": fake.max_model_len} for name in fake.models]})

    def _chat(self) -> None:
        fake = self.server.fake
        body = self._body()
        if body is None:
            return
        with fake._lock:
            fake.requests.append(dict(body, path="/v1/chat/completions"))
            outcome = fake._queue.pop(0) if fake._queue else None
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._error(APIError(400, "you must provide a model parameter", param="model"))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._error(APIError(400, "'messages' is a required property", param="messages"))
        if model not in fake.models:
            return self._error(APIError(404, f"The model `{model}` does not exist or you do not have access to it.",
                                        code="model_not_found"))
        if isinstance(outcome, Drop):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if isinstance(outcome, APIError):
            return self._error(outcome)
        kind = (body.get("response_format") or {}).get("type", "")
        if kind not in ("", "text") and kind not in fake.formats:
            return self._error(APIError(400, f"Invalid parameter: 'response_format' of type '{kind}' is not "
                                             "supported with this model.", param="response_format"))
        text = " ".join(str(m.get("content") or "") for m in body["messages"])
        if kind == "json_object" and "json" not in text.lower():
            return self._error(APIError(400, "'messages' must contain the word 'json' in some form, to use "
                                             "'response_format' of type 'json_object'.", param="messages"))
        if outcome is None:
            content = fake.responder(body, "" if kind == "text" else kind)
            reply = Reply(content)
            if fake.reasoning == "reasoning_content":
                reply.reasoning_content = THINKING
            elif fake.reasoning == "think":
                reply.content = f"<think>\n{THINKING}\n</think>\n\n{content}"
        else:
            reply = outcome if isinstance(outcome, Reply) else Reply(str(outcome))
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        content = reply.content
        finish = reply.finish_reason
        if isinstance(limit, int) and content and len(content) // 3 > limit:
            content, finish = content[: limit * 3], "length"
        message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": []}
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        prompt_tokens = max(1, len(text) // 3)
        completion_tokens = max(1, len((content or "") + (reply.reasoning_content or "")) // 3)
        self._json(200, {
            "id": f"chatcmpl-{len(fake.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _embeddings(self) -> None:
        fake = self.server.fake
        body = self._body()
        if body is None:
            return
        with fake._lock:
            fake.requests.append(dict(body, path="/v1/embeddings"))
        model = body.get("model")
        if model not in fake.models:
            return self._error(APIError(404, f"The model `{model}` does not exist or you do not have access to it.",
                                        code="model_not_found"))
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for index, text in enumerate(inputs):
            vector = _vector(str(text))
            value: Any = vector
            if body.get("encoding_format") == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(max(1, len(str(t)) // 3) for t in inputs)
        self._json(200, {"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


class FakeOpenAI:
    """A fake OpenAI-compatible server on ``127.0.0.1`` at a free port, served from a daemon thread.

    ``models`` are the ids ``/v1/models`` lists (each with ``max_model_len``); ``formats`` the
    ``response_format`` types it accepts; ``api_key`` (``None``: any or none) the only key it
    accepts; ``reasoning`` ``""``, ``"reasoning_content"`` or ``"think"``; ``responder(body,
    mode) -> str`` the content when nothing is queued (default :func:`openai_responder`).
    ``requests`` holds every parsed JSON body sent to chat and embeddings, with ``"path"``.
    :attr:`url` is the base URL, ending in ``/v1``.
    """

    def __init__(self, models: tuple[str, ...] = ("qwen2.5-7b-instruct",), *,
                 formats: tuple[str, ...] = ("json_schema", "json_object"), api_key: str | None = None,
                 reasoning: str = "", max_model_len: int = 32768,
                 responder: Callable[[dict, str], str] | None = None):
        self.models = list(models)
        self.formats = formats
        self.api_key = api_key
        self.reasoning = reasoning
        self.max_model_len = max_model_len
        self.responder = responder or openai_responder
        self.requests: list[dict] = []
        self._queue: list[Any] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def push(self, *outcomes: Any) -> None:
        """Queue outcomes for the next chat calls, in order (a ``str`` is a ``Reply``)."""
        with self._lock:
            self._queue.extend(outcomes)

    def chat_requests(self) -> list[dict]:
        """The recorded bodies sent to ``/v1/chat/completions``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == "/v1/chat/completions"]
