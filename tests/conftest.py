"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make `dataset_gen` and `tests.fake_ollama` importable however pytest is started.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fake_ollama import FakeOllama  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _no_ollama_host_from_environment():
    """Keep a real OLLAMA_HOST (or OpenAI server and key) out of the tests: every test names its
    host explicitly."""
    patcher = pytest.MonkeyPatch()
    for name in ("OLLAMA_HOST", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        patcher.delenv(name, raising=False)
    yield
    patcher.undo()


@pytest.fixture
def app_data_dir(tmp_path, monkeypatch, fake_ollama):
    """A data folder for the web app (``DATASET_GEN_DATA_DIR``), the fake Ollama as its host, the
    checkout as the working folder, and Streamlit's process-wide caches cleared before and after."""
    import streamlit as st

    monkeypatch.setenv("DATASET_GEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    monkeypatch.chdir(_ROOT)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def fake_ollama():
    """A started :class:`tests.fake_ollama.FakeOllama` (model ``qwen2.5:7b``), stopped after."""
    with FakeOllama() as fake:
        yield fake
