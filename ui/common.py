"""Shared pieces of the pages: the process-wide store and job registry, and the current project.

``st.session_state`` holds only ``project_id`` and ``ui_language``; everything else is read from
the store on each run.
"""

from __future__ import annotations

import streamlit as st

from dataset_gen.backends import OllamaBackend
from dataset_gen.config import ProjectConfig, Settings
from dataset_gen.jobs import JobRegistry
from dataset_gen.store import Store
from ui.i18n import LANGUAGES, t
from ui.safe import md_escape


@st.cache_resource
def base_settings() -> Settings:
    """Settings from the environment (data folder, OLLAMA_HOST), read once per process."""
    return Settings.from_env()


@st.cache_resource
def get_store() -> Store:
    """The process-wide store (one SQLite connection, safe across threads)."""
    return Store.open(base_settings().data_dir)


@st.cache_resource
def get_registry() -> JobRegistry:
    """The process-wide registry of generation jobs: it outlives reruns, tabs and reloads."""
    return JobRegistry(get_store())


def project_config(project_id: int) -> ProjectConfig:
    """The project's saved settings."""
    return ProjectConfig.load(get_store().get_settings(project_id))


def project_backend(config: ProjectConfig) -> OllamaBackend:
    """An Ollama client for the project's host, with the process' timeouts."""
    settings = config.apply(base_settings())
    return OllamaBackend(settings.ollama_host, connect_timeout_s=settings.connect_timeout_s,
                         read_timeout_s=settings.read_timeout_s, max_retries=settings.max_retries)


def sidebar() -> None:
    """Interface language switch and the current project's name, on every page.

    The open project's id is mirrored in the URL (``?project=ID``) so a reload keeps it open.
    """
    with st.sidebar:
        st.selectbox(t("ui.language"), list(LANGUAGES), format_func=lambda k: LANGUAGES[k], key="ui_language")
        project_id = st.session_state.get("project_id")
        if project_id is None and str(st.query_params.get("project", "")).isdigit():
            project_id = st.session_state["project_id"] = int(st.query_params["project"])
        if project_id is not None:
            names = {p.id: p.name for p in get_store().list_projects()}
            if project_id in names:
                st.caption(f"{t('project.current')}: **{md_escape(names[project_id])}**")
                st.query_params["project"] = str(project_id)
            else:
                st.session_state.pop("project_id", None)
                st.query_params.pop("project", None)


def require_project() -> int:
    """The open project's id; stops the page with a hint when none is open."""
    project_id = st.session_state.get("project_id")
    if project_id is None:
        st.info(t("project.none"))
        st.stop()
    return project_id
