"""The CLI against a real model: SmolLM2-135M-Instruct served by llama.cpp's ``llama-server`` over
the OpenAI chat API (``bash scripts/real_model.sh start``; ``scripts/test.sh`` starts it and sets
``DATASET_GEN_REAL_MODEL_URL``). A 135M model writes poor pairs, so these tests assert what such a
model allows: every chunk ends as parsed pairs or a stored, readable failure, the exit codes follow
the rules of :mod:`dataset_gen.cli`, an export holds back what fails the gate and what it writes
is valid for LLaMA-Factory, and nothing crashes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dataset_gen.cli import main
from dataset_gen.export import validate
from dataset_gen.store import Store

URL = os.environ.get("DATASET_GEN_REAL_MODEL_URL", "")
MODEL = "smollm2-135m-instruct"
CORPUS = Path(__file__).parent / "data" / "corpus"
pytestmark = pytest.mark.skipif(
    not URL, reason="no real model: set DATASET_GEN_REAL_MODEL_URL to the URL that "
                    "`bash scripts/real_model.sh start` prints")


def _cli(*args: str, data: Path) -> int:
    return main(["--data-dir", str(data), *args])


def test_generate_and_export_through_a_real_model(tmp_path, capsys):
    files = []
    for name in ("md_codeblocks_sniffed_as_html.md",):  # one chunk: a few seconds of the model
        shutil.copy(CORPUS / name, tmp_path / name)
        files.append(str(tmp_path / name))
    data = tmp_path / "data"
    rc = _cli("generate", *files, "--api", "openai", "--host", URL, "--model", MODEL,
              "--project", "live", "--pairs-per-chunk", "2", "--concurrency", "1", "--seed", "42",
              "--num-predict", "400", "--timeout", "120", data=data)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out

    with Store.open(data) as store:
        project_id = store.project_id("live")
        chunks = store.list_chunks(project_id)
        pairs = store.list_pairs(project_id)
    assert chunks and {c.gen_status for c in chunks} <= {"done", "failed"}
    failed = [c for c in chunks if c.gen_status == "failed"]
    for chunk in failed:  # a stored failure a person can read: one line
        assert chunk.gen_error and "\n" not in chunk.gen_error.strip()
    assert all(p.question.strip() and p.answer.strip() for p in pairs)
    done = {c.id for c in chunks if c.gen_status == "done"}
    assert done <= {p.chunk_id for p in pairs}
    # exit 0 when every chunk worked and most items pass, 1 otherwise; never a crash (2 = bad input)
    assert rc in (0, 1)
    if failed:
        assert rc == 1

    output = tmp_path / "out" / "train.json"
    rc = _cli("export", "--project", "live", "--format", "alpaca", "--output", str(output),
              "--include-unreviewed", data=data)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if not pairs:  # nothing to export: one line that says so
        assert rc == 2 and "No pairs to export" in err and not output.exists(), err
    elif rc == 0:
        records = json.loads(output.read_text(encoding="utf-8"))
        assert validate("alpaca", records) == []
        assert len(records) <= len(pairs)
    else:  # everything held back: one line that says so, with the reasons
        assert rc == 2 and "held back" in err and not output.exists(), err


def test_models_lists_the_real_model(tmp_path, capsys):
    assert _cli("models", "--api", "openai", "--host", URL, data=tmp_path / "data") == 0
    assert MODEL in capsys.readouterr().out
