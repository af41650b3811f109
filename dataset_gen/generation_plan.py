"""What a generation run asks for: the server check, languages, templates, pairs per chunk, the
comparison partners and the one ``num_ctx`` of a run; and a trial of one chunk without saving.

Used by :mod:`dataset_gen.generation` (``run_generation``) and the app's Generate page (``trial_chunk``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backends import Backend
from .choice import CHOICE_TYPES
from .choice_generation import generate_choices
from .chunk_language import chunk_language
from .config import Settings
from .conversation_gen import OUTPUT_TOKENS_PER_TURN, ConversationResult, generate_conversation
from .errors import BackendUnreachableError, DatasetGenError, ModelNotFoundError
from .language import detect_language
from .models import ItemKind, SamplingOptions
from .prompts import load_prompt
from .qa import (
    OUTPUT_TOKENS_PER_PAIR,
    ChunkResult,
    Partner,
    Task,
    estimate_tokens,
    generate_pairs,
    pairs_wanted,
    plan_num_ctx,
)
from .table_context import with_table_header

FATAL = (BackendUnreachableError, ModelNotFoundError)
"""Errors that stop a run at once: every other chunk would fail the same way."""

DEFAULT_OPTIONS = SamplingOptions()
"""Sampling options when none are given (the server's defaults, temperature 0.7)."""


def check_server(backend: Backend) -> str:
    """Ask the server what it is before any work (:meth:`Backend.health`): fails fast, in one
    line, when nothing answers or when the host does not speak the backend's API. Returns the
    server's one-line description (e.g. ``"Ollama 0.12.6"``).

    :raises BackendUnreachableError: nothing answers at the host.
    :raises BackendError: something answers, but not like the server the backend speaks to.
    """
    return backend.health()


def check_servers(backends: list[Backend]) -> tuple[list[Backend], list[str]]:
    """:func:`check_server` for every server of a run: ``(those that answer, one warning line per
    server left out)``. With one server, or when none answers, the first error is raised.

    :raises BackendUnreachableError: nothing answers at any host.
    :raises BackendError: the only host (or every host) does not speak the backend's API.
    :raises ValueError: ``backends`` is empty.
    """
    if not backends:
        raise ValueError("No model server given: name at least one host")
    if len(backends) == 1:
        check_server(backends[0])
        return backends, []
    up, warnings, first = [], [], None
    for backend in backends:
        try:
            check_server(backend)
        except DatasetGenError as exc:
            first = first or exc
            warnings.append(f"{backend.host} was left out of the run: {exc}")
            continue
        up.append(backend)
    if not up:
        assert first is not None
        raise first
    return up, warnings


@dataclass
class Plan:
    languages: dict  # document id -> language
    templates: dict  # language -> (qa_generate, qa_repair), or the conversation templates for Settings.kind
    wanted: dict  # chunk id -> pairs to ask for
    num_ctx: int
    partners: dict  # chunk id -> Partner (the next chunk of its document), for comparisons
    texts: dict  # chunk id -> the text the model sees: the chunk, after the header of a table it continues
    chunk_languages: dict  # chunk id -> language: the document's, or the chunk's own when clearly another
    choice_templates: dict = field(default_factory=dict)  # language -> (choice_generate, choice_repair), if asked

    def language(self, chunk) -> str:
        """The language ``chunk`` is generated in (its template and its pairs' language check)."""
        return self.chunk_languages.get(chunk.id, self.languages[chunk.document_id])

    def tasks(self, settings: Settings, chunk) -> list[Task]:
        """The tasks for one chunk: each question type in turn (comparison only with a partner),
        with the chunk's audience (``settings.audiences`` used in turn by ordinal)."""
        audience = settings.audiences[chunk.ordinal % len(settings.audiences)] if settings.audiences else ""
        return [Task(kind, settings.reasoning, audience) for kind in settings.question_types
                if kind != "comparison" or chunk.id in self.partners]


def plan_run(store, project_id, backend: Backend, model, settings: Settings, options: SamplingOptions, chunks) -> Plan:
    """Languages, templates, pairs per chunk, partners and the one ``num_ctx`` for ``chunks``.

    Language: ``settings.language`` for every chunk unless it is ``auto``; then each document's
    (:func:`dataset_gen.language.detect_language` of its whole text), and for a chunk whose own text
    is clearly in another language that one (:func:`dataset_gen.chunk_language.chunk_language`:
    enough letters, another language by a margin). Templates are loaded for every language used.

    A chunk that continues a pipe table is shown to the model after that table's header row
    (:func:`dataset_gen.table_context.with_table_header`): its span still names only its own text.

    :raises PromptError: a template is missing or broken.
    :raises BackendUnreachableError, ModelNotFoundError: from asking the model's context length.
    """
    overrides = store.prompt_overrides(project_id)
    languages, texts, chunk_languages = {}, {}, {}
    forced = settings.language != "auto"
    in_scope: dict[int, list] = {}
    for c in chunks:
        in_scope.setdefault(c.document_id, []).append(c)
    for doc_id, own in in_scope.items():
        document_text = store.get_document(doc_id).text
        languages[doc_id] = settings.language if forced else detect_language(document_text)
        for c in own:  # an edited chunk no longer matches its span: shown as it is
            texts[c.id] = c.text if c.edited else with_table_header(document_text, c.start, c.text)
            chunk_languages[c.id] = languages[doc_id] if forced else chunk_language(c.text, languages[doc_id])
    used_languages = list(dict.fromkeys([*languages.values(), *chunk_languages.values()]))  # documents' first
    names = ("conversation_generate", "conversation_repair") if settings.kind == "conversation" else (
        "qa_generate", "qa_repair")
    templates = {
        lang: (load_prompt(names[0], lang, overrides), load_prompt(names[1], lang, overrides))
        for lang in used_languages or ["en"]
    }
    choice_templates = {
        lang: (load_prompt("choice_generate", lang, overrides), load_prompt("choice_repair", lang, overrides))
        for lang in templates
    } if any(kind in CHOICE_TYPES for kind in settings.question_types) else {}
    wanted = {c.id: pairs_wanted(len(c.text), settings.pairs_per_chunk, settings.chars_per_pair) for c in chunks}
    partners: dict[int, Partner] = {}
    if "comparison" in settings.question_types and chunks:
        by_document: dict[int, list] = {}
        for c in store.list_chunks(project_id):
            if not c.skipped:  # a table of contents or garbage is no partner to compare with
                by_document.setdefault(c.document_id, []).append(c)
        for siblings in by_document.values():
            for i, c in enumerate(siblings):
                if len(siblings) > 1:
                    other = siblings[i + 1] if i + 1 < len(siblings) else siblings[i - 1]
                    partners[c.id] = Partner(other.id, other.text, other.heading_path)
    num_ctx = 2048
    if chunks:
        longest = max(texts.values(), key=estimate_tokens)
        sections = next(iter(templates.values()))[0].sections
        used = ["system", "user_comparison" if partners else "user", "reasoning_rule", "audience_rule",
                *(f"task_{kind}" for kind in settings.question_types)]
        template_text = "".join(sections.get(name, "") for name in used)
        partner_tokens = max((estimate_tokens(p.text) for p in partners.values()), default=0)
        prompt_tokens = estimate_tokens(longest) + partner_tokens + estimate_tokens(template_text) + 200
        out_tokens = options.num_predict if options.num_predict and options.num_predict > 0 else (
            max(wanted.values()) * OUTPUT_TOKENS_PER_PAIR * (2 if settings.reasoning else 1) + 256
        )
        if settings.kind == "conversation":  # a neighbour chunk may join a short one
            out_tokens = max(out_tokens, settings.turns * OUTPUT_TOKENS_PER_TURN + 256)
            prompt_tokens += max(estimate_tokens(c.text) for c in chunks)
        fixed = False
        try:
            details = backend.model_info(model)
            limit, fixed = details.context_length, details.fixed_context
        except FATAL:
            raise
        except DatasetGenError:
            limit = None
        # a server that fixed its window at start-up gives every request all of it
        num_ctx = limit if fixed and limit else plan_num_ctx(prompt_tokens, out_tokens, limit)
    return Plan(languages, templates, wanted, num_ctx, partners, texts, chunk_languages, choice_templates)


def trial_chunk(store, project_id: int, chunk_id: int, backend: Backend, model: str, settings: Settings,
                options: SamplingOptions = DEFAULT_OPTIONS) -> ChunkResult | ConversationResult:
    """Generate for one chunk what a run of ``settings.kind`` makes, without saving it, to see
    whether a model can do the job.

    ``kind`` ``conversation``: one conversation of ``settings.turns`` exchanges, as a run makes it
    (a short chunk joined by its neighbour, :func:`dataset_gen.generation_conversation.neighbours_of`),
    returned as a :class:`~dataset_gen.conversation_gen.ConversationResult` (its turns, each with
    its evidence and grounded mark, in ``result.conversation.turns``). Otherwise a
    :class:`~dataset_gen.qa.ChunkResult` for the first of the chunk's tasks (the first question
    type of ``settings``): QA pairs, or for ``choice`` objective questions with their options in
    ``choices`` and the correct option's text in ``answer`` (:func:`dataset_gen.choice_generation.generate_choices`).
    Either holds the exact prompt sent (``result.prompt.messages``) and the model's raw reply.

    :raises BackendError: the server not running, the model missing, or invalid output after re-asks.
    """
    from .generation_conversation import neighbours_of  # it imports this module

    chunk = store.get_chunk(chunk_id)
    plan = plan_run(store, project_id, backend, model, settings, options, [chunk])
    language = plan.language(chunk)
    generate, repair = plan.templates[language]
    chat = lambda **kw: backend.chat(model, **kw)  # noqa: E731
    common = dict(chunk_text=plan.texts[chunk.id], document=chunk.document, heading_path=chunk.heading_path,
                  language=language, options=options, context_tokens=plan.num_ctx, max_reasks=settings.max_reasks)
    if settings.kind == ItemKind.CONVERSATION.value:
        neighbours = neighbours_of(store, project_id, [chunk], settings.turns).get(chunk.id, ())
        return generate_conversation(chat, generate, repair, turns=settings.turns, scenario=settings.scenario,
                                     roles=settings.roles, neighbours=neighbours, **common)
    tasks = plan.tasks(settings, chunk) or [Task("factual", settings.reasoning)]
    make, (template, fix) = (generate_choices, plan.choice_templates[language]) if (
        tasks[0].question_type in CHOICE_TYPES) else (generate_pairs, (generate, repair))
    return make(chat, template, fix, n=plan.wanted[chunk.id], task=tasks[0], partner=plan.partners.get(chunk.id),
                **common)
