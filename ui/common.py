"""Shared pieces of the pages: the process-wide store and job registry, the current project, and
how a page changes a project (under its lock, errors as one line).

``st.session_state`` holds only ``project_id`` and ``ui_language``; everything else is read from
the store on each run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dataset_gen.backends import Backend
from dataset_gen.config import ProjectConfig, Settings
from dataset_gen.errors import DatasetGenError
from dataset_gen.jobs import JobRegistry
from dataset_gen.locks import ProjectBusyError, project_locked
from dataset_gen.log_stderr import StderrHandler
from dataset_gen.store import Store
from ui.i18n import LANGUAGES, initial_language, remember_language, t
from ui.safe import md_escape, one_line
from ui.server import backend_for

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@st.cache_resource
def configure_logging() -> None:
    """Send the ``dataset_gen`` loggers' records (INFO and up) to the server's standard error, once
    per process, unless a handler is already set up for them."""
    logger = logging.getLogger("dataset_gen")
    if not logger.handlers:
        handler = StderrHandler()  # the stderr of the moment, not the one at start
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


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


def project_backend(config: ProjectConfig) -> Backend:
    """A client for the project's server (Ollama or OpenAI-compatible), with the process' timeouts:
    one per server for the whole process (:func:`ui.server.backend_for`), not one per rerun."""
    return backend_for(config.apply(base_settings()))


def start_language() -> None:
    """Set a new browser session's interface language from the URL (``?lang=``), once."""
    if "ui_language" not in st.session_state:
        st.session_state["ui_language"] = initial_language()


def sidebar() -> None:
    """Interface language switch and the current project's name, on every page.

    The open project's id and the language are mirrored in the URL (``?project=ID&lang=zh-TW``)
    so a reload keeps both.
    """
    with st.sidebar:
        st.selectbox(t("ui.language"), list(LANGUAGES), format_func=lambda k: LANGUAGES[k], key="ui_language")
        remember_language()
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


def read_only() -> bool:
    """Whether the data folder is read-only: projects can be read and downloaded, nothing saved."""
    return get_store().read_only


def read_only_banner() -> None:
    """One line at the top of every page when the data folder is read-only."""
    if read_only():
        st.warning(t("store.read_only", folder=md_escape(str(base_settings().data_dir))))


def show_error(error: DatasetGenError) -> None:
    """``error``'s message on one line, shown as text: a busy project as a warning, else an error."""
    (st.warning if isinstance(error, ProjectBusyError) else st.error)(md_escape(one_line(str(error))))


def changed(action: Callable[[], object], project_id: int | None = None) -> bool:
    """Run ``action`` (a change to the store), holding project ``project_id``'s lock when given so
    that no CLI run or upload of that project is under way meanwhile; return whether it went
    through. A :class:`DatasetGenError` from taking the lock or from ``action`` is shown as one
    line (:func:`show_error`) and ``False`` returned.

    A read-only store takes no lock (nothing can change there): the action's first write then
    raises the store's one-line read-only error.
    """
    try:
        if project_id is None or read_only():
            action()
        else:
            with project_locked(get_store(), project_id):
                action()
    except DatasetGenError as error:
        show_error(error)
        return False
    return True


def session_gone_check() -> Callable[[], bool]:
    """A cheap function telling whether the browser session running this script has gone (its
    tab closed or reloaded): the Streamlit runtime no longer has the session active. Outside a
    served app (AppTest, a bare script) it always answers ``False``."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not runtime.exists():
        return lambda: False
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: not server.is_active_session(session_id)


def require_project() -> int:
    """The open project's id; stops the page with a hint when none is open."""
    project_id = st.session_state.get("project_id")
    if project_id is None:
        st.info(t("project.none"))
        st.stop()
    return project_id
