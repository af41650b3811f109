"""The ``modelfile`` command: exact Modelfile text for a merged GGUF and for a base plus LoRA
adapter, the project's system prompt and sampling settings, and names refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataset_gen.cli import main
from dataset_gen.config import ProjectConfig
from dataset_gen.modelfile import ModelfileSpec, check_model_name, modelfile_text
from dataset_gen.store import Store

SYSTEM = "You answer questions about the Ollama notes.\nSay so when the notes do not cover it."


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with Store.open(tmp_path) as store:
        project_id = store.create_project("notes")
        config = ProjectConfig(model="qwen2.5:7b", system_prompt=SYSTEM, temperature=0.2, top_p=0.9)
        store.set_settings(project_id, config.model_dump())
    return tmp_path


def test_gguf_modelfile(project: Path, capsys):
    gguf = project / "trained" / "notes-q4_k_m.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    code, out, err = run_main(capsys, "--data-dir", project, "modelfile", "--project", "notes", "--gguf", gguf,
                              "--name", "notes-qwen2.5:ft", "--num-ctx", "4096")
    path = project / "modelfiles" / "notes-qwen2.5-ft" / "Modelfile"
    assert (code, err) == (0, f"wrote {path}\n")
    assert out == f"ollama create notes-qwen2.5:ft -f {path}\n"
    assert path.read_text(encoding="utf-8") == (
        f"FROM {gguf}\n"
        'SYSTEM """You answer questions about the Ollama notes.\n'
        'Say so when the notes do not cover it."""\n'
        "PARAMETER temperature 0.2\n"
        "PARAMETER top_p 0.9\n"
        "PARAMETER num_ctx 4096\n"
    )


def test_adapter_modelfile_to_a_named_path(project: Path, capsys):
    adapter = project / "lora out"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"x")
    target = project / "elsewhere" / "Modelfile"
    code, out, _ = run_main(capsys, "--data-dir", project, "modelfile", "--project", "notes", "--base", "qwen2.5:7b",
                            "--adapter", adapter, "--name", "me/notes", "--output", target)
    assert code == 0
    assert out == f"ollama create me/notes -f {target}\n"
    assert target.read_text(encoding="utf-8") == (
        "FROM qwen2.5:7b\n"
        f'ADAPTER "{adapter}"\n'
        'SYSTEM """You answer questions about the Ollama notes.\n'
        'Say so when the notes do not cover it."""\n'
        "PARAMETER temperature 0.2\n"
        "PARAMETER top_p 0.9\n"
    )


@pytest.mark.parametrize("name", ["../evil", "a b", "x;rm -rf ~", "", "-flag", "a\nb", "名前", "a..b"])
def test_hostile_names_refused(project: Path, capsys, name: str):
    gguf = project / "m.gguf"
    gguf.write_bytes(b"GGUF")
    code, out, err = run_main(capsys, "--data-dir", project, "modelfile", "--project", "notes", "--gguf", gguf,
                              f"--name={name}")
    shown = name.replace("\n", "\\n")
    assert (code, out) == (2, "")
    assert err == (f"error: '{shown}' is not a safe model name: use letters, digits, '.', '_' and '-' "
                   "(e.g. notes-qwen2.5 or me/notes:v1)\n")
    assert not (project / "modelfiles").exists()


def test_usage_errors_are_one_line(project: Path, capsys):
    code, _, err = run_main(capsys, "--data-dir", project, "modelfile", "--project", "notes", "--name", "n")
    assert (code, err) == (2, "error: give either --gguf PATH (a merged model) or --base MODEL with --adapter "
                              "PATH (a LoRA)\n")
    code, _, err = run_main(capsys, "--data-dir", project, "modelfile", "--project", "notes", "--name", "n",
                            "--gguf", project / "missing.gguf")
    assert (code, err) == (2, f"error: {project / 'missing.gguf'}: no such GGUF file: give the path of the file "
                              "you trained\n")


def test_names_and_quotes():
    assert check_model_name("qwen2.5-notes:v1.2") == "qwen2.5-notes:v1.2"
    with pytest.raises(ValueError, match='holds """'):
        modelfile_text(ModelfileSpec("m", system='say """hi"""'))
    assert modelfile_text(ModelfileSpec("m", parameters=(("temperature", "0"),))) == (
        "FROM m\nPARAMETER temperature 0\n")
