"""The app on a read-only data folder: every page says so once, every change is disabled, reading,
the trial and downloads keep working; a read-only folder without a database is one error line.

The folder is made read-only for real with chmod. Root ignores permission bits through the
capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so as root the app runs (in Streamlit's
AppTest) in a child process started without them (``setpriv --bounding-set``), as
``tests/test_store_errors.py`` does for the store; as any other user the child runs as it is. The
child first checks that it really cannot write there, then prints what each page showed as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dataset_gen.store import Store
from ui.safe import md_escape

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"
ELSEWHERE = "set DATASET_GEN_DATA_DIR / --data-dir to another folder"
UNFENCED = "---\nname: qa_generate\nlanguage: en\nversion: 9\n---\n=== user ===\nWrite pairs about:\n{{chunk}}\n"

CHILD = r"""
import json, os, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest

data_dir = Path(os.environ["DATASET_GEN_DATA_DIR"])
project_id = int(sys.argv[1])
result = {}
try:
    with open(data_dir / "probe", "ab"):
        result["probe"] = "writable"
except OSError as error:
    result["probe"] = type(error).__name__


def page(name):
    at = AppTest.from_file("app.py", default_timeout=60)
    if project_id:
        at.session_state["project_id"] = project_id
    at.run()
    if name != "projects":
        at.switch_page(f"ui/pages/{name}.py")
        at.run()
    return at


def seen(at):
    return {
        "exception": [e.value for e in at.exception],
        "warning": [w.value for w in at.warning],
        "error": [e.value for e in at.error],
        "buttons": sorted({b.label: b.proto.disabled for b in at.button}.items()),
        "inputs": sorted({w.label: w.proto.disabled for w in [*at.text_input, *at.text_area]}.items()),
        "uploads": [u.proto.disabled for u in at.file_uploader],
        "editors": [d.proto.disabled for d in at.dataframe if d.editing_mode != "read_only"],
        "downloads": [[d.label, d.proto.disabled] for d in at.get("download_button")],
    }


if not project_id:
    result["projects"] = seen(page("projects"))
else:
    for name in ("projects", "documents", "chunks", "generate", "review"):
        at = page(name)
        result[name] = seen(at)
        if name == "generate":
            next(b for b in at.button if b.label == "Try one chunk").click().run()
            result["trial"] = [at.exception == [], any(c.value.startswith('{"pairs"') for c in at.code)]
    at = page("export")
    next(c for c in at.checkbox if c.label == "Include unreviewed pairs").check().run()
    result["export"] = seen(at)
    result["export_path"] = [c.value for c in at.code]
    result["documents_listed"] = list(page("documents").dataframe[0].value["document"])
print(json.dumps(result))
"""


def run_app_bound_by_permissions(data_dir: Path, project_id: int, ollama: str) -> dict:
    """Run :data:`CHILD` on ``data_dir`` in a process that file permission bits bind, and return
    what it printed (as root: a child without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH)."""
    command = [sys.executable, "-c", CHILD, str(project_id)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATASET_GEN_DATA_DIR": str(data_dir), "OLLAMA_HOST": ollama}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` with permission bits 0o555 inside the block, its old ones after."""
    old = folder.stat().st_mode & 0o7777
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(old)


def test_every_page_on_a_read_only_folder_reads_and_downloads_but_changes_nothing(tmp_path, fake_ollama):
    from dataset_gen.backends import OllamaBackend
    from dataset_gen.config import ChunkSettings, ProjectConfig, Settings
    from dataset_gen.generation import run_generation
    from dataset_gen.ingest import ingest_bytes

    data = tmp_path / "data"
    name = "ollama-notes-zh-TW.md"
    with Store.open(data) as store:
        project_id = store.create_project("notes", ProjectConfig(model="qwen2.5:7b", judge_model="qwen2.5:7b").model_dump())
        ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
        run_generation(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", Settings(pairs_per_chunk=1))
        chunks = len(store.list_chunks(project_id))
        pairs = store.count_pairs(project_id)
        store.set_status(store.pair_ids(project_id)[:1], "accepted")
        # Saved as typed (the CLI does not strip it): the page must not try to save it again.
        store.set_prompt_override(project_id, "qa_generate.en", UNFENCED)
    before = sorted(os.listdir(data))
    with read_only(data):
        seen = run_app_bound_by_permissions(data, project_id, fake_ollama.url)
    assert sorted(os.listdir(data)) == before  # nothing written, not even a lock file

    banner = (f"The data folder {md_escape(str(data))} is read-only: its projects can be read and exported by "
              "download, but nothing can be saved.")
    assert seen["probe"] == "PermissionError"
    for page in ("projects", "documents", "chunks", "generate", "review", "export"):
        assert seen[page]["exception"] == [], page
        assert seen[page]["error"] == [], page
        assert seen[page]["warning"][0] == banner, page
    assert seen["chunks"]["warning"][1:] == [f"This deletes {pairs} pairs made from the old chunks. Re-split anyway?"]
    assert seen["projects"]["warning"][1:] == [
        "qa_generate.en: this override has no `{{fence}}` placeholder, so a document's text can close the data "
        "fence and pass for instructions; copy the fence lines from the built-in template."]
    assert all(len(seen[page]["warning"]) == 1 for page in ("documents", "generate", "review", "export"))

    assert seen["projects"]["buttons"] == [["Check again", False], ["Create", True], ["Delete project", True],
                                           ["Open", False], ["Rename", True], ["Save settings", True]]
    inputs = dict(seen["projects"]["inputs"])
    overrides = [f"qa_generate.{lang}" for lang in ("en", "zh-TW", "zh-CN")]  # the prompt picked first
    assert {k: inputs.pop(k) for k in overrides} == dict.fromkeys(overrides, True)
    assert inputs["New project name"] and inputs["Rename to"] and inputs["Type the project name to confirm deletion"]
    assert not inputs["Judge model (empty: no judge)"]  # the settings form can be read (its save button is disabled)

    assert seen["documents"]["uploads"] == [True]
    assert seen["documents"]["buttons"] == [["Delete document", True]]
    assert seen["documents_listed"] == [name]

    assert seen["chunks"]["inputs"] == [["Search chunks", False],
                                        ["Text (edit and save; the chunk is generated again at the next run)", True]]
    buttons = dict(seen["chunks"]["buttons"])
    assert buttons == {"Save text": True, "Merge with next": True, "Delete chunk": True,
                       "Re-split with the project's chunk settings": True}

    assert dict(seen["generate"]["buttons"]) == {"Check again": False, "Try one chunk": False, "Start generation": True}
    assert seen["trial"] == [True, True]

    review = dict(seen["review"]["buttons"])
    assert review == {"Score unjudged pairs with " + md_escape("qwen2.5:7b"): True,
                      "Find near-duplicates (keep one per cluster)": True,
                      "Convert Simplified pairs of Traditional documents": True,
                      "Undo": True, "Previous": True, "Next": False, "Accept": True,
                      "Reject": True, "Edit": True,
                      "Accept the 0 ticked": True, "Reject the 0 ticked": True,
                      f"Accept all {pairs} filtered": True, f"Reject all {pairs} filtered": True}
    assert seen["review"]["editors"] == [True]

    assert seen["export"]["buttons"] == [["Assign splits", True], ["Write files", True]]
    assert seen["export"]["downloads"] == [["Download", False], ["Ragas JSONL", False], ["Ragas CSV", False],
                                           ["BEIR retrieval set (.zip)", False]]
    assert seen["export_path"] == [str(data.resolve() / "exports" / "notes" / "notes-alpaca.json")]
    assert chunks > 1


def test_a_read_only_folder_without_a_database_is_one_error_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with read_only(data):
        seen = run_app_bound_by_permissions(data, 0, "http://127.0.0.1:9")
    assert seen["probe"] == "PermissionError"
    assert seen["projects"]["exception"] == []
    assert seen["projects"]["error"] == [md_escape(f"{data} is read-only and holds no dataset-gen database yet: make "
                                                   f"it writable or {ELSEWHERE}")]
    assert seen["projects"]["warning"] == [] and seen["projects"]["buttons"] == []
    assert os.listdir(data) == []
