"""The model server as the pages see it: its status line, its list of models, and a model picker
filled from that list (size and quantisation shown, a model the server lacks flagged with what to
do). Used by the Projects and Generate pages."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from dataset_gen.backends import Backend, make_backend
from dataset_gen.config import Settings
from dataset_gen.errors import DatasetGenError
from dataset_gen.models import ModelInfo
from ui.i18n import t
from ui.safe import md_escape, one_line

STATUS_TTL_S = 10.0
"""Seconds a server status is reused before the server is asked again (reruns do not hammer it)."""


@dataclass(frozen=True)
class ServerStatus:
    """What the server at ``host`` (kind ``api``) said: ``version`` (its :meth:`Backend.health`
    line) and ``models``, or ``error`` (one line) when it could not be asked."""

    api: str
    host: str
    version: str | None
    models: tuple[ModelInfo, ...]
    error: str | None

    @property
    def chat_models(self) -> list[str]:
        """Names of the models that can chat (embedding-only models left out), sorted."""
        return [m.name for m in self.models if not m.is_embedding]

    def has(self, model: str) -> bool:
        """Whether the server lists ``model`` (Ollama's ``name`` and ``name:latest`` are one)."""
        names = {m.name for m in self.models}
        return model in names or (":" not in model and f"{model}:latest" in names)


def server_key(settings: Settings) -> tuple[str, str, str, str]:
    """The fields of ``settings`` that name a server: (kind, Ollama host, OpenAI base URL, key variable)."""
    return settings.api, settings.ollama_host, settings.openai_base_url, settings.api_key_env


@st.cache_data(ttl=STATUS_TTL_S, show_spinner=False)
def _status(api: str, ollama_host: str, openai_base_url: str, api_key_env: str, _base: Settings) -> ServerStatus:
    settings = replace(_base, api=api, ollama_host=ollama_host, openai_base_url=openai_base_url,  # type: ignore[arg-type]
                       api_key_env=api_key_env)
    probe = make_backend(settings, connect_timeout_s=3.0, read_timeout_s=10.0, max_retries=0)
    try:
        return ServerStatus(api, probe.host, probe.health(), tuple(probe.list_models()), None)
    except DatasetGenError as exc:
        return ServerStatus(api, probe.host, None, (), one_line(str(exc)))
    finally:
        probe.close()


def server_status(settings: Settings, *, fresh: bool = False) -> ServerStatus:
    """The status of ``settings``' server, asked at most every :data:`STATUS_TTL_S` seconds
    (``fresh`` asks now). A probe has short timeouts (3 s to connect, 10 s to answer) and no retries."""
    if fresh:
        _status.clear()
    return _status(*server_key(settings), settings)


def model_rows(models: tuple[ModelInfo, ...]) -> list[dict[str, object]]:
    """One row per model for a table: name, parameters, quantisation, size in GB (two decimals), kind."""
    return [{t("col.model"): m.name, t("col.parameters"): m.parameter_size, t("col.quantisation"): m.quantization_level,
             t("col.size"): round(m.size / 1e9, 2), t("col.kind"): t("col.embedding" if m.is_embedding else "col.chat")}
            for m in models]


def show_status(status: ServerStatus, *, key: str) -> None:
    """The server's status as one line (running, not answering with the reason, or no models), the
    list of its models, and a button that asks again. Only the current state is shown: an error
    from an earlier state never stays beside a live status."""
    host = md_escape(status.host)
    if status.error:
        st.error(md_escape(status.error))  # one line naming the host and how to start the server
    elif not status.models:
        st.warning(t("gen.no_models" if status.api == "ollama" else "gen.no_models_openai", host=host))
    else:
        st.success(t("gen.status_ok", version=md_escape(str(status.version)), host=host))
        with st.expander(t("server.models")):
            st.dataframe(model_rows(status.models), hide_index=True)
    if st.button(t("server.recheck"), key=f"{key}_recheck"):
        _status.clear()
        st.rerun()


def missing_model_warning(status: ServerStatus, model: str) -> bool:
    """Warn (and return ``True``) when the server answers but lacks ``model``, with what to do:
    for Ollama the ``ollama pull`` command. Nothing is said while the server does not answer
    (its status line says that)."""
    if not model or status.error or status.has(model):
        return False
    if status.api == "ollama":  # the command in a code span, where nothing is Markdown but a backtick
        st.warning(t("server.missing", model=md_escape(model), host=md_escape(status.host),
                     pull=model.replace("`", "")))
    else:
        st.warning(t("server.missing_openai", model=md_escape(model), host=md_escape(status.host)))
    return True


def model_label(status: ServerStatus, name: str) -> str:
    """``name`` with its parameters, quantisation and size as the server lists them, e.g.
    ``qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB``; a model the answering server lacks is marked ``⚠``."""
    info = next((m for m in status.models if m.name == name), None)
    if info is None:
        return name if status.error or not name else f"⚠ {name}"
    parts = [name, info.parameter_size, info.quantization_level, f"{info.size / 1e9:.2f} GB" if info.size else ""]
    return " · ".join(p for p in parts if p)


def model_picker(status: ServerStatus, current: str, *, key: str, label: str, disabled: bool = False) -> str:
    """A select box of the server's chat models (``current`` first when the server lacks it) that
    also takes a name typed by hand; returns the chosen name (``""`` when none is chosen). Works
    inside a form."""
    names = status.chat_models
    if current and current not in names:
        names.insert(0, current)
    choice = st.selectbox(label, names, index=names.index(current) if current in names else None, key=key,
                          disabled=disabled, placeholder=t("server.pick"), accept_new_options=True,
                          format_func=lambda n: model_label(status, n))
    return (choice or "").strip()


def backend_for(settings: Settings) -> Backend:
    """A client for ``settings``' server, created once per server and kept for the process (closed
    when the cache is cleared or the server stops): reruns reuse its connection pool."""
    return _backend(*server_key(settings), settings.connect_timeout_s, settings.read_timeout_s,
                    settings.max_retries, settings)


def _close(backend: Backend) -> None:
    backend.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _backend(api: str, ollama_host: str, openai_base_url: str, api_key_env: str, connect_s: float, read_s: float,
             retries: int, _base: Settings) -> Backend:
    settings = replace(_base, api=api, ollama_host=ollama_host, openai_base_url=openai_base_url,  # type: ignore[arg-type]
                       api_key_env=api_key_env, connect_timeout_s=connect_s, read_timeout_s=read_s,
                       max_retries=retries)
    return make_backend(settings)
