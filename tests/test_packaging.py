"""Packaging: pyproject.toml and requirements.txt agree, prompts ship as package data, the console
script names a real function, and the README's two set-up commands are the scripts that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from dataset_gen import cli, prompts

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_requirements_txt_lists_exactly_the_pyproject_dependencies():
    assert _requirements(ROOT / "requirements.txt") == PYPROJECT["project"]["dependencies"]


def test_every_dependency_has_a_lower_bound():
    for requirement in PYPROJECT["project"]["dependencies"] + _requirements(ROOT / "requirements-dev.txt"):
        assert ">=" in requirement, requirement


def test_prompts_are_package_data():
    assert prompts.PROMPTS_DIR == ROOT / "dataset_gen" / "prompts"
    shipped = sorted(p.name for p in prompts.PROMPTS_DIR.glob("*.txt"))
    assert shipped and PYPROJECT["tool"]["setuptools"]["package-data"]["dataset_gen"] == ["prompts/*.txt"]
    assert not (ROOT / "prompts").exists()


def test_console_script_is_the_cli_main():
    assert PYPROJECT["project"]["scripts"] == {"dataset-gen": "dataset_gen.cli:main"}
    assert callable(cli.main)
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_readme_names_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^    (bash scripts/\S+)", readme, flags=re.M)
    assert commands[:2] == ["bash scripts/run.sh", "bash scripts/test.sh"]
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().endswith("bash scripts/test.sh")
