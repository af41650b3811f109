"""One chunk in, N grounded QA pairs out: the prompt, the schema, the call and its checks.

This is the unit of generation. :func:`generate_pairs` renders the ``qa_generate`` template, sends
it with the JSON schema of the reply as Ollama's ``format``, validates the reply with pydantic and
the rules below, re-asks with the ``qa_repair`` template a bounded number of times, and checks every
pair's evidence against the chunk (``dataset_gen.grounding``).

The chunk goes into the prompt unchanged (grounding compares quotes with it byte for byte),
fenced by a per-request tag from :func:`dataset_gen.prompts.fence_tag` that the chunk does not
contain, so a chunk holding ``</chunk>`` (or any other tag) cannot end the data fence itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, Field, ValidationError, field_validator

from .backends.json_reply import first_json_value
from .checks import NOT_SELF_CONTAINED, check_reply
from .context_window import (
    MESSAGE_OVERHEAD_TOKENS,
    MIN_REPLY_TOKENS_PER_PAIR,
    ContextWindowError,
    estimate_tokens,
    messages_tokens,
    plan_num_ctx,
    reply_room,
    was_truncated,
)
from .errors import InvalidModelOutputError
from .grounding import is_grounded
from .language import language_matches, script_problem
from .models import ChatReply, QAPair, SamplingOptions
from .prompts import PromptTemplate, RenderedPrompt, fence_tag

__all__ = ["OUTPUT_TOKENS_PER_PAIR", "ChunkResult", "ContextWindowError", "Partner", "Task", "estimate_tokens",
           "generate_pairs", "pairs_wanted", "plan_num_ctx", "reply_schema"]

OUTPUT_TOKENS_PER_PAIR = 300
"""Token budget per requested pair when the user sets no ``num_predict`` (question, answer, quote, JSON)."""

CUT_OFF = "the reply was cut off before the JSON ended; write shorter answers"
"""The problem the model is shown when its reply stopped at the token limit."""


class _PairItem(BaseModel):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    evidence: str = ""
    reasoning: str = ""

    @field_validator("question", "answer", "evidence", "reasoning", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class _PairsReply(BaseModel):
    pairs: list[_PairItem]


@dataclass(frozen=True)
class Task:
    """What to ask for: ``question_type`` (one of ``QUESTION_TYPES``), whether each pair carries a
    short ``reasoning`` (chain of thought), and the ``audience`` to phrase it for (``""``: none)."""

    question_type: str = "factual"
    reasoning: bool = False
    audience: str = ""


@dataclass(frozen=True)
class Partner:
    """The second chunk of a comparison question: its id, text and heading path."""

    chunk_id: int
    text: str
    heading_path: tuple[str, ...]


MIN_LENGTHS = {"question": 4, "answer": 1, "evidence": 8, "reasoning": 1}
"""``minLength`` (characters) of each field in :func:`reply_schema`: Ollama's grammar then cannot
end a field at ``""``; an answer may be one character (``"5"``, ``"是"``)."""


def reply_schema(n: int, reasoning: bool = False) -> dict:
    """JSON schema of the expected reply: an object with exactly ``n`` pairs (Ollama ``format``);
    with ``reasoning``, each pair also has a ``reasoning`` string, placed before the answer. Each
    string has the ``minLength`` of :data:`MIN_LENGTHS`."""
    fields = ["question", *(["reasoning"] if reasoning else []), "answer", "evidence"]
    item = {
        "type": "object",
        "properties": {name: {"type": "string", "minLength": MIN_LENGTHS.get(name, 1)} for name in fields},
        "required": fields,
    }
    return {
        "type": "object",
        "properties": {"pairs": {"type": "array", "items": item, "minItems": n, "maxItems": n}},
        "required": ["pairs"],
    }


def pairs_wanted(chunk_chars: int, pairs_per_chunk: int, chars_per_pair: int) -> int:
    """How many pairs to ask for: ``pairs_per_chunk`` when > 0, else one per ``chars_per_pair``
    characters of chunk (at least 1).

    :raises ValueError: both settings are 0 or negative.
    """
    if pairs_per_chunk > 0:
        return pairs_per_chunk
    if chars_per_pair > 0:
        return max(1, math.ceil(chunk_chars / chars_per_pair))
    raise ValueError("Set pairs per chunk or characters per pair to a number above 0")


@dataclass
class ChunkResult:
    """What one chunk's generation produced.

    ``pairs`` are checked pairs (possibly fewer than asked when the model never managed N);
    ``prompt`` is the first rendered prompt and ``raw`` the last raw reply, for a trial run;
    ``attempts`` counts calls made; token counts and ``duration_s`` add up all calls.
    """

    pairs: list[QAPair]
    prompt: RenderedPrompt
    raw: str = ""
    thinking: str = ""
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0
    problems: list[str] = field(default_factory=list)


def _parse(content: str) -> list[_PairItem]:
    """Parse a reply into pair items; raise ValueError with a short reason.

    Takes the whole reply as JSON, or else the body of a Markdown code fence that wraps the reply,
    or else the first JSON value that decodes (models sometimes add a sentence before the JSON, or
    open an object and start over: :func:`~dataset_gen.backends.json_reply.first_json_value`).
    """
    text = content.strip()
    if not text:
        raise ValueError("the reply was empty")
    fence = re.match(r"```[\w-]*\s*\n(.*?)\n?```\s*$", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    data = first_json_value(text)
    if isinstance(data, list):
        data = {"pairs": data}
    try:
        return _PairsReply.model_validate(data).pairs
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"the JSON does not match the required shape ({where}: {first['msg']})") from None


def _pair_key(item: _PairItem) -> tuple[str, str]:
    """Question and answer with runs of whitespace made one space and case folded: two pairs with
    the same key are the same pair."""
    return " ".join(item.question.split()).casefold(), " ".join(item.answer.split()).casefold()


def _distinct(items: list[_PairItem]) -> tuple[list[_PairItem], int]:
    """``(items without repeats, how many repeats were dropped)``; the first of equal pairs
    (same :func:`_pair_key`) is kept, in reply order."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in items:
        key = _pair_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept, len(items) - len(kept)


def _problems(items: list[_PairItem], n: int, language: str, repeated: int = 0, reasoning: bool = False) -> list[str]:
    """What is wrong with a parsed reply of distinct ``items`` (``repeated`` copies already
    dropped), as short phrases for the re-ask; empty when it is usable as it is."""
    problems = []
    if len(items) < n and repeated:
        problems.append(f"it has {len(items)} different pairs, not {n} ({repeated} repeated "
                        f"{'pair was' if repeated == 1 else 'pairs were'} dropped)")
    elif len(items) < n:
        problems.append(f"it has {len(items)} pairs, not {n}")
    for i, item in enumerate(items[:n], 1):
        lowered = item.question.lower()
        phrase = next((p for p in NOT_SELF_CONTAINED if p in lowered), None)
        if phrase:
            problems.append(f"question {i} says '{phrase}'; questions must stand on their own")
        if reasoning and not item.reasoning:
            problems.append(f"pair {i} has no reasoning; each pair needs its own")
    script = script_problem(" ".join(f"{p.question} {p.answer}" for p in items[:n]), language)
    if script:
        problems.append(f"it is {script}")
    return problems


def _one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks included) as one space."""
    return " ".join(text.split())


def _heading_line(heading_path: tuple[str, ...]) -> str:
    """A heading path as one line, ``A > B > C`` (``-`` for none)."""
    return _one_line(" > ".join(heading_path)) or "-"


def _check_fits(prompt_tokens: int, context_tokens: int | None, n: int, document: str,
                heading_path: tuple[str, ...]) -> str:
    """The chunk's name for error messages, after checking that a prompt of about
    ``prompt_tokens`` leaves room in ``context_tokens`` for ``n`` pairs
    (:data:`MIN_REPLY_TOKENS_PER_PAIR` each).

    :raises ContextWindowError: it does not, so the chunk fails before anything is sent.
    """
    where = f"{document} ({_heading_line(heading_path)})"
    if context_tokens and reply_room(prompt_tokens, context_tokens) < n * MIN_REPLY_TOKENS_PER_PAIR:
        raise ContextWindowError(
            f"{where}: the prompt is about {prompt_tokens} tokens and the model's context window is "
            f"{context_tokens} tokens, leaving no room for {n} pairs (at least {n * MIN_REPLY_TOKENS_PER_PAIR} "
            "tokens); nothing was sent: use smaller chunks or a model with a longer context")
    return where


def generate_pairs(
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
    task: Task = Task(),
    partner: Partner | None = None,
) -> ChunkResult:
    """Ask for ``n`` QA pairs about one chunk and return the checked pairs.

    ``task`` picks the question type, reasoning and audience (the wording comes from the
    template's ``task_<type>``, ``reasoning_rule`` and ``audience_rule`` sections). A comparison
    needs ``partner``, the second chunk: both go in the prompt (section ``user_comparison``), the
    evidence may come from either, and the pairs record the partner in ``context_chunk_ids``.
    With reasoning asked for, the schema asks for a ``reasoning`` per pair and the model is let
    think (``think=True``); a pair without its own reasoning is a problem to re-ask about (the
    reply's whole thinking is never copied into pairs). Without it, ``think=False``: thinking is
    off while the JSON reply is required.

    ``options.num_predict`` of ``None`` gives a budget of :data:`OUTPUT_TOKENS_PER_PAIR` per pair;
    a reply cut off at the budget (``done_reason == "length"``) doubles it for the re-ask. The
    budget (in tokens) is never more than the window ``context_tokens`` leaves after the prompt
    (estimated high for the first call, then from the server's ``prompt_eval_count`` plus the
    reply and the re-ask), and a prompt that leaves less than :data:`MIN_REPLY_TOKENS_PER_PAIR`
    per pair fails before it is sent; a re-ask that would leave less is not sent (the best reply
    so far is kept). A reply whose ``prompt_tokens`` fill the whole window was cut by the server
    (:func:`dataset_gen.context_window.was_truncated`): it fails the chunk, unless an earlier reply
    was usable. ``chat`` is a callable with :meth:`dataset_gen.backends.Backend.chat`'s keywords
    minus ``model`` (``messages, schema, options, context_tokens, think``) returning a
    :class:`ChatReply`; ``context_tokens`` is the window the run needs (:func:`plan_num_ctx`). A reply that is not
    the expected JSON, has fewer than ``n`` pairs, uses a phrase from :data:`NOT_SELF_CONTAINED`,
    or is not in ``language`` (its script or Chinese script,
    :func:`dataset_gen.language.script_problem`) is asked again up to ``max_reasks`` times, showing the model
    its reply and the problem. A pair repeated within one reply (same question and same answer
    once whitespace runs are one space and case is folded) is kept once, and a reply left with
    fewer than ``n`` different pairs counts as short. Extra pairs beyond ``n`` are dropped (after
    the repeats). The chunk (and a comparison's second chunk) is fenced by ``{{fence}}`` when the
    template uses it (see :func:`dataset_gen.prompts.fence_tag`). After the re-asks, the best
    usable reply is kept (nothing usable is thrown away); if no reply ever parsed, it raises.
    Every kept pair carries the reason codes of :func:`dataset_gen.checks.check_reply` in ``flags``.

    :raises InvalidModelOutputError: no reply parsed as pairs; ``.raw`` holds the last reply.
    :raises ContextWindowError: the prompt does not fit the window (nothing sent), or the server cut it.
    :raises BackendError: from ``chat`` (unreachable server, model not pulled, failed retries).
    """
    extra = ""
    if task.reasoning:
        extra += "\n" + template.part("reasoning_rule")
    if task.audience:
        extra += "\n" + template.part("audience_rule", audience=task.audience)
    wording = template.part(f"task_{task.question_type}", n=n)
    document = _one_line(document)  # a file name may hold line breaks: it stays one line of data
    if task.question_type == "comparison":
        if partner is None:
            raise ValueError("A comparison question needs a second chunk")
        section = "user_comparison"
        values = dict(
            task=wording, extra_rules=extra, document=document,
            heading_path_a=_heading_line(heading_path), chunk_a=chunk_text,
            heading_path_b=_heading_line(partner.heading_path), chunk_b=partner.text,
        )
    else:
        section = "user"
        values = dict(
            task=wording, extra_rules=extra, document=document,
            heading_path=_heading_line(heading_path), chunk=chunk_text,
        )
    if "fence" in template.variables_of(*(name for name in ("system", section) if name in template.sections)):
        # A project override written before the fence placeholder renders as it was written.
        values["fence"] = fence_tag("chunk", *(str(v) for v in values.values()))
    prompt = template.render(section, **values)
    sources = [chunk_text] + ([partner.text] if partner and task.question_type == "comparison" else [])
    context_ids = (partner.chunk_id,) if partner and task.question_type == "comparison" else ()
    messages = list(prompt.messages)
    budget = options.num_predict if options.num_predict is not None else n * OUTPUT_TOKENS_PER_PAIR + 256
    result = ChunkResult(pairs=[], prompt=prompt)
    best: list[_PairItem] | None = None
    prompt_tokens = messages_tokens(messages)  # an estimate, high; replaced by the server's count
    fits = _check_fits(prompt_tokens, context_tokens, n, document, heading_path)
    for attempt in range(max_reasks + 1):
        if context_tokens and budget > 0:
            budget = min(budget, reply_room(prompt_tokens, context_tokens))
        call_options = replace(options, num_predict=budget)
        reply: ChatReply = chat(messages=messages, schema=reply_schema(n, task.reasoning), options=call_options,
                                context_tokens=context_tokens, think=task.reasoning)
        result.attempts += 1
        result.raw, result.thinking = reply.content, reply.thinking
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        result.duration_s += reply.duration_s
        if was_truncated(reply.prompt_tokens, context_tokens):
            result.problems.append(f"the server cut the prompt to its window of {context_tokens} tokens")
            if best is not None:
                break  # a re-ask that no longer fits: keep what the earlier reply gave
            raise ContextWindowError(
                f"{fits}: the server evaluated {reply.prompt_tokens} tokens, its whole window of {context_tokens}, "
                "so it cut the prompt and the reply is not about the whole chunk; use smaller chunks "
                "or a model with a longer context")
        try:
            items, repeated = _distinct(_parse(reply.content))
        except ValueError as exc:
            problem = str(exc)
            if reply.done_reason == "length":
                problem = CUT_OFF
                budget = budget * 2 if budget > 0 else budget
            problems = [problem]
        else:
            problems = _problems(items, n, language, repeated, task.reasoning)
            if best is None or len(items[:n]) > len(best) or not problems:
                best = items[:n]
            if not problems:
                break
        result.problems.extend(problems)
        if attempt < max_reasks:
            fix = repair.render(problem="; ".join(problems), n=n)
            if reply.prompt_tokens:
                prompt_tokens = reply.prompt_tokens + reply.completion_tokens + MESSAGE_OVERHEAD_TOKENS
            else:
                prompt_tokens += estimate_tokens(reply.content) + MESSAGE_OVERHEAD_TOKENS
            prompt_tokens += messages_tokens(list(fix.messages))
            if context_tokens and reply_room(prompt_tokens, context_tokens) < n * MIN_REPLY_TOKENS_PER_PAIR:
                result.problems.append(f"a re-ask of about {prompt_tokens} tokens leaves no room for the reply "
                                       f"in the window of {context_tokens} tokens")
                break
            messages = [*messages, {"role": "assistant", "content": reply.content}, *fix.messages]
    if best is None:
        last = result.problems[-1]
        if last == CUT_OFF:
            last = (f"the reply was cut off at its limit of {call_options.num_predict} tokens before the JSON "
                    "ended; raise --num-predict (the reply's token limit) or ask for fewer pairs per chunk")
        raise InvalidModelOutputError(
            f"The model's reply was not usable after {result.attempts} tries: {last}", raw=result.raw)
    flags = check_reply([(p.question, p.answer, p.evidence) for p in best], "\n\n".join(sources), language,
                        question_type=task.question_type, heading_path=heading_path)
    result.pairs = [
        QAPair(
            p.question, p.answer, p.evidence, any(is_grounded(p.evidence, text) for text in sources),
            question_type=task.question_type,
            reasoning=p.reasoning if task.reasoning else "",
            audience=task.audience, context_chunk_ids=context_ids,
            language_ok=language_matches(f"{p.question} {p.answer}", language),
            flags=codes,
        )
        for p, codes in zip(best, flags, strict=True)
    ]
    return result
