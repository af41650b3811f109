"""Settings from the environment and a project's saved settings."""

from pathlib import Path

import pytest

from dataset_gen.config import ProjectConfig, Settings, normalise_host


@pytest.mark.parametrize("given, host", [
    (None, "http://127.0.0.1:11434"), ("", "http://127.0.0.1:11434"), ("localhost", "http://localhost:11434"),
    (":5000", "http://127.0.0.1:5000"), ("http://x", "http://x"), ("https://gpu.lan:8443/", "https://gpu.lan:8443"),
    ("0.0.0.0:11434", "http://0.0.0.0:11434"),
])
def test_hosts_are_read_like_ollama_reads_them(given, host):
    assert normalise_host(given) == host


def test_environment_and_overrides():
    settings = Settings.from_env({"DATASET_GEN_DATA_DIR": "/srv/d", "OLLAMA_HOST": "gpu:1", "DATASET_GEN_READ_TIMEOUT": "90"},
                                 concurrency=2, language=None)
    assert (settings.data_dir, settings.ollama_host, settings.read_timeout_s, settings.concurrency, settings.language) == (
        Path("/srv/d"), "http://gpu:1", 90.0, 2, "auto")
    with pytest.raises(ValueError, match="DATASET_GEN_CONNECT_TIMEOUT must be a number of seconds"):
        Settings.from_env({"DATASET_GEN_CONNECT_TIMEOUT": "soon"})


def test_project_config_keeps_good_values_and_drops_bad_ones():
    config = ProjectConfig.load({"temperature": 0, "pairs_per_chunk": 99, "top_k": 20, "question_types": ["poem"],
                                 "unknown": 1, "chars_per_pair": 500})
    assert (config.temperature, config.pairs_per_chunk, config.top_k, config.question_types) == (0.0, 3, 20, ["factual"])
    settings = config.apply(Settings())
    assert (settings.pairs_per_chunk, settings.chars_per_pair) == (0, 500)
    assert config.sampling().to_ollama() == {"temperature": 0.0, "top_k": 20}
