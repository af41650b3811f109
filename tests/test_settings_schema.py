"""One settings schema: the CLI and the app offer the bounds and defaults ProjectConfig declares,
and ``generate --project`` runs with the project's saved settings (what the fake Ollama received),
options given on the command line overriding them for that run and saying so."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.cli import _parser, main
from dataset_gen.cli_settings import GENERATE_SETTINGS, given, run_config
from dataset_gen.config import ChunkSettings, ProjectConfig, Settings
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
NOTES_MD = CORPUS / "ollama-notes-zh-TW.md"
OTHER_MD = CORPUS / "md_frontmatter_mkdocs_admonitions.md"

# (the app's label, the CLI's flag, lowest, highest, default of a new project)
NUMBERS = [
    ("Largest chunk (characters)", "--chunk-size", 200, 20000, 2000),
    ("Smallest section kept alone (characters)", "--min-chunk-size", 0, 20000, 400),
    ("Overlap (characters, recursive only)", "--chunk-overlap", 0, 5000, 200),
    ("QA pairs per chunk", "--pairs-per-chunk", 1, 20, 3),
    ("Chunks at once", "--concurrency", 1, 32, 4),
    ("Temperature", "--temperature", 0.0, 2.0, 0.7),
    ("top_k", "--top-k", 1, 1000, None),
]


def run(capsys, *args) -> tuple[int, list[str]]:
    """``main`` in this process: (exit code, stderr lines)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err.splitlines()


def cli(data_dir: Path, *args) -> tuple[int, list[str]]:
    """``python -m dataset_gen`` as a process of its own (the app's log handler stays out of it):
    (exit code, stderr lines)."""
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-m", "dataset_gen", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr.splitlines()


def open_projects_page(project_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/projects.py")
    at.run()
    assert not at.exception, at.exception
    return at


def number(at: AppTest, label: str):
    return next(w for w in at.number_input if w.label == label)


def test_the_cli_and_the_app_offer_the_same_bounds_and_defaults(app_data_dir, capsys):
    with Store.open(app_data_dir) as store:
        project_id = store.create_project("bounds")
    at = open_projects_page(project_id)
    help_text = " ".join(_parser()._subparsers._group_actions[0].choices["generate"].format_help().split())
    for label, option, low, high, default in NUMBERS:
        widget = number(at, label)
        assert (widget.min, widget.max, widget.value) == (low, high, default), label
        shown = "the server's" if default is None else f"{default:g}"
        assert f"{option} " in help_text and f", {low:g}-{high:g} (default: the project's, else {shown})" in help_text
        for wrong in (low - 1, high + 1):
            with pytest.raises(SystemExit):
                main(["generate", "x.md", option, str(wrong)])
            err = capsys.readouterr().err
            assert f"argument {option}: must be from {low:g} to {high:g}, got {wrong:g}" in err, err


def test_chunk_size_1000_gives_the_same_smallest_section_in_the_cli_and_the_app(app_data_dir):
    with Store.open(app_data_dir) as store:
        app_project = store.create_project("app")
    at = open_projects_page(app_project)
    next(w for w in at.selectbox if w.label == "Model").select("qwen2.5:7b")
    number(at, "Largest chunk (characters)").set_value(1000)
    next(b for b in at.button if b.label == "Save settings").click().run()
    with Store.open(app_data_dir) as store:
        saved = ProjectConfig.load(store.get_settings(app_project))
    assert saved.chunking() == ChunkSettings(max_chars=1000, min_chars=400, overlap=200)
    from_flag = run_config(ProjectConfig(), given(_parser().parse_args(["generate", "x", "--chunk-size", "1000"]),
                                                  GENERATE_SETTINGS))
    assert from_flag.chunking() == ChunkSettings(max_chars=1000, min_chars=400, overlap=200)

    # The same file split through the CLI's flag and through the app's saved setting: the same chunks.
    code, err = cli(app_data_dir, "generate", NOTES_MD, "--project", "cli", "--model", "qwen2.5:7b",
                    "--chunk-size", "1000")
    assert code == 0 and err[0] == "ollama-notes-zh-TW.md: 28 chunks (new)", err
    code, err = cli(app_data_dir, "generate", NOTES_MD, "--project", "app")
    assert code == 0 and err[0] == "ollama-notes-zh-TW.md: 28 chunks (new)", err
    with Store.open(app_data_dir) as store:
        by_cli, by_app = ([c.text for c in store.list_chunks(store.project_id(p))] for p in ("cli", "app"))
    assert by_cli == by_app

    # A smallest section above half the largest chunk is cut to half, and the page says so.
    number(at, "Largest chunk (characters)").set_value(600)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert [c.value for c in at.caption if c.value.startswith("Used for chunks")] == [
        "Used for chunks of at most 600 characters: smallest section 300, overlap 200 "
        "(each at most half the largest chunk)."]


def saved_project(data_dir: Path, host: str) -> int:
    with Store.open(data_dir) as store:
        project_id = store.create_project("saved")
        store.set_settings(project_id, ProjectConfig(
            model="llama3.2:3b", host=host, chunk_max_chars=1000, question_types=["factual", "unanswerable"],
            pairs_per_chunk=2, temperature=0.2, top_k=20, seed=7, concurrency=1).model_dump())
    return project_id


def sampling_sent(requests: list[dict]) -> set[tuple]:
    """The distinct (model, temperature, top_k, seed) the server received."""
    return {(r["model"], r["options"].get("temperature"), r["options"].get("top_k"), r["options"].get("seed"))
            for r in requests}


def test_generate_project_uses_the_saved_settings_and_reports_an_override(tmp_path, capsys):
    with FakeOllama(models=("qwen2.5:7b", "llama3.2:3b")) as fake:
        project_id = saved_project(tmp_path, fake.url)  # no --host: the saved host is the only way to the fake
        code, err = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--project", "saved")
        assert code == 0, err
        assert err[0] == "ollama-notes-zh-TW.md: 28 chunks (new)"  # chunk size 1000, as saved
        assert not [line for line in err if "overridden" in line]
        first = fake.chat_requests()
        assert sampling_sent(first) == {("llama3.2:3b", 0.2, 20, 7)}
        assert fake.max_in_flight == 1  # concurrency 1
        with Store.open(tmp_path) as store:
            pairs = store.list_pairs(project_id)
        assert sorted({p.question_type for p in pairs}) == ["factual", "unanswerable"]
        # every request asks for the saved 2 pairs (both types, every chunk: 28 x 2 requests)
        assert [r["format"]["properties"]["pairs"]["maxItems"] for r in first] == [2] * 56

        code, err = run(capsys, "--data-dir", tmp_path, "generate", OTHER_MD, "--project", "saved",
                        "--temperature", "0.9", "--chunk-size", "1000", "--model", "qwen2.5:7b")
        assert code == 0, err
        assert err[0] == ("using the settings saved in project 'saved'; overridden for this run: "
                          "--temperature 0.9, --model qwen2.5:7b")  # --chunk-size 1000 is the saved value
        assert sampling_sent(fake.chat_requests()[len(first):]) == {("qwen2.5:7b", 0.9, 20, 7)}
    with Store.open(tmp_path) as store:  # for that run only
        kept = ProjectConfig.load(store.get_settings(project_id))
    assert (kept.model, kept.temperature, kept.chunk_max_chars) == ("llama3.2:3b", 0.2, 1000)


def test_a_new_project_saves_its_first_runs_settings_and_a_project_without_a_model_is_refused(
        tmp_path, fake_ollama, capsys):
    code, err = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--project", "fresh")
    assert (code, err) == (2, ["error: No model for project 'fresh': pass --model NAME (e.g. qwen2.5:7b) "
                               "or set one in the project's settings"])
    with Store.open(tmp_path) as store:
        assert store.list_projects() == []
    code, err = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--project", "fresh", "--model",
                    "qwen2.5:7b", "--host", fake_ollama.url, "--chunk-size", "1500", "--question-types",
                    "factual,comparison")
    assert code == 0, err
    with Store.open(tmp_path) as store:
        saved = store.get_settings(store.project_id("fresh"))
    assert {k: saved[k] for k in ("model", "host", "chunk_max_chars", "question_types", "pairs_per_chunk")} == {
        "model": "qwen2.5:7b", "host": fake_ollama.url, "chunk_max_chars": 1500,
        "question_types": ["factual", "comparison"], "pairs_per_chunk": 3}
    before = len(fake_ollama.chat_requests())
    code, err = run(capsys, "--data-dir", tmp_path, "generate", OTHER_MD, "--project", "fresh")
    assert code == 0 and not [line for line in err if "overridden" in line], err
    assert {r["model"] for r in fake_ollama.chat_requests()[before:]} == {"qwen2.5:7b"}


def test_old_saved_settings_still_load_and_run(tmp_path, fake_ollama, capsys):
    # Settings as an early version saved them: no api, hosts, ocr or timeout yet, a key since
    # dropped (num_ctx), a top_k beyond today's bounds, and a smallest section above half the largest.
    old = {"model": "qwen2.5:7b", "host": fake_ollama.host, "chunk_strategy": "markdown", "chunk_max_chars": 1200,
           "chunk_min_chars": 900, "chunk_overlap": 100, "chunk_separator": "\n\n", "pairs_per_chunk": 2,
           "temperature": 0.3, "top_k": 5000, "num_ctx": 8192, "concurrency": 2, "language": "zh-TW",
           "question_types": ["factual"], "system_prompt": ""}
    config = ProjectConfig.load(old)
    assert (config.api, config.hosts, config.top_k, config.read_timeout_s, config.ocr) == ("ollama", [], None, None,
                                                                                           False)
    assert config.chunking() == ChunkSettings(max_chars=1200, min_chars=600, overlap=100)
    with Store.open(tmp_path) as store:
        store.set_settings(store.create_project("old"), old)
    code, err = run(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--project", "old")
    assert code == 0, err
    assert sampling_sent(fake_ollama.chat_requests()) == {("qwen2.5:7b", 0.3, None, None)}
    with Store.open(tmp_path) as store:  # a run does not rewrite what the project saved
        assert store.get_settings(store.project_id("old")) == old


def test_judge_uses_the_saved_judge_model_and_server(tmp_path, fake_ollama, capsys):
    with Store.open(tmp_path) as store:
        store.set_settings(store.create_project("j"), ProjectConfig(
            model="qwen2.5:7b", host=fake_ollama.url, judge_model="qwen2.5:7b", pairs_per_chunk=1).model_dump())
    assert run(capsys, "--data-dir", tmp_path, "generate", OTHER_MD, "--project", "j")[0] == 0
    code, err = run(capsys, "--data-dir", tmp_path, "judge", "--project", "j")
    assert code == 0 and re.fullmatch(r"judged (\d+) of \1 pairs in [0-9.]+s", err[-1]), err


def test_the_schema_defaults_are_the_core_defaults():
    assert ProjectConfig().apply(Settings()) == Settings()
    assert ProjectConfig().chunking() == ChunkSettings()


def test_options_cut_to_half_the_chunk_size_are_reported(tmp_path, fake_ollama, capsys):
    doc = tmp_path / "a.md"
    doc.write_text("# Ports\n\nOllama listens on port 11434 by default.\n", encoding="utf-8")
    code = main(["--data-dir", str(tmp_path / "data"), "generate", str(doc), "--model", "qwen2.5:7b", "--host",
                 fake_ollama.url, "--chunk-size", "300", "--min-chunk-size", "5000", "--chunk-overlap", "500",
                 "--pairs-per-chunk", "1"])
    assert code == 0
    assert ("note: chunks of at most 300 characters use smallest section 150 and overlap 150 (each at most half "
            "the largest chunk)") in capsys.readouterr().err.splitlines()
