"""One chunk in, N objective questions out: single choice (four options) or true/false.

The counterpart of :func:`dataset_gen.qa.generate_pairs` for ``choice`` items, with the same
keywords, so a run calls either one per task (:mod:`dataset_gen.generation`). The reply is JSON,
``{"items": [{"question", "options", "answer", "evidence"}]}`` (true/false items have no
``options``: code gives them the two of the language, :func:`dataset_gen.choice.true_false_options`).
Code checks every item: its options (:func:`dataset_gen.choice.option_problem`) and its evidence
against the chunk (:func:`dataset_gen.grounding.is_grounded`); a single-choice item's four options
are then put in an order drawn from its question (:func:`dataset_gen.choice.shuffle_options`), so
the correct one is not always ``A``. An item whose options are wrong
is dropped, its reason kept in :attr:`ChunkResult.problems`; a reply with fewer than N usable
items is asked again with ``choice_repair`` up to ``max_reasks`` times, and the reply with the
most usable items is kept.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .backends.json_reply import first_json_value
from .checks import check_reply
from .choice import option_problem, score_choice, shuffle_options, true_false_options
from .context_window import MESSAGE_OVERHEAD_TOKENS, estimate_tokens, messages_tokens, reply_room
from .errors import InvalidModelOutputError
from .grounding import is_grounded
from .language import language_matches
from .models import ItemKind, QAPair, SamplingOptions
from .prompts import PromptTemplate, fence_tag
from .qa import OUTPUT_TOKENS_PER_PAIR, ChunkResult, Partner, Task, _check_fits, _heading_line, _one_line

__all__ = ["SINGLE_CHOICE", "choice_schema", "generate_choices", "read_items"]

SINGLE_CHOICE = Task("single_choice")
"""The default task of :func:`generate_choices`."""


def choice_schema(n: int, question_type: str, language: str) -> dict:
    """JSON schema of the reply (Ollama ``format``): ``items``, exactly ``n``; a single-choice item
    has four ``options``; a true/false item's ``answer`` is one of the language's two options."""
    fields: dict = {"question": {"type": "string", "minLength": 4}}
    if question_type == "true_false":
        fields["answer"] = {"type": "string", "enum": list(true_false_options(language))}
    else:
        fields["options"] = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 4, "maxItems": 4}
        fields["answer"] = {"type": "string", "minLength": 1}
    fields["evidence"] = {"type": "string", "minLength": 8}
    item = {"type": "object", "properties": fields, "required": list(fields)}
    return {"type": "object", "properties": {"items": {"type": "array", "items": item, "minItems": n, "maxItems": n}},
            "required": ["items"]}


def read_items(content: str, question_type: str, language: str) -> tuple[list[tuple[str, tuple[str, ...], str, str]],
                                                                           list[str]]:
    """``(usable items as (question, options, answer, evidence), problems)`` of one reply.

    The reply is the whole text as JSON, the body of a Markdown fence around it, or its first JSON
    value; a list alone is taken as the items. An answer given as a letter or as another spelling
    of one option (:func:`dataset_gen.choice.score_choice`) becomes that option's exact text; an
    item whose options or answer are still wrong is left out with ``"question K: <reason>"``.

    :raises ValueError: the reply is empty or holds no list of items.
    """
    text = content.strip()
    if not text:
        raise ValueError("the reply was empty")
    fence = re.match(r"```[\w-]*\s*\n(.*?)\n?```\s*$", text, re.DOTALL)
    data = first_json_value(fence.group(1).strip() if fence else text)
    if isinstance(data, dict):
        data = next((data[k] for k in ("items", "questions", "pairs") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise ValueError('the JSON has no "items" list')
    usable, problems = [], []
    for number, raw in enumerate(data, 1):
        if not isinstance(raw, dict):
            problems.append(f"question {number} is not an object")
            continue
        question, answer, evidence = (str(raw.get(k) or "").strip() for k in ("question", "answer", "evidence"))
        options: tuple[str, ...]
        if question_type == "true_false":
            options = true_false_options(language)
        else:
            given = raw.get("options")
            options = tuple(str(o).strip() for o in given) if isinstance(given, list) else ()
        if answer not in options and len(set(options)) == len(options):
            answer = next((o for o in options if score_choice(answer, options, o)), answer)
        problem = "the question is empty" if not question else option_problem(question_type, options, answer, language)
        if problem:
            problems.append(f"question {number}: {problem}")
            continue
        usable.append((question, tuple(options), answer, evidence))
    return usable, problems


def generate_choices(
    chat,
    template: PromptTemplate,
    repair: PromptTemplate,
    *,
    chunk_text: str,
    document: str,
    heading_path: tuple[str, ...],
    n: int,
    language: str,
    options: SamplingOptions,
    context_tokens: int,
    max_reasks: int = 2,
    task: Task = SINGLE_CHOICE,
    partner: Partner | None = None,
) -> ChunkResult:
    """Ask for ``n`` objective questions of ``task.question_type`` (``single_choice`` or
    ``true_false``) about one chunk and return them checked, as ``kind='choice'`` pairs with their
    options in ``choices`` and the correct option's text in ``answer``.

    Keywords as :func:`dataset_gen.qa.generate_pairs` (``partner`` is not used). Thinking is off
    (``think=False``). A prompt that leaves no room for ``n`` items fails before it is sent.

    :raises InvalidModelOutputError: no reply held one usable item; ``.raw`` holds the last reply.
    :raises ContextWindowError: the prompt does not fit the window (nothing sent).
    :raises BackendError: from ``chat``.
    """
    kind = task.question_type
    truth, falsehood = true_false_options(language)
    wording = template.part(f"task_{kind}", **({"n": n, "true": truth, "false": falsehood}
                                               if kind == "true_false" else {"n": n}))
    document = _one_line(document)
    values = dict(task=wording, document=document, heading_path=_heading_line(heading_path), chunk=chunk_text)
    values["fence"] = fence_tag("chunk", *(str(v) for v in values.values()))
    prompt = template.render("user", **values)
    messages = list(prompt.messages)
    budget = options.num_predict if options.num_predict is not None else n * OUTPUT_TOKENS_PER_PAIR + 256
    result = ChunkResult(pairs=[], prompt=prompt)
    prompt_tokens = messages_tokens(messages)
    _check_fits(prompt_tokens, context_tokens, n, document, heading_path)
    best: list | None = None
    for attempt in range(max_reasks + 1):
        if context_tokens and budget > 0:
            budget = min(budget, reply_room(prompt_tokens, context_tokens))
        reply = chat(messages=messages, schema=choice_schema(n, kind, language), options=replace(options, num_predict=budget),
                     context_tokens=context_tokens, think=False)
        result.attempts += 1
        result.raw, result.thinking = reply.content, reply.thinking
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        result.duration_s += reply.duration_s
        try:
            items, problems = read_items(reply.content, kind, language)
        except ValueError as exc:
            items, problems = [], [str(exc)]
        else:
            if best is None or len(items[:n]) > len(best):
                best = items[:n]
            if len(items) < n:
                problems.append(f"{len(items)} of the {n} questions asked for are usable")
        result.problems.extend(problems)
        if best is not None and len(best) >= n:
            break
        if attempt < max_reasks:
            fix = repair.render(problem="; ".join(problems), n=n)
            prompt_tokens = (reply.prompt_tokens + reply.completion_tokens if reply.prompt_tokens
                             else prompt_tokens + estimate_tokens(reply.content)) + MESSAGE_OVERHEAD_TOKENS
            prompt_tokens += messages_tokens(list(fix.messages))
            messages = [*messages, {"role": "assistant", "content": reply.content}, *fix.messages]
    if not best:
        raise InvalidModelOutputError(
            f"The model's reply was not usable after {result.attempts} tries: {result.problems[-1]}", raw=result.raw)
    # a model tends to put the correct option first: the options are stored in the question's own order
    best = [(q, opts if kind == "true_false" else shuffle_options(q, opts), a, e) for q, opts, a, e in best]
    # a true/false statement is checked as the answer its evidence must support
    flags = check_reply([(q, q if kind == "true_false" else a, e) for q, _, a, e in best], chunk_text, language,
                        question_type=kind, heading_path=heading_path)
    result.pairs = [
        QAPair(q, a, e, is_grounded(e, chunk_text), question_type=kind,
               language_ok=language_matches(f"{q} {' '.join(opts)}", language), flags=codes,
               kind=ItemKind.CHOICE.value, choices=opts)
        for (q, opts, a, e), codes in zip(best, flags, strict=True)
    ]
    return result
