"""One chunk in, one grounded multi-turn conversation out, in ONE model call (a repair call only
when the reply is unusable).

:func:`generate_conversation` renders the ``conversation_generate`` template, sends it with the
JSON schema of :func:`dataset_gen.conversation.reply_schema` as the ``format``, re-asks with
``conversation_repair`` a bounded number of times when the reply does not parse, is short, lacks
evidence or is in the wrong script, and checks every turn by code
(:func:`dataset_gen.conversation.check_turns`). The chunk (and any neighbour chunk) goes into the
prompt unchanged inside a per-request fence (:func:`dataset_gen.prompts.fence_tag`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .context_window import (
    MESSAGE_OVERHEAD_TOKENS,
    MIN_REPLY_TOKENS_PER_PAIR,
    ContextWindowError,
    estimate_tokens,
    messages_tokens,
    reply_room,
    was_truncated,
)
from .conversation import Conversation, check_turns, parse_reply, problems, reply_schema
from .errors import InvalidModelOutputError
from .models import SamplingOptions
from .prompts import PromptTemplate, RenderedPrompt, fence_tag

OUTPUT_TOKENS_PER_TURN = 250
"""Token budget per exchange (user turn, assistant turn, evidence, JSON) when no ``num_predict`` is set."""

NEIGHBOUR_CHARS_PER_TURN = 250
"""A chunk shorter than this many characters per exchange asked for is joined by its neighbour
(the next chunk of its document, or the one before for the last), so N turns have enough to ask about."""


@dataclass(frozen=True)
class Neighbour:
    """A chunk next to the conversation's own that it may also rest on: id, text, heading path."""

    chunk_id: int
    text: str
    heading_path: tuple[str, ...]


@dataclass
class ConversationResult:
    """What one conversation call produced: ``conversation`` (``None`` only before a reply
    parsed), the first rendered ``prompt``, the last ``raw`` reply, ``attempts`` (calls made),
    token counts and ``duration_s`` (seconds) summed over the calls, and the ``problems`` re-asked about."""

    prompt: RenderedPrompt
    conversation: Conversation | None = None
    raw: str = ""
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0
    problems: list[str] = field(default_factory=list)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _heading_line(heading_path: tuple[str, ...]) -> str:
    return _one_line(" > ".join(heading_path)) or "-"


def generate_conversation(
    chat,
    template: PromptTemplate,
    repair: PromptTemplate,
    *,
    chunk_text: str,
    document: str,
    heading_path: tuple[str, ...],
    turns: int,
    language: str,
    options: SamplingOptions,
    context_tokens: int,
    max_reasks: int = 2,
    scenario: str = "",
    roles: tuple[str, ...] = (),
    neighbours: tuple[Neighbour, ...] = (),
) -> ConversationResult:
    """Ask for one conversation of ``turns`` exchanges (``2 * turns`` turns) about one chunk.

    ``scenario`` (one line, ``""``: none) and ``roles`` (``(user, assistant)`` descriptions, ``()``:
    a person and an assistant) go into the prompt through the template's ``scenario_rule`` and
    ``roles_rule`` parts. ``neighbours`` are shown before the chunk, each in its own fence; evidence
    may come from any of them, and the conversation records them in ``context_chunk_ids``.
    ``chat`` is as for :func:`dataset_gen.qa.generate_pairs` (keywords ``messages, schema, options,
    context_tokens, think``). The reply budget is ``options.num_predict`` or
    :data:`OUTPUT_TOKENS_PER_TURN` per exchange plus 256, never more than the window leaves, doubled
    for the re-ask when a reply was cut off at it. A reply that does not parse, has fewer exchanges,
    an assistant turn without evidence, or the wrong script is re-asked about up to ``max_reasks``
    times; the best parsed reply is kept (extra exchanges dropped) and checked turn by turn.

    :raises InvalidModelOutputError: no reply parsed; ``.raw`` holds the last reply.
    :raises ContextWindowError: the prompt leaves no room for the reply (nothing sent), or the
        server cut it.
    :raises BackendError: from ``chat``.
    """
    extra = ""
    if scenario.strip():
        extra += "\n" + template.part("scenario_rule", scenario=_one_line(scenario))
    if roles:
        extra += "\n" + template.part("roles_rule", user_role=_one_line(roles[0]), assistant_role=_one_line(roles[1]))
    document = _one_line(document)
    fence = fence_tag("chunk", chunk_text, document, *(n.text for n in neighbours))
    before = "".join(template.part("neighbour", fence=fence, document=document,
                                   heading_path=_heading_line(n.heading_path), chunk=n.text) + "\n\n"
                     for n in neighbours)
    prompt = template.render("user", fence=fence, n=turns, extra_rules=extra, document=document,
                             heading_path=_heading_line(heading_path), chunk=chunk_text, neighbours=before)
    sources = [chunk_text, *(n.text for n in neighbours)]
    messages = list(prompt.messages)
    budget = options.num_predict if options.num_predict is not None else turns * OUTPUT_TOKENS_PER_TURN + 256
    prompt_tokens = messages_tokens(messages)
    where = f"{document} ({_heading_line(heading_path)})"
    if context_tokens and reply_room(prompt_tokens, context_tokens) < turns * MIN_REPLY_TOKENS_PER_PAIR:
        raise ContextWindowError(
            f"{where}: the prompt is about {prompt_tokens} tokens and the model's context window is "
            f"{context_tokens} tokens, leaving no room for {turns} exchanges; nothing was sent: use smaller "
            "chunks, fewer turns or a model with a longer context")
    result = ConversationResult(prompt=prompt)
    best: list[tuple[str, str, str]] | None = None
    for attempt in range(max_reasks + 1):
        if context_tokens and budget > 0:
            budget = min(budget, reply_room(prompt_tokens, context_tokens))
        reply = chat(messages=messages, schema=reply_schema(turns), options=replace(options, num_predict=budget),
                     context_tokens=context_tokens, think=False)
        result.attempts += 1
        result.raw = reply.content
        result.prompt_tokens += reply.prompt_tokens
        result.completion_tokens += reply.completion_tokens
        result.duration_s += reply.duration_s
        if was_truncated(reply.prompt_tokens, context_tokens):
            if best is not None:
                break
            raise ContextWindowError(f"{where}: the server cut the prompt to its window of {context_tokens} "
                                     "tokens; use smaller chunks or a model with a longer context")
        try:
            exchanges = parse_reply(reply.content)
        except ValueError as exc:
            found = [str(exc)]
            if reply.done_reason == "length":
                found = ["the reply was cut off before the JSON ended; write shorter turns"]
                budget = budget * 2 if budget > 0 else budget
        else:
            found = problems(exchanges, turns, language)
            if best is None or len(exchanges[:turns]) > len(best) or not found:
                best = exchanges[:turns]
            if not found:
                break
        result.problems.extend(found)
        if attempt < max_reasks:
            fix = repair.render(problem="; ".join(found), n=turns)
            prompt_tokens = (reply.prompt_tokens + reply.completion_tokens if reply.prompt_tokens
                             else prompt_tokens + estimate_tokens(reply.content)) + MESSAGE_OVERHEAD_TOKENS
            prompt_tokens += messages_tokens(list(fix.messages))
            messages = [*messages, {"role": "assistant", "content": reply.content}, *fix.messages]
    if best is None:
        raise InvalidModelOutputError(
            f"The model's reply was not usable after {result.attempts} tries: {result.problems[-1]}", raw=result.raw)
    contents = [text for user, assistant, _ in best for text in (user, assistant)]
    checked, grounded, flags, language_ok = check_turns(contents, [e for _, _, e in best], sources, language,
                                                        heading_path)
    result.conversation = Conversation(tuple(checked), grounded, flags, language_ok, language,
                                       tuple(n.chunk_id for n in neighbours), _one_line(scenario), tuple(roles))
    return result
