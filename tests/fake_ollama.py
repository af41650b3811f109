"""A fake Ollama server for tests: real HTTP on 127.0.0.1, Ollama's wire protocol, no model.

It follows the facts in Ollama's docs/api.md, api/types.go and server/routes.go:

* ``GET /`` → ``Ollama is running``; ``GET|HEAD /api/version``; ``GET /api/tags``;
  ``POST /api/show`` (always with ``model_info``); ``GET /api/ps``; ``POST /api/chat``;
  ``POST /api/generate``; ``POST /api/embed``; ``POST /api/pull``.
* ``stream`` defaults to true. A stream is ``application/x-ndjson``: one compact JSON object per
  line, no blank lines; the last one has ``done: true``, ``done_reason`` and the six metrics
  (durations in nanoseconds). ``"stream": false`` gives one ``application/json`` object.
* Errors are ``{"error": …}`` with the real status: 404 ``model 'x' not found``, 400
  ``model is required``, 400 ``"x" does not support thinking``, 503 ``server busy, …``.
* Models whose ``/api/show`` lists the ``thinking`` capability think when ``think`` is absent
  (the server's default) or true, and the reasoning goes in ``thinking``.

Tests script ``/api/chat`` with :meth:`FakeOllama.push` (``Reply``, ``HTTPError``, ``Drop``,
``Slow``, ``MidStreamError``); when the queue is empty the ``responder`` answers, by default
:func:`qa_responder`, which behaves like a well-behaved question-answer model.

Example::

    with FakeOllama() as fake:
        fake.push(HTTPError(500, "boom"), Reply('{"pairs": []}'))
        ...  # point the code under test at fake.url
        assert len(fake.requests) == 2
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "BUSY_MESSAGE",
    "Drop",
    "FakeOllama",
    "HTTPError",
    "MidStreamError",
    "Reply",
    "Slow",
    "busy",
    "not_found",
    "qa_responder",
    "split_sentences",
]

FAKE_VERSION = "0.12.6"
#: The 503 body text of a full queue (server/sched.go ErrMaxQueue; note the two spaces).
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


# --- scripted outcomes ----------------------------------------------------------------------------


@dataclass
class Reply:
    """A model answer. ``None`` counts are computed from the prompt and reply (``len // 3``).

    ``thinking`` is sent in ``message.thinking`` when not empty. ``metrics=False`` leaves out the
    six metrics. ``total_duration`` (ns) overrides the computed one. ``content`` is sent as it
    is, so malformed or truncated JSON, a leading ``<think>`` block or ``""`` are just replies.
    """

    content: str = ""
    thinking: str | None = None
    done_reason: str = "stop"
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    total_duration: int | None = None
    metrics: bool = True


@dataclass
class HTTPError:
    """An error status with body ``{"error": message}`` (or ``message`` as plain text when
    ``json_body`` is false, like a proxy's error page)."""

    status: int
    message: str
    json_body: bool = True


@dataclass
class Drop:
    """Close the connection after reading the request, without sending any response."""


@dataclass
class Slow:
    """Wait ``seconds`` before sending anything, then answer ``then`` (default ``Reply("ok")``)."""

    seconds: float
    then: Any = None


@dataclass
class MidStreamError:
    """Status 200, then an error.

    Streamed: ``partial`` as a content chunk (if not empty), then the line ``{"error": message}``
    (the client raises ``ResponseError`` with ``status_code == -1``). Not streamed: the body is
    the single object ``{"error": message}`` under status 200.
    """

    message: str
    partial: str = "The answer"


def busy() -> HTTPError:
    """503 with the body of a full queue."""
    return HTTPError(503, BUSY_MESSAGE)


def not_found(model: str) -> HTTPError:
    """404 as for a model that is not pulled."""
    return HTTPError(404, f"model '{model}' not found")


# --- model catalogue ------------------------------------------------------------------------------

_CATALOGUE: dict[str, dict[str, Any]] = {
    "qwen2.5:7b": {
        "size": 4683087332,
        "family": "qwen2",
        "parameter_size": "7.6B",
        "parameter_count": 7615616512,
        "context_length": 32768,
        "embedding_length": 3584,
        "capabilities": ["completion", "tools"],
    },
    "qwen3:8b": {
        "size": 5225388164,
        "family": "qwen3",
        "parameter_size": "8.2B",
        "parameter_count": 8190735360,
        "context_length": 40960,
        "embedding_length": 4096,
        "capabilities": ["completion", "tools", "thinking"],
    },
    "llama3.2:3b": {
        "size": 2019393189,
        "family": "llama",
        "parameter_size": "3.2B",
        "parameter_count": 3212749888,
        "context_length": 131072,
        "embedding_length": 3072,
        "capabilities": ["completion", "tools"],
    },
    "tinyllama:1.1b": {
        "size": 637700138,
        "family": "llama",
        "parameter_size": "1B",
        "parameter_count": 1100048384,
        "context_length": 2048,
        "embedding_length": 2048,
        "capabilities": ["completion"],
        "quantization_level": "Q4_0",
    },
    "nomic-embed-text:latest": {
        "size": 274302450,
        "family": "nomic-bert",
        "parameter_size": "137M",
        "parameter_count": 136727040,
        "context_length": 2048,
        "embedding_length": 768,
        "capabilities": ["embedding"],
        "quantization_level": "F16",
    },
}


def _full_name(name: str) -> str:
    """``qwen2.5`` → ``qwen2.5:latest`` as Ollama resolves names."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _spec(name: str) -> dict[str, Any]:
    """Metadata for ``name``: the catalogue entry, or a plausible one made from the name."""
    if name in _CATALOGUE:
        spec = dict(_CATALOGUE[name])
    else:
        base = name.split(":", 1)[0].rsplit("/", 1)[-1]
        family = re.sub(r"[^a-z]+.*$", "", base.lower()) or "llama"
        seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
        spec = {
            "size": 1_000_000_000 + seed % 4_000_000_000,
            "family": family,
            "parameter_size": "7B",
            "parameter_count": 7_000_000_000,
            "context_length": 8192,
            "embedding_length": 4096,
            "capabilities": ["completion"],
        }
    spec.setdefault("quantization_level", "Q4_K_M")
    spec["digest"] = hashlib.sha256(name.encode()).hexdigest()
    return spec


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_MODIFIED_AT = "2025-09-14T08:21:37.512804+08:00"


# --- the default responder ------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A fence is "<chunk>" or a per-request "<chunk-3f9a1c0b7d2e>" closed by the same tag.
_CHUNK = re.compile(r"^<(chunk(?:-[0-9a-f]+)?)>[ \t]*\r?\n(.*?)\r?\n^</\1>[ \t]*$", re.MULTILINE | re.DOTALL)
# Inside the fence the chunk follows two lines naming the document and the section, then a blank line.
_HEADER = re.compile(r"\A[^\n]*[:：][^\n]*\n[^\n]*[:：][^\n]*\n\n")
_SENTENCE_END = re.compile(r"(?<=[。！？])|(?<=[.!?])(?=\s)")
_LEADING_MARKS = re.compile(r"^(?:[#>*+|\-\s]+|\d+[.)]\s+)+")
_WORD_CHARS = re.compile(r"\w")
_N_IN_PROMPT = re.compile(r"(?:exactly|剛好寫出|刚好写出)\s*(\d+)", re.IGNORECASE)


def split_sentences(text: str, *, headings: bool = True) -> list[str]:
    """Distinct, non-trivial sentences of ``text`` in order, each an exact substring of it.

    Lines are split at ``。！？`` and at ``. ! ?`` followed by a space; Markdown marks at the start
    (``#``, ``-``, ``>``, ``|``, ``1.``) are dropped; pieces with fewer than 5 letters/digits are
    skipped, and so are Markdown heading lines when ``headings`` is false.
    """
    seen: set[str] = set()
    out: list[str] = []
    for line in text.splitlines():
        if not headings and line.lstrip().startswith("#"):
            continue
        for piece in _SENTENCE_END.split(line):
            piece = _LEADING_MARKS.sub("", piece.strip()).strip()
            if len(_WORD_CHARS.findall(piece)) < 5 or set(piece) <= set("|-: "):
                continue
            if piece not in seen:
                seen.add(piece)
                out.append(piece)
    return out


def _find_chunk(messages: list[dict]) -> str | None:
    """The text between the ``<chunk>`` (or ``<chunk-<hex>>``) line and its closing line of the
    latest user message that has them (a re-ask's last message may not)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        found = _CHUNK.findall(str(message.get("content") or ""))
        if found:
            return _HEADER.sub("", found[-1][1], count=1)
    return None


def _pairs_schema(fmt: Any) -> dict | None:
    if isinstance(fmt, dict):
        pairs = (fmt.get("properties") or {}).get("pairs")
        if isinstance(pairs, dict):
            return pairs
    return None


def _wanted_pairs(pairs_schema: dict | None, messages: list[dict]) -> int:
    if pairs_schema:
        for key in ("minItems", "maxItems"):
            if isinstance(pairs_schema.get(key), int) and pairs_schema[key] > 0:
                return pairs_schema[key]
    for message in reversed(messages):
        match = _N_IN_PROMPT.search(str(message.get("content") or ""))
        if match:
            return max(1, int(match.group(1)))
    return 3


def _question(sentence: str, cjk: bool, round_: int) -> str:
    if cjk:
        templates = ("關於「{s}」，文件說明了什麼？", "文件中「{s}」這部分的重點是什麼？", "請說明「{s}」的內容。")
        key = sentence[:12]
    else:
        templates = (
            'What does the document say about "{s}"?',
            'What is stated about "{s}"?',
            'Which detail is given about "{s}"?',
        )
        key = " ".join(sentence.split()[:5]).rstrip(".,;:!?")
    template = templates[round_ % len(templates)]
    question = template.format(s=key)
    return question if round_ < len(templates) else f"{question} ({round_ + 1})"


def qa_pairs_for(chunk: str, n: int, keys: list[str] | None = None) -> list[dict]:
    """``n`` deterministic QA pairs quoting sentences of ``chunk`` (see :func:`qa_responder`)."""
    sentences = split_sentences(chunk, headings=False)
    if len(sentences) < n:  # too few: let headings count too
        sentences = split_sentences(chunk)
    sentences = sentences or [chunk.strip() or "(empty)"]
    cjk = bool(_CJK.search(chunk))
    if len(sentences) >= n:
        picked = [sentences[i * len(sentences) // n] for i in range(n)]
        rounds = [0] * n
    else:
        picked = [sentences[i % len(sentences)] for i in range(n)]
        rounds = [i // len(sentences) for i in range(n)]
    keys = keys or ["question", "answer", "evidence"]
    pairs = []
    for sentence, round_ in zip(picked, rounds):
        values = {"question": _question(sentence, cjk, round_), "answer": sentence, "evidence": sentence}
        pairs.append({k: values.get(k, sentence) for k in keys})
    return pairs


def conversation_for(chunk: str, n: int) -> list[dict]:
    """``n`` deterministic exchanges about ``chunk`` (see :func:`qa_responder`): the first user turn
    names the subject, later ones follow on (``那「…」呢？`` / ``And what about "…"?``); each
    assistant turn is a sentence of the chunk and quotes it as its evidence."""
    cjk = bool(_CJK.search(chunk))
    turns = []
    for i, pair in enumerate(qa_pairs_for(chunk, n)):
        sentence = pair["answer"]
        key = sentence[:12] if cjk else " ".join(sentence.split()[:5]).rstrip(".,;:!?")
        follow = f"那「{key}」呢？" if cjk else f'And what about "{key}"?'
        turns.append({"user": pair["question"] if i == 0 else follow, "assistant": sentence, "evidence": sentence})
    return turns


_SOURCE = re.compile(r"^<(source(?:-[0-9a-f]+)?)>[ \t]*\r?\n(.*?)\r?\n^</\1>[ \t]*$", re.MULTILINE | re.DOTALL)
_ANSWER_LINE = re.compile(r"^(?:Answer|答案|回答|답변)[:：]\s*(.*)\Z", re.MULTILINE | re.DOTALL)


def _verdict(messages: list[dict]) -> dict:
    """A judge's verdict: faithful (5) when the answer is quoted from the ``<source>`` block, else 2."""
    text = str(messages[-1].get("content") or "") if messages else ""
    text = re.sub(r"\n</source(?:-[0-9a-f]+)?>\s*\Z", "", text)  # the fence around the pair
    source = _SOURCE.search(text)
    answer = _ANSWER_LINE.search(text)
    found = bool(source and answer and answer.group(1).strip() and answer.group(1).strip() in source.group(2))
    score = 5 if found else 2
    return {"faithfulness": score, "relevance": 4, "clarity": 4,
            "reason": "The answer is quoted from the source." if found else "The source does not say this."}


def qa_responder(request: dict) -> Reply:
    """Answer like a well-behaved QA model; deterministic.

    With a ``format`` schema ``{"properties": {"pairs": {"minItems": N, …}}}`` and a chunk between
    the lines ``<chunk>`` and ``</chunk>`` of a user message, it returns
    ``{"pairs": [{"question", "answer", "evidence"}, …]}`` with exactly N pairs, quoting N
    distinct sentences of the chunk (repeated when there are fewer). Questions on text with CJK
    characters are Traditional Chinese (``關於「<first 12 characters>」，文件說明了什麼？``),
    otherwise ``What does the document say about "<first five words>"?``. With ``format: "json"``
    and a chunk, N comes from "exactly N" in the prompt (default 3). Anything else gets a short
    plain-text answer. A ``format`` schema with a ``turns`` list of ``minItems`` N gets a
    conversation of N exchanges (:func:`conversation_for`). A ``format`` schema with ``faithfulness`` gets a judge's verdict: 5 when the
    answer is quoted from the ``<source>`` block of the prompt, else 2 (relevance and clarity 4).
    """
    messages = request.get("messages") or []
    fmt = request.get("format")
    if isinstance(fmt, dict) and "faithfulness" in (fmt.get("properties") or {}):
        return Reply(json.dumps(_verdict(messages), ensure_ascii=False))
    chunk = _find_chunk(messages)
    turns = (fmt.get("properties") or {}).get("turns") if isinstance(fmt, dict) else None
    if chunk is not None and isinstance(turns, dict):  # a conversation: {"turns": [{user, assistant, evidence}]}
        return Reply(json.dumps({"turns": conversation_for(chunk, int(turns.get("minItems") or 3))},
                                ensure_ascii=False))
    schema = _pairs_schema(fmt)
    if chunk is not None and (schema is not None or fmt == "json"):
        n = _wanted_pairs(schema, messages)
        keys = None
        if schema and isinstance(schema.get("items"), dict):
            props = schema["items"].get("properties")
            if isinstance(props, dict) and props:
                keys = list(props)
        return Reply(json.dumps({"pairs": qa_pairs_for(chunk, n, keys)}, ensure_ascii=False))
    if fmt == "json" or isinstance(fmt, dict):
        return Reply('{"reply": "ok"}')
    return Reply("Hello! This is a short answer from the fake model.")


# --- the server -----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOllama


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every reply (a real Ollama server, in Go, sets NODELAY).
    disable_nagle_algorithm = True
    server_version = "FakeOllama"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read requests from FakeOllama.requests, not from a log."""

    # -- plumbing --

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream_line(self, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> tuple[dict | None, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None, "missing request body"
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, f"invalid character in request body: {exc}"
        if not isinstance(body, dict):
            return None, "json: cannot unmarshal array into Go value of type api.Request"
        return body, None

    def _drop(self) -> None:
        self.close_connection = True
        try:
            # Linger 0 is not needed: a plain close after the body was read sends FIN only.
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing --

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        routes: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", "/"): lambda: self._text(200, "Ollama is running"),
            ("HEAD", "/"): lambda: self._text(200, "Ollama is running"),
            ("GET", "/api/version"): lambda: self._json(200, {"version": FAKE_VERSION}),
            ("HEAD", "/api/version"): lambda: self._json(200, {"version": FAKE_VERSION}),
            ("GET", "/api/tags"): self._tags,
            ("HEAD", "/api/tags"): self._tags,
            ("POST", "/api/show"): self._show,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/chat"): lambda: self._complete("/api/chat"),
            ("POST", "/api/generate"): lambda: self._complete("/api/generate"),
            ("POST", "/api/embed"): self._embed,
            ("POST", "/api/pull"): self._pull,
        }
        handler = routes.get((self.command, path))
        try:
            if self.server.fake._stopping.is_set():
                return self._drop()  # a stopped server: a kept-alive connection gets no answer either
            if handler is None:
                # Drain any body so the connection stays usable.
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._text(404, "404 page not found")
            else:
                handler()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    # -- simple endpoints --

    def _tags(self) -> None:
        fake = self.server.fake
        models = []
        for name in fake.model_names():
            spec = _spec(name)
            models.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": _MODIFIED_AT,
                    "size": spec["size"],
                    "digest": spec["digest"],
                    "details": _details(spec),
                }
            )
        self._json(200, {"models": models})

    def _model_request(self) -> tuple[dict, str] | None:
        """(body, model name) of a request naming a model, or None after sending the 400 error."""
        body, problem = self._body()
        if body is None:
            self._error(400, problem or "missing request body")
            return None
        name = body.get("model") or body.get("name") or ""
        if not name:
            self._error(400, "model is required")
            return None
        return body, name

    def _show(self) -> None:
        request = self._model_request()
        if request is None:
            return
        body, name = request
        fake = self.server.fake
        resolved = fake.resolve(name)
        if resolved is None:
            return self._error(404, f"model '{name}' not found")
        spec = _spec(resolved)
        arch = spec["family"]
        self._json(
            200,
            {
                "license": "Apache License 2.0",
                "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {resolved}\n",
                "parameters": 'stop                           "<|im_start|>"\nstop                           "<|im_end|>"',
                "template": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
                "details": _details(spec),
                "model_info": {
                    "general.architecture": arch,
                    "general.basename": resolved.split(":", 1)[0],
                    "general.file_type": 15,
                    "general.parameter_count": spec["parameter_count"],
                    "general.quantization_version": 2,
                    f"{arch}.context_length": spec["context_length"],
                    f"{arch}.embedding_length": spec["embedding_length"],
                    f"{arch}.block_count": 28,
                },
                "tensors": [],
                "capabilities": list(spec["capabilities"]),
                "modified_at": _MODIFIED_AT,
            },
        )

    def _ps(self) -> None:
        fake = self.server.fake
        with fake._lock:
            loaded = dict(fake._loaded)
        now = datetime.now(UTC)
        models = []
        for name, (until, num_ctx) in sorted(loaded.items(), key=lambda kv: kv[1][0], reverse=True):
            spec = _spec(name)
            models.append(
                {
                    "name": name,
                    "model": name,
                    "size": spec["size"],
                    "digest": spec["digest"],
                    "details": _details(spec),
                    "expires_at": _rfc3339(now + timedelta(seconds=max(0.0, until - time.time()))),
                    "size_vram": spec["size"],
                    "context_length": num_ctx,
                }
            )
        self._json(200, {"models": models})

    def _embed(self) -> None:
        body, problem = self._body()
        if body is None:
            return self._error(400, problem or "missing request body")
        name = body.get("model") or ""
        if not name:
            return self._error(400, "model is required")
        resolved = self.server.fake.resolve(name)
        if resolved is None:
            return self._error(404, f"model '{name}' not found")
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        embeddings = [_vector(str(text)) for text in inputs]
        self._json(
            200,
            {
                "model": resolved,
                "embeddings": embeddings,
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(max(1, len(str(t)) // 3) for t in inputs),
            },
        )

    def _pull(self) -> None:
        request = self._model_request()
        if request is None:
            return
        body, name = request
        fake = self.server.fake
        full = _full_name(name)
        if fake.pullable is not None and full not in fake.pullable:
            return self._error(500, "pull model manifest: file does not exist")
        spec = _spec(full)
        layer = spec["digest"]
        statuses: list[dict] = [{"status": "pulling manifest"}]
        total = spec["size"]
        for completed in (0, total // 2, total):
            statuses.append(
                {"status": f"pulling {layer[:12]}", "digest": f"sha256:{layer}", "total": total, "completed": completed}
            )
        statuses += [
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "removing unused layers"},
            {"status": "success"},
        ]
        fake.add_model(full)
        if body.get("stream", True) is False:
            return self._json(200, statuses[-1])
        self._start_stream()
        for status in statuses:
            self._stream_line(status)
        self._end_stream()

    # -- chat and generate --

    def _complete(self, path: str) -> None:
        fake = self.server.fake
        received = time.monotonic()
        body, problem = self._body()
        if body is None:
            return self._error(400, problem or "missing request body")
        fake._record(dict(body, path=path))
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._complete_recorded(body, path, received)
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _complete_recorded(self, body: dict, path: str, received: float) -> None:
        fake = self.server.fake
        stream = body.get("stream", True) is not False
        outcome = fake._next_outcome() if path == "/api/chat" else None
        if outcome is None:
            outcome = self._respond(body, path)
            if isinstance(outcome, HTTPError):
                return self._outcome(outcome, body, path, stream)
        if fake.latency_s > 0 and isinstance(outcome, Reply):
            # The latency is from request to reply, the fake's own work included, like a model's.
            fake._stopping.wait(max(0.0, fake.latency_s - (time.monotonic() - received)))
        if fake._stopping.is_set():
            return self._drop()  # the server died while the model was answering
        self._outcome(outcome, body, path, stream)

    def _respond(self, body: dict, path: str) -> Any:
        """Validate like Ollama's handlers, then ask the responder."""
        fake = self.server.fake
        name = body.get("model") or ""
        if not isinstance(name, str) or not name:
            return HTTPError(400, "model is required")
        resolved = fake.resolve(name)
        if resolved is None:
            return HTTPError(404, f"model '{name}' not found")
        spec = _spec(resolved)
        think = body.get("think")
        if think is not None and not isinstance(think, bool) and think not in ("low", "medium", "high", "max"):
            return HTTPError(400, f"invalid think value: {json.dumps(think)}")
        thinks = "thinking" in spec["capabilities"]
        if think not in (None, False) and not thinks:
            return HTTPError(400, f'"{name}" does not support thinking')
        fmt = body.get("format")
        if fmt not in (None, "", "json") and not isinstance(fmt, dict):
            return HTTPError(500, f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON Schema object')
        options = body.get("options") or {}
        for key in ("num_ctx", "num_predict", "top_k", "seed", "num_keep", "num_batch"):
            value = options.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value != int(value)):
                return HTTPError(500, f'option "{key}" must be of type integer')

        if path == "/api/chat":
            messages = body.get("messages")
            if not messages:
                reason = "unload" if body.get("keep_alive") in (0, 0.0, "0", "0s") else "load"
                return Reply("", done_reason=reason, metrics=False)
            request = body
        else:
            prompt = body.get("prompt") or ""
            if not prompt:
                reason = "unload" if body.get("keep_alive") in (0, 0.0, "0", "0s") else "load"
                return Reply("", done_reason=reason, metrics=False)
            messages = []
            if body.get("system"):
                messages.append({"role": "system", "content": body["system"]})
            messages.append({"role": "user", "content": prompt})
            request = dict(body, messages=messages)

        window = _window(options, spec)
        if prompt_tokens(request.get("messages") or []) > window:
            request = dict(request, messages=_cut_to_window(request.get("messages") or [], window))
        result = fake.responder(request)
        if isinstance(result, str):
            result = Reply(result)
        if isinstance(result, Reply):
            result = dataclasses.replace(result)  # a responder may hand back the same object
            if thinks and think is not False and not result.thinking:
                result.thinking = "The user wants an answer based on the text. I will quote it closely."
            limit = options.get("num_predict")
            if isinstance(limit, int) and limit > 0 and len(result.content) // 3 > limit:
                result.content = result.content[: limit * 3]
                result.done_reason = "length"
        return result

    def _outcome(self, outcome: Any, body: dict, path: str, stream: bool) -> None:
        fake = self.server.fake
        if isinstance(outcome, str):
            outcome = Reply(outcome)
        if isinstance(outcome, Slow):
            if fake._stopping.wait(outcome.seconds):
                return self._drop()
            return self._outcome(outcome.then if outcome.then is not None else Reply("ok"), body, path, stream)
        if isinstance(outcome, Drop):
            return self._drop()
        if isinstance(outcome, HTTPError):
            if outcome.json_body:
                return self._error(outcome.status, outcome.message)
            return self._send(outcome.status, outcome.message.encode(), "text/html; charset=utf-8")
        if isinstance(outcome, MidStreamError):
            if not stream:
                return self._json(200, {"error": outcome.message})
            self._start_stream()
            if outcome.partial:
                self._stream_line(_chunk(path, _model(body), content=outcome.partial))
            self._stream_line({"error": outcome.message})
            return self._end_stream()
        if isinstance(outcome, Reply):
            return self._reply(outcome, body, path, stream)
        raise TypeError(f"unknown fake outcome {outcome!r}")

    def _reply(self, reply: Reply, body: dict, path: str, stream: bool) -> None:
        fake = self.server.fake
        model = _model(body)
        prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
        prompt_chars += len(str(body.get("prompt") or "")) + len(str(body.get("system") or ""))
        thinking = reply.thinking or ""
        final: dict[str, Any] = {"done": True, "done_reason": reply.done_reason}
        if reply.metrics:
            window = _window(body.get("options") or {}, _spec(model)) if model else 1 << 30
            prompt_eval = reply.prompt_eval_count if reply.prompt_eval_count is not None else min(
                window, max(1, prompt_chars // 3 + 2 * _astral(body)))
            evals = reply.eval_count if reply.eval_count is not None else max(1, len(reply.content + thinking) // 3)
            load_ns, prompt_ns, eval_ns = 2_154_458, prompt_eval * 1_000_000, evals * 20_000_000
            total = reply.total_duration if reply.total_duration is not None else load_ns + prompt_ns + eval_ns
            final.update(
                total_duration=total,
                load_duration=load_ns,
                prompt_eval_count=prompt_eval,
                prompt_eval_duration=prompt_ns,
                eval_count=evals,
                eval_duration=eval_ns,
            )
        if path == "/api/generate":
            final["context"] = [151644, 872, 198]
        if reply.done_reason not in ("load", "unload"):
            options = body.get("options") or {}
            num_ctx = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else 4096
            fake._mark_loaded(model, num_ctx)

        if not stream:
            obj = _chunk(path, model, content=reply.content, thinking=thinking)
            obj.update(final)
            return self._json(200, obj)

        self._start_stream()
        for piece in _pieces(thinking):
            self._stream_line(_chunk(path, model, content="", thinking=piece))
        for piece in _pieces(reply.content):
            self._stream_line(_chunk(path, model, content=piece))
        last = _chunk(path, model, content="")
        last.update(final)
        self._stream_line(last)
        self._end_stream()


DEFAULT_NUM_CTX = 4096
"""The window Ollama uses when a request sets no ``num_ctx`` (0.6 and later, docs/context-length.mdx)."""
NUM_KEEP = 4
"""Tokens at the start of a cut prompt that Ollama's runner keeps (``num_keep``, with BOS)."""


def _window(options: dict, spec: dict) -> int:
    """The context window a request gets: its ``num_ctx`` (else :data:`DEFAULT_NUM_CTX`), capped by
    the model's ``context_length`` as Ollama does ("requested context size too large for model")."""
    num_ctx = options.get("num_ctx")
    asked = int(num_ctx) if isinstance(num_ctx, (int, float)) and not isinstance(num_ctx, bool) and num_ctx > 0 \
        else DEFAULT_NUM_CTX
    return min(asked, int(spec["context_length"]))


def _astral(body: dict) -> int:
    """Characters above U+FFFF in the request (emoji): byte-level BPE spends about 3 tokens on
    each, 2 more than the fake's one token per 3 characters."""
    text = "".join(str(m.get("content") or "") for m in body.get("messages") or [])
    text += str(body.get("prompt") or "") + str(body.get("system") or "")
    return sum(1 for ch in text if ord(ch) > 0xFFFF)


def prompt_tokens(messages: list[dict]) -> int:
    """The fake's token count of a prompt: one per 3 characters, plus 2 per character above U+FFFF."""
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    return max(1, chars // 3 + 2 * _astral({"messages": messages}))


def _cut_to_window(messages: list[dict], window: int) -> list[dict]:
    """What the model sees of a prompt longer than ``window`` tokens, as Ollama's runner cuts it:
    the first :data:`NUM_KEEP` tokens, then the last ones, so that ``window`` tokens are left
    (runner/ollamarunner/runner.go, "truncating input prompt"). Counted in the fake's tokens
    (3 characters each), over the messages' contents joined in order."""
    excess_chars = (prompt_tokens(messages) - window) * 3
    keep_chars = NUM_KEEP * 3
    out: list[dict] = []
    for message in messages:
        content = str(message.get("content") or "")
        if excess_chars > 0:
            start = keep_chars if not out else 0
            cut = min(excess_chars, max(0, len(content) - start))
            content = content[:start] + content[start + cut:]
            excess_chars -= cut
        out.append(dict(message, content=content))
    return out


def _details(spec: dict) -> dict:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec["family"],
        "families": [spec["family"]],
        "parameter_size": spec["parameter_size"],
        "quantization_level": spec["quantization_level"],
    }


def _model(body: dict) -> str:
    name = body.get("model")
    return _full_name(name) if isinstance(name, str) and name else ""


def _chunk(path: str, model: str, content: str, thinking: str = "") -> dict:
    created = _rfc3339(datetime.now(UTC))
    if path == "/api/generate":
        obj: dict[str, Any] = {"model": model, "created_at": created, "response": content}
        if thinking:
            obj["thinking"] = thinking
    else:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message["thinking"] = thinking
        obj = {"model": model, "created_at": created, "message": message}
    obj["done"] = False
    return obj


def _pieces(text: str, size: int = 16) -> list[str]:
    """``text`` cut into stream pieces (about ``size`` characters, ending after whitespace)."""
    pieces, current = [], ""
    for part in re.split(r"(?<=\s)", text):
        current += part
        if len(current) >= size:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _vector(text: str, dims: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [v / 65535.0 - 0.5 for v in struct.unpack(f">{dims}H", digest[: 2 * dims])]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in raw]


# --- the fake -------------------------------------------------------------------------------------


class FakeOllama:
    """A fake Ollama on ``127.0.0.1`` at a free port, served from a background thread.

    ``models`` are the names ``/api/tags`` lists (``qwen2.5`` means ``qwen2.5:latest``);
    ``latency_s`` is the time from request to reply of every chat/generate call (the fake's own
    work included); ``responder(request) -> Reply | str`` answers chat and generate when no scripted outcome is queued (default :func:`qa_responder`;
    a generate request is given ``messages`` built from ``system`` and ``prompt``).

    ``requests`` holds every parsed JSON body sent to ``/api/chat`` and ``/api/generate``, in
    arrival order, with an added ``"path"``; ``max_in_flight`` is the most of them answered at
    once. A prompt longer than the request's window (``num_ctx``, default 4096, capped by the
    model's ``context_length``) is cut as Ollama cuts it before the responder sees it, and
    ``prompt_eval_count`` is then the window. :meth:`stop` is a server dying: requests in flight
    and kept-alive connections get no answer, new connections are refused. ``pullable`` (``None`` = any name) limits which
    names ``/api/pull`` accepts; a pulled model is added to ``/api/tags``.
    """

    def __init__(
        self,
        models: tuple[str, ...] | list[str] = ("qwen2.5:7b",),
        latency_s: float = 0.0,
        responder: Callable[[dict], Any] | None = None,
    ):
        self._models = [_full_name(m) for m in models]
        self.latency_s = latency_s
        self.responder = responder or qa_responder
        self.pullable: set[str] | None = None
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: list[Any] = []
        self._loaded: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle --

    def start(self) -> FakeOllama:
        """Bind a free port and serve in a daemon thread; sets :attr:`url`."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port, like a server that dies: new connections are refused
        at once, and requests in flight (``Slow`` and latency included) get no answer. It may be
        called from the responder, to die while answering."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        try:  # refuse new connections at once, as a process that died would
            server.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form ``OLLAMA_HOST`` takes."""
        return self.url.split("://", 1)[-1]

    # -- scripting --

    def push(self, *outcomes: Any) -> None:
        """Queue outcomes for the next ``/api/chat`` calls, used in order (a ``str`` is a
        ``Reply``). When the queue is empty the responder answers."""
        with self._lock:
            self._queue.extend(outcomes)

    def pending(self) -> int:
        """How many pushed outcomes are not used yet."""
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[dict]:
        """The recorded bodies sent to ``/api/chat``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == "/api/chat"]

    def model_names(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def add_model(self, name: str) -> None:
        full = _full_name(name)
        with self._lock:
            if full not in self._models:
                self._models.append(full)

    def remove_model(self, name: str) -> None:
        full = _full_name(name)
        with self._lock:
            if full in self._models:
                self._models.remove(full)

    def resolve(self, name: str) -> str | None:
        """The full name of ``name`` if the fake has that model."""
        full = _full_name(name)
        with self._lock:
            return full if full in self._models else None

    # -- used by the handler --

    def _record(self, body: dict) -> None:
        with self._lock:
            self.requests.append(body)

    def _next_outcome(self) -> Any:
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def _mark_loaded(self, model: str, num_ctx: int) -> None:
        with self._lock:
            self._loaded[model] = (time.time() + 300, num_ctx)
