"""Distillation from a topic, with no document: topic → tag tree → questions per leaf tag → an
answer per question, all from the model's own knowledge.

Three templates (``dataset_gen/prompts/``): ``distill_tags`` (one call: ``tags`` top-level tags,
each with ``tags`` sub-tags when ``levels`` is 2), ``distill_questions`` (one call per leaf tag:
``questions_per_tag`` questions), ``distill_answer`` (one call per question). The tree is stored
as the project's tag tree (:meth:`Store.save_tag_tree`) so a person can see and edit it before
questions are asked (``tags --show`` / ``tags --load``, or the Distill page); a project that
already has a tree distils from it. Items are stored as they arrive with ``origin='model'``, no
chunk, ``grounded`` false and their leaf tag; they are checked by code like any pair except for
the evidence rule (they have no source: :func:`sourceless_flags`). The whole is one run of kind
``distill`` with every call's token counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .asking import Asker, Cancelled, strings
from .checks import check_pair
from .errors import InvalidModelOutputError
from .language import detect_language, language_matches
from .models import Origin, QAPair, SamplingOptions
from .prompts import fence_tag, load_prompt
from .store_tags import Tree
from .tags import TREE_SCHEMA, TREE_SHAPE, leaves, parse_tree

ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
ANSWER_SHAPE = 'an object with an "answer" string'


def questions_schema(n: int) -> dict:
    """JSON schema of a ``distill_questions`` reply: ``{"questions": [n strings]}``."""
    return {"type": "object", "properties": {"questions": {"type": "array", "items": {"type": "string"},
                                                           "minItems": n, "maxItems": n}},
            "required": ["questions"]}


def sourceless_flags(question: str, answer: str, language: str) -> tuple[str, ...]:
    """The reason codes of :func:`dataset_gen.checks.check_pair` for an item with no source chunk:
    every check but the evidence rule (``trivial_evidence``), the answer standing in for the
    source text the language rule compares kana against."""
    return tuple(code for code in check_pair(question, answer, answer, answer, language)
                 if code != "trivial_evidence")


def sourceless_pair(question: str, answer: str, language: str) -> QAPair:
    """A :class:`QAPair` with no evidence, not grounded, flagged by :func:`sourceless_flags`."""
    flags = sourceless_flags(question, answer, language)
    return QAPair(question, answer, "", False, language_ok="wrong_language" not in flags
                  and language_matches(f"{question}\n{answer}", language), flags=flags)


def topic_language(topic: str, language: str | None) -> str:
    """``language`` when given (not ``None``/``"auto"``), else the topic text's detected language
    (:func:`dataset_gen.language.detect_language`; ``"en"`` for a text too short to tell)."""
    if language and language != "auto":
        return language
    found = detect_language(topic)
    return found if found and found != "und" else "en"


@dataclass
class DistillSummary:
    """Outcome of :func:`distill`: ``run_id``; ``tree`` used; ``tree_built`` when the model made it
    in this run; ``items`` stored; ``failures`` (tag path or question, one-line error) of calls
    whose reply stayed unusable; ``status`` of the run (``finished``, ``cancelled``, ``failed``);
    ``calls`` and ``prompt_tokens`` over the run."""

    run_id: int
    language: str
    tree: Tree = field(default_factory=list)
    tree_built: bool = False
    items: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    status: str = "finished"
    calls: int = 0
    prompt_tokens: int = 0


def distill(store, project_id: int, backend, model: str, topic: str, *, levels: int = 2, tags: int = 5,
            questions_per_tag: int = 5, language: str | None = None, tree: Tree | None = None,
            new_tree: bool = False, tree_only: bool = False, options: SamplingOptions | None = None,
            cancel: threading.Event | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> DistillSummary:
    """Distil items about ``topic`` into project ``project_id`` with ``model``.

    The tree: ``tree`` when given (stored first), else the project's stored tree, else (or with
    ``new_tree``) one made by the model (``tags`` top-level tags; with ``levels`` 2 each gets
    ``tags`` sub-tags). ``tree_only`` stops once the tree is stored. Then ``questions_per_tag``
    questions per leaf tag and one answer each; ``on_progress(done, total)`` after each answer
    (``total`` = leaves × questions). ``language`` (default: the topic's, :func:`topic_language`)
    picks the templates. A reply still unusable after a re-ask is listed in ``failures`` and the
    run goes on; ``cancel`` stops between calls (status ``cancelled``).

    :raises ValueError: ``levels`` not 1 or 2, counts below 1, or an empty topic.
    :raises BackendError: the server failed (the run is recorded ``failed``).
    """
    if levels not in (1, 2):
        raise ValueError(f"--levels is 1 or 2, not {levels}")
    if tags < 1 or questions_per_tag < 1:
        raise ValueError("--tags and --questions-per-tag are at least 1")
    topic = topic.strip()
    if not topic:
        raise ValueError("The topic is empty: describe what the dataset is about")
    lang = topic_language(topic, language)
    options = options or SamplingOptions()
    run_id = store.start_item_run(project_id, "distill", model, options.to_ollama(), "distill_answer",
                                  load_prompt("distill_answer", lang).meta.version)
    asker = Asker(store, run_id, backend, model, lang, overrides=store.prompt_overrides(project_id),
                  options=options, cancel=cancel)
    summary = DistillSummary(run_id, lang)
    status = "failed"
    try:
        _distil(store, project_id, asker, topic, summary, levels=levels, tags=tags, n=questions_per_tag, tree=tree,
                new_tree=new_tree, tree_only=tree_only, on_progress=on_progress)
        status = "finished"
    except Cancelled:
        status = "cancelled"
    finally:
        summary.status, summary.calls, summary.prompt_tokens = status, asker.calls, asker.prompt_tokens
        store.finish_run(run_id, status)
    return summary


def _distil(store, project_id: int, asker: Asker, topic: str, summary: DistillSummary, *, levels: int, tags: int,
            n: int, tree: Tree | None, new_tree: bool, tree_only: bool,
            on_progress: Callable[[int, int], None] | None) -> None:
    if tree is not None:
        store.save_tag_tree(project_id, tree)
    elif new_tree or not store.list_tags(project_id):
        template = asker.template("distill_tags")
        rule = template.part("children_rule", children=tags) if levels == 2 else ""
        made = asker.ask("distill_tags", {"fence": fence_tag("topic", topic), "topic": topic, "count": tags,
                                          "children_rule": rule}, TREE_SCHEMA, parse_tree, TREE_SHAPE)
        if levels == 1:
            made = [(name, []) for name, _ in made]
        store.save_tag_tree(project_id, made)
        summary.tree_built = True
    summary.tree = store.tag_tree(project_id)
    if tree_only:
        return
    targets = leaves(store.list_tags(project_id))
    total = len(targets) * n
    done = 0
    for tag in targets:
        values = {"fence": fence_tag("topic", topic, tag.path), "topic": topic, "tag": tag.path, "n": n}
        try:
            questions = asker.ask("distill_questions", values, questions_schema(n),
                                  lambda v: strings(v, "questions", want=n), 'an object with a "questions" list of strings')
        except InvalidModelOutputError as exc:
            summary.failures.append((tag.path, str(exc)))
            done += n
            continue
        for question in questions:
            values = {"fence": fence_tag("topic", topic, tag.path, question), "topic": topic, "tag": tag.path,
                      "question": question}
            try:
                answer = asker.ask("distill_answer", values, ANSWER_SCHEMA, _answer, ANSWER_SHAPE)
            except InvalidModelOutputError as exc:
                summary.failures.append((question, str(exc)))
            else:
                store.add_sourceless_pairs(project_id, summary.run_id, [sourceless_pair(question, answer, asker.language)],
                                           Origin.MODEL.value, [tag.id])
                summary.items += 1
            done += 1
            if on_progress:
                on_progress(done, total)
        done += n - len(questions)


def _answer(value: object) -> str:
    answer = value.get("answer") if isinstance(value, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError('the reply has no "answer" text')
    return answer.strip()
