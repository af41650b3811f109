"""Projects: create, open, rename, delete, and each project's settings and prompt overrides. The
project's model server is asked what it is and which models it has: the model is picked from that
list (size and quantisation shown), and a model it lacks is flagged with how to get it."""

import streamlit as st
from pydantic import ValidationError

from dataset_gen.config import ProjectConfig
from dataset_gen.errors import DatasetGenError
from dataset_gen.language import language_name
from dataset_gen.models import GENERATED_KINDS, QUESTION_TYPES
from dataset_gen.prompts import GENERIC, LANGUAGES, PROMPTS_DIR, builtin_prompts, parse_template
from ui.common import base_settings, changed, get_store, project_config, read_only, show_error
from ui.i18n import t
from ui.safe import md_escape
from ui.server import missing_model_warning, model_picker, server_status, show_status

PROMPT_NAMES = [name for name, _ in builtin_prompts()]
FENCED_PROMPTS = {name for name, fenced in builtin_prompts() if fenced}  # document text between {{fence}} tags

store = get_store()
locked = read_only()  # nothing can be saved: creating, saving, renaming and deleting are disabled
st.title(t("projects.title"))


def bounded(container, name: str, label: str, value, **kwargs):
    """A number input for setting ``name`` with the bounds the schema declares for it
    (:meth:`ProjectConfig.bounds`), so the app offers what the CLI and the core accept."""
    low, high = ProjectConfig.bounds(name)
    return container.number_input(label, min_value=low, max_value=high, value=value, **kwargs)


def lacks_fence(text: str, key: str) -> bool:
    """Whether the override ``text`` of prompt ``key`` uses no ``{{fence}}`` placeholder in any
    section (then a document can close the data fence). An override that does not parse counts
    as not lacking it: its parse error is shown instead."""
    try:
        template = parse_template(text, key)
    except DatasetGenError:
        return False
    return "fence" not in template.variables_of(*template.sections)


with st.form("new_project", clear_on_submit=True):
    name = st.text_input(t("projects.new"), disabled=locked)
    if st.form_submit_button(t("projects.create"), disabled=locked) and name.strip():
        created: list[int] = []
        if changed(lambda: created.append(store.create_project(name.strip()))):
            st.session_state["project_id"] = created[0]
            st.rerun()

projects = store.list_projects()
if not projects:
    st.info(t("projects.list_empty"))
    st.stop()

st.dataframe(
    [{t("col.name"): p.name, t("col.documents"): p.documents, t("col.chunks"): p.chunks, t("col.pairs"): p.pairs,
      t("col.created"): p.created_at[:19]} for p in projects],
    hide_index=True, width="stretch",
)
ids = [p.id for p in projects]
current = st.session_state.get("project_id")
names = {p.id: p.name for p in projects}
choice = st.selectbox(t("project.current"), ids, index=ids.index(current) if current in ids else 0,
                      format_func=lambda k: names[k], key="project_picker")
if st.button(t("projects.open"), type="primary") or current not in ids:
    st.session_state["project_id"] = choice
    if current != choice:
        st.rerun()
project_id = st.session_state["project_id"]

st.subheader(f"{t('projects.settings')} {md_escape(names[project_id])}")
config = project_config(project_id)
status = server_status(config.apply(base_settings()))
show_status(status, key="projects")
if not config.model:
    st.info(t("server.none_set"))
missing_model_warning(status, config.model)
with st.form(f"settings_{project_id}"):
    c1, c2 = st.columns(2)
    model = model_picker(status, config.model, key=f"settings_model_{project_id}", label=t("settings.model"))
    host = c2.text_input(t("settings.host"), config.host)
    api = c1.selectbox(t("settings.api"), ["ollama", "openai"], index=["ollama", "openai"].index(config.api),
                       format_func=lambda k: t(f"settings.api.{k}"))
    base_url = c2.text_input(t("settings.base_url"), config.base_url, placeholder="http://127.0.0.1:8000/v1")
    api_key_env = c1.text_input(t("settings.api_key_env"), config.api_key_env)
    strategies = ["markdown", "recursive", "separator"]
    strategy = c1.selectbox(t("settings.strategy"), strategies, index=strategies.index(config.chunk_strategy))
    separator = c2.text_input(t("settings.separator"), config.chunk_separator.encode("unicode_escape").decode())
    max_chars = bounded(c1, "chunk_max_chars", t("settings.max_chars"), config.chunk_max_chars, step=100)
    min_chars = bounded(c2, "chunk_min_chars", t("settings.min_chars"), config.chunk_min_chars, step=50)
    overlap = bounded(c1, "chunk_overlap", t("settings.overlap"), config.chunk_overlap, step=50)
    pairs = bounded(c2, "pairs_per_chunk", t("settings.pairs"), config.pairs_per_chunk)
    temperature = bounded(c1, "temperature", t("settings.temperature"), config.temperature, step=0.1)
    concurrency = bounded(c2, "concurrency", t("settings.concurrency"), config.concurrency)
    languages = ["auto", *LANGUAGES]
    language = c1.selectbox(t("settings.language"), languages, index=languages.index(config.language),
                            format_func=lambda k: k if k == "auto" else f"{k} ({language_name(k)})")
    types = c2.multiselect(t("settings.types"), list(QUESTION_TYPES), default=config.question_types,
                           format_func=lambda k: t(f"type.{k}"))
    reasoning = c1.checkbox(t("settings.reasoning"), config.reasoning)
    audiences = c2.text_area(t("settings.audiences"), "\n".join(config.audiences), height=80)
    kind = c1.selectbox(t("generate.kind"), list(GENERATED_KINDS), index=list(GENERATED_KINDS).index(config.kind),
                        help=" · ".join(f"{k}: {t(f'kind.{k}')}" for k in GENERATED_KINDS))
    turns = bounded(c2, "turns", t("generate.turns"), config.turns)
    scenario = c1.text_input(t("generate.scenario"), config.scenario)
    roles = c2.text_input(t("generate.roles"), config.roles, placeholder="新同事,IT 助理")
    judge_model = c1.text_input(t("settings.judge_model"), config.judge_model)
    judge_threshold = bounded(c2, "judge_threshold", t("settings.judge_threshold"), config.judge_threshold)
    embedding_model = c1.text_input(t("settings.embedding_model"), config.embedding_model)
    system = st.text_area(t("settings.system"), config.system_prompt)
    st.caption(t("settings.advanced"))
    a1, a2, a3 = st.columns(3)
    chars_per_pair = bounded(a1, "chars_per_pair", t("settings.chars_per_pair"), config.chars_per_pair, step=100)
    top_p = bounded(a2, "top_p", "top_p", config.top_p, step=0.05, placeholder=t("settings.server_default"))
    top_k = bounded(a3, "top_k", "top_k", config.top_k, placeholder=t("settings.server_default"))
    repeat_penalty = bounded(a1, "repeat_penalty", "repeat_penalty", config.repeat_penalty, step=0.05,
                             placeholder=t("settings.server_default"))
    seed = bounded(a2, "seed", "seed", config.seed, step=1, placeholder=t("settings.server_default"))
    num_predict = bounded(a3, "num_predict", "num_predict", config.num_predict, placeholder=t("settings.auto"))
    read_timeout = bounded(a1, "read_timeout_s", t("settings.read_timeout"), config.read_timeout_s, step=30.0,
                           placeholder=t("settings.read_timeout_default"))
    if st.form_submit_button(t("settings.save"), disabled=locked):
        new: ProjectConfig | None
        try:
            new = ProjectConfig.model_validate(dict(
                model=model.strip(), host=host.strip(), api=api, base_url=base_url.strip(),
                api_key_env=api_key_env.strip() or "OPENAI_API_KEY", chunk_strategy=strategy,
                chunk_separator=separator.encode().decode("unicode_escape") or "\n\n",
                chunk_max_chars=max_chars, chunk_min_chars=min_chars, chunk_overlap=overlap, pairs_per_chunk=pairs,
                temperature=temperature, concurrency=concurrency, language=language, system_prompt=system,
                question_types=types or ["factual"], reasoning=reasoning,
                audiences=[a.strip() for a in audiences.splitlines() if a.strip()],
                judge_model=judge_model.strip(), judge_threshold=judge_threshold, embedding_model=embedding_model.strip(),
                chars_per_pair=chars_per_pair, top_p=top_p, top_k=top_k, repeat_penalty=repeat_penalty,
                seed=None if seed is None else int(seed), num_predict=num_predict, read_timeout_s=read_timeout,
                ocr=config.ocr,  # set on the Documents page
                kind=kind, turns=turns, scenario=scenario.strip(), roles=roles.strip(),
            ))
        except ValidationError as exc:  # a key variable name that is not one: say which field
            first = exc.errors()[0]
            st.error(md_escape(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"))
            new = None
        if new is not None:
            saved = new.model_dump()
            if changed(lambda: store.set_settings(project_id, saved)):
                st.session_state["settings_saved"] = project_id
                st.rerun()  # the status, the model warning and the picker follow the saved settings
used = config.chunking()
if (used.min_chars, used.overlap) != (config.chunk_min_chars, config.chunk_overlap):
    st.caption(t("settings.chunk_cut", min=used.min_chars, overlap=used.overlap, max=used.max_chars))
if st.session_state.pop("settings_saved", None) == project_id:
    st.success(t("projects.saved"))

with st.expander(t("settings.overrides")):
    st.caption(t("settings.override_help"))
    overrides = store.prompt_overrides(project_id)
    overridden = {key.split(".")[0] for key, text in overrides.items() if text}
    prompt_name = st.selectbox(t("settings.override_prompt"), PROMPT_NAMES, key=f"override_prompt_{project_id}",
                               index=PROMPT_NAMES.index("qa_generate"),
                               format_func=lambda name: f"{name} ✎" if name in overridden else name)
    for lang in (*LANGUAGES, GENERIC):
        key = f"{prompt_name}.{lang}"
        builtin = (PROMPTS_DIR / f"{key}.txt").read_text(encoding="utf-8")
        text = st.text_area(key, overrides.get(key, ""), placeholder=builtin, height=120,
                            key=f"override_{project_id}_{key}", disabled=locked)
        if not locked and text.strip() != overrides.get(key, "").strip():  # saved stripped: once, not every run
            try:
                if text.strip():
                    parse_template(text, key)
                store.set_prompt_override(project_id, key, text.strip() or None)
                overrides[key] = text.strip()
                st.success(t("projects.saved"))
            except DatasetGenError as exc:
                show_error(exc)
    for key in sorted(overrides):  # every override that would let document text pass for instructions
        if key.split(".")[0] in FENCED_PROMPTS and overrides[key] and lacks_fence(overrides[key], key):
            st.warning(t("settings.no_fence", prompt=md_escape(key)))

with st.expander(t("projects.rename_btn")):
    new_name = st.text_input(t("projects.rename"), names[project_id], key=f"rename_{project_id}", disabled=locked)
    if (st.button(t("projects.rename_btn"), disabled=locked) and new_name.strip() and new_name != names[project_id]
            and changed(lambda: store.rename_project(project_id, new_name.strip()))):
        st.rerun()

with st.expander(t("projects.delete")):
    typed = st.text_input(t("projects.delete_confirm"), key=f"delete_{project_id}", disabled=locked)
    if (st.button(t("projects.delete"), type="secondary", disabled=locked or typed != names[project_id])
            and changed(lambda: store.delete_project(project_id), project_id)):
        st.session_state.pop("project_id", None)
        st.toast(t("projects.deleted"))
        st.rerun()
