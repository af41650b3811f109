"""What the judge shows for each kind of item, and which templates it uses (:mod:`dataset_gen.judge`).

Three shapes of request, chosen by :func:`shape_of`:

- a ``qa`` or ``choice`` item with a source chunk: ``qa_judge`` with the source, the question and
  the answer; a ``choice`` item's question carries its options as ``A. …`` lines and its answer is
  ``B. <text>`` (:func:`dataset_gen.export_records.prompt`/``response``, what a fine-tuned model is
  shown), so the judge sees which option was marked right;
- a ``conversation`` with a source chunk: ``conversation_judge`` with the source and every turn in
  position order, each labelled by its template's ``user_turn``/``assistant_turn`` part; one
  verdict for the whole conversation (faithfulness: every assistant turn backed by the source);
- an item with no source chunk (``origin`` ``model`` or ``examples``, ``chunk_id`` ``None``):
  ``nosource_judge``, whose prompt says there is no source text and asks the judge to score from its
  own knowledge. **Faithfulness then means "factually correct as far as the judge knows"**, not
  "backed by a document": it is a weaker check, and the CLI and the app say how many items were
  judged this way. A conversation with no source uses that template's ``conversation`` section.

Templates are ``dataset_gen/prompts/<name>.<language>.txt`` (the re-ask: ``qa_judge_repair`` or
``conversation_judge_repair``); every placeholder is filled strictly (:mod:`dataset_gen.prompts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .export_records import prompt as shown_question
from .export_records import response as shown_answer
from .models import ItemKind, StoredPair
from .prompts import PromptTemplate, fence_tag

__all__ = ["CONVERSATION", "NO_SOURCE", "NO_SOURCE_CONVERSATION", "QA", "Shape", "shape_of", "try_shape",
           "turns_text", "values_for"]


@dataclass(frozen=True)
class Shape:
    """One kind of judge request: the template ``judge`` and its re-ask ``repair`` (names without
    language), the ``section`` of ``judge`` that is the user message, the item ``fields`` it takes
    (besides ``fence``), and ``sourceless``: judged from the judge's own knowledge."""

    judge: str
    repair: str
    section: str
    fields: tuple[str, ...]
    sourceless: bool = False


QA = Shape("qa_judge", "qa_judge_repair", "user", ("source", "question", "answer"))
CONVERSATION = Shape("conversation_judge", "conversation_judge_repair", "user", ("source", "turns"))
NO_SOURCE = Shape("nosource_judge", "qa_judge_repair", "user", ("question", "answer"), sourceless=True)
NO_SOURCE_CONVERSATION = Shape("nosource_judge", "qa_judge_repair", "conversation", ("turns",), sourceless=True)


def shape_of(pair: StoredPair) -> Shape:
    """The request shape of a stored item: by whether it has a source chunk, then by its kind."""
    conversation = pair.kind == ItemKind.CONVERSATION.value
    if pair.chunk_id is None:
        return NO_SOURCE_CONVERSATION if conversation else NO_SOURCE
    return CONVERSATION if conversation else QA


def turns_text(template: PromptTemplate, pair: StoredPair) -> str:
    """Every turn of a conversation in position order, each as the template's ``user_turn`` or
    ``assistant_turn`` part with ``{{content}}`` (e.g. ``User: …``), joined by a blank line. A
    conversation whose turns are not loaded is shown as its first exchange (question, answer).

    :raises PromptError: the template lacks one of the two parts.
    """
    turns = sorted(pair.turns, key=lambda t: t.position)
    exchanges = [(t.role, t.content) for t in turns] or [("user", pair.question), ("assistant", pair.answer)]
    return "\n\n".join(template.part("assistant_turn" if role == "assistant" else "user_turn", content=content)
                       for role, content in exchanges)


def _sections(shape: Shape, template: PromptTemplate) -> tuple[str, ...]:
    return (*(("system",) if "system" in template.sections else ()), shape.section)


def values_for(shape: Shape, template: PromptTemplate, pair: StoredPair, source: str) -> dict[str, str]:
    """The values ``template`` (the shape's judge template) is rendered with for ``pair``: the
    shape's fields (``source``; ``question``/``answer`` as a fine-tuned model is shown them; or
    ``turns``) and, when the template has ``{{fence}}``, a fence tag none of them contains."""
    values: dict[str, str] = {}
    if "source" in shape.fields:
        values["source"] = source
    if "question" in shape.fields:
        values["question"], values["answer"] = shown_question(pair), shown_answer(pair)
    if "turns" in shape.fields:
        values["turns"] = turns_text(template, pair)
    if "fence" in template.variables_of(*_sections(shape, template)):  # an override without it renders as written
        values["fence"] = fence_tag("source", *values.values())
    return values


def render(shape: Shape, template: PromptTemplate, values: dict[str, str]) -> list[dict]:
    """The chat messages of one request (``system`` and the shape's user section).

    :raises PromptError: a placeholder without a value or a value without a placeholder.
    """
    return list(template.render(shape.section, **values).messages)


def try_shape(shape: Shape, judge: PromptTemplate, repair: PromptTemplate) -> None:
    """Render both templates once with stand-in values, so a broken one (an override with a
    placeholder the judge does not fill, a missing turn part) fails before any call.

    :raises PromptError: a template does not render with the judge's values.
    """
    values = {name: "" for name in shape.fields}
    if "fence" in judge.variables_of(*_sections(shape, judge)):
        values["fence"] = "source-000000000000"
    if "turns" in shape.fields:
        judge.part("user_turn", content="")
        judge.part("assistant_turn", content="")
    render(shape, judge, values)
    repair.part("user", problem="")
