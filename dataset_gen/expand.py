"""Few-shot expansion: a person's own examples (Alpaca or ShareGPT records) → new records in the
same style, format and difficulty, from the model.

Examples are read from a JSON array or JSON Lines file (:func:`read_examples`): Alpaca records
(``instruction``, optional ``input``, ``output``: LLaMA-Factory's data/README.md) or ShareGPT
records (``conversations`` of ``{"from", "value"}`` turns; the first ``human`` turn and the
``gpt`` reply after it are taken). Each call of the ``expand`` template shows a sample of up to
:data:`SAMPLE` examples and asks for :data:`PER_CALL` records (``{"records": [{"question",
"answer"}]}``). A new record whose question is a near-duplicate of an example's or of a record
kept before (:func:`dataset_gen.duplicates.find_duplicates`, the ``dedupe`` rule, threshold 90) is
held back: not stored, and counted. Kept records are stored with ``origin='examples'``, no chunk,
in a run of kind ``expand``; the export writes them in the format asked for (``--format alpaca``
or ``sharegpt``), like every item.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .asking import Asker, Cancelled, compact
from .backends.json_reply import json_problem
from .distill import sourceless_pair
from .duplicates import find_duplicates
from .errors import InvalidModelOutputError
from .language import detect_language
from .models import Origin, SamplingOptions
from .prompts import fence_tag, load_prompt

SAMPLE = 5
"""Examples shown in one call."""
PER_CALL = 5
"""Records asked for in one call."""
THRESHOLD = 90.0
"""Similarity (``fuzz.ratio`` of normalised questions, 0–100) at which a record is a near-copy."""

RECORDS_SCHEMA = {
    "type": "object",
    "properties": {"records": {"type": "array", "items": {
        "type": "object", "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["question", "answer"]}}},
    "required": ["records"],
}
RECORDS_SHAPE = 'an object with a "records" list of objects, each with a "question" and an "answer" string'


@dataclass(frozen=True)
class Example:
    """One example: its ``question`` (Alpaca ``instruction`` + blank line + ``input``, or the first
    human turn) and ``answer``; ``fmt`` is ``"alpaca"``, ``"sharegpt"`` or ``"openai"`` (chat
    ``messages``, as the ``openai`` export writes them; a system message is skipped)."""

    question: str
    answer: str
    fmt: str


def _record(value: object, where: str) -> Example:
    if isinstance(value, dict) and isinstance(value.get("instruction"), str) and isinstance(value.get("output"), str):
        extra = value.get("input") or ""
        if not isinstance(extra, str):
            raise ValueError(f'{where}: "input" is not a string')
        question = value["instruction"].strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
        if not question or not value["output"].strip():
            raise ValueError(f"{where}: an empty instruction or output")
        return Example(question, value["output"].strip(), "alpaca")
    if isinstance(value, dict) and isinstance(value.get("conversations"), list):
        turns = value["conversations"]
        for i, turn in enumerate(turns[:-1]):
            after = turns[i + 1]
            if (isinstance(turn, dict) and isinstance(after, dict) and turn.get("from") == "human"
                    and after.get("from") == "gpt" and isinstance(turn.get("value"), str)
                    and isinstance(after.get("value"), str) and turn["value"].strip() and after["value"].strip()):
                return Example(turn["value"].strip(), after["value"].strip(), "sharegpt")
        raise ValueError(f'{where}: "conversations" has no human turn followed by a gpt reply')
    if isinstance(value, dict) and isinstance(value.get("messages"), list):  # OpenAI chat records
        messages = [m for m in value["messages"] if isinstance(m, dict) and m.get("role") != "system"]
        for i, message in enumerate(messages[:-1]):
            after = messages[i + 1]
            if (message.get("role") == "user" and after.get("role") == "assistant"
                    and isinstance(message.get("content"), str) and isinstance(after.get("content"), str)
                    and message["content"].strip() and after["content"].strip()):
                return Example(message["content"].strip(), after["content"].strip(), "openai")
        raise ValueError(f'{where}: "messages" has no user message followed by an assistant reply')
    raise ValueError(f"{where}: neither an Alpaca record (instruction, output), a ShareGPT one (conversations) "
                     "nor OpenAI messages (messages)")


def read_examples(path: Path) -> list[Example]:
    """The examples in the file at ``path`` (:func:`parse_examples`).

    :raises ValueError: unreadable, or as :func:`parse_examples`: one line naming the file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the examples ({getattr(exc, 'strerror', None) or exc})") from None
    return parse_examples(text, str(path))


def parse_examples(text: str, name: str) -> list[Example]:
    """The examples in ``text`` (the file ``name``): a JSON array of records, or one record per
    line (JSON Lines; blank lines skipped). Every record must be of one format.

    :raises ValueError: not JSON, a malformed record, mixed formats or no record: one line naming
        the file and the line (JSON Lines) or record (array) number.
    """
    found: list[Example] = []
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not JSON ({json_problem(exc)} at line {exc.lineno}, column {exc.colno})") from None
        found = [_record(v, f"{name}: record {n}") for n, v in enumerate(values, start=1)]
        places = [f"record {n}" for n in range(1, len(found) + 1)]
    else:
        places = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}: line {n}: not JSON ({json_problem(exc)} at column {exc.colno})") from None
            found.append(_record(value, f"{name}: line {n}"))
            places.append(f"line {n}")
    if not found:
        raise ValueError(f"{name}: no example in the file: give Alpaca, ShareGPT or OpenAI messages records")
    for example, place in zip(found, places):
        if example.fmt != found[0].fmt:
            raise ValueError(f"{name}: {place} is a {example.fmt} record but {places[0]} is {found[0].fmt}: "
                             "use one format in a file")
    return found


@dataclass
class ExpandSummary:
    """Outcome of :func:`expand`: ``run_id``, ``fmt`` of the examples, ``language``, ``items``
    stored, ``held`` ``(question, what it copies: "example N" or "record N")`` of the near-copies
    held back, ``status``, ``calls`` and ``prompt_tokens``, ``error`` (a reply that stayed
    unusable; what was kept stays)."""

    run_id: int
    fmt: str
    language: str
    items: int = 0
    held: list[tuple[str, str]] = field(default_factory=list)
    status: str = "finished"
    calls: int = 0
    prompt_tokens: int = 0
    error: str | None = None


def expand(store, project_id: int, backend, model: str, examples: list[Example], instruction: str, count: int, *,
           language: str | None = None, seed: int = 0, per_call: int = PER_CALL,
           options: SamplingOptions | None = None, cancel: threading.Event | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> ExpandSummary:
    """Write ``count`` new records like ``examples`` for ``instruction`` and store them (as they
    arrive) in project ``project_id``. Calls ask ``per_call`` records each (fewer for the last) with
    a sample of the examples drawn by ``random.Random(seed + call number)``; near-copies are held
    back and more is asked, up to ``2 × ceil(count / per_call) + 1`` calls. ``language`` (default:
    the examples' detected language) picks the templates and the language check.
    ``on_progress(kept, count)`` after each call.

    :raises ValueError: no example, an empty instruction, or ``count`` below 1.
    :raises BackendError: the server failed (the run is recorded ``failed``).
    """
    if not examples:
        raise ValueError("No example: give a file of Alpaca or ShareGPT records")
    if count < 1 or per_call < 1:
        raise ValueError("--count is at least 1")
    instruction = " ".join(instruction.split())
    if not instruction:
        raise ValueError("The instruction is empty: say what the new records should do")
    lang = language if language and language != "auto" else detect_language(
        "\n".join(f"{e.question}\n{e.answer}" for e in examples))
    lang = lang if lang and lang != "und" else "en"
    options = options or SamplingOptions()
    run_id = store.start_item_run(project_id, "expand", model, options.to_ollama(), "expand",
                                  load_prompt("expand", lang).meta.version, total=count)
    asker = Asker(store, run_id, backend, model, lang, overrides=store.prompt_overrides(project_id),
                  options=options, cancel=cancel)
    summary = ExpandSummary(run_id, examples[0].fmt, lang)
    status = "failed"
    try:
        _expand(store, project_id, asker, examples, instruction, count, seed, per_call, summary, on_progress)
        status = "finished"
    except Cancelled:
        status = "cancelled"
    except InvalidModelOutputError as exc:
        summary.error, status = str(exc), "finished" if summary.items else "failed"
    finally:
        summary.status, summary.calls, summary.prompt_tokens = status, asker.calls, asker.prompt_tokens
        store.finish_run(run_id, status)
    return summary


def _expand(store, project_id: int, asker: Asker, examples: list[Example], instruction: str, count: int, seed: int,
            per_call: int, summary: ExpandSummary, on_progress) -> None:
    known: list[tuple[int, str]] = [(n, e.question) for n, e in enumerate(examples, start=1)]
    names = {n: f"example {n}" for n, _ in known}
    budget = 2 * math.ceil(count / per_call) + 1
    for call in range(budget):
        if summary.items >= count:
            break
        want = min(per_call, count - summary.items)
        sample = random.Random(seed + call).sample(examples, min(SAMPLE, len(examples)))  # noqa: S311
        shown = "\n".join(compact({"question": e.question, "answer": e.answer}) for e in sample)
        values = {"fence": fence_tag("examples", shown, instruction), "instruction": instruction,
                  "examples": shown, "n": want}
        records = asker.ask("expand", values, RECORDS_SCHEMA, _records, RECORDS_SHAPE,
                            output_tokens=400 * want)
        first = len(names) + 1
        candidates = [(first + i, q) for i, (q, _) in enumerate(records)]
        clusters = find_duplicates(known + candidates, threshold=THRESHOLD, preferred=[i for i, _ in known])
        copies = {m: c.keep for c in clusters for m in c.members if m != c.keep and m >= first}
        kept: list[tuple[int, str, str]] = []
        for (item_id, question), (_, answer) in zip(candidates, records):
            if item_id in copies:
                summary.held.append((question, names.get(copies[item_id], "a record of the same reply")))
                continue
            if len(kept) < want:  # a reply with more records than asked keeps the first ones that are new
                kept.append((item_id, question, answer))
        ids = store.add_sourceless_pairs(project_id, summary.run_id,
                                         [sourceless_pair(q, a, asker.language) for _, q, a in kept],
                                         Origin.EXAMPLES.value)
        for (item_id, question, _), stored in zip(kept, ids):
            known.append((item_id, question))
            names[item_id] = f"record {stored}"
        for item_id, _ in candidates:
            names.setdefault(item_id, "a held-back record")
        summary.items += len(kept)
        if on_progress:
            on_progress(summary.items, count)


def _records(value: object) -> list[tuple[str, str]]:
    rows = value.get("records") if isinstance(value, dict) else None
    if not isinstance(rows, list):
        raise ValueError('the reply has no "records" list')
    found = [(" ".join(r["question"].split()) if "\n" not in r["question"] else r["question"].strip(), r["answer"].strip())
             for r in rows if isinstance(r, dict) and isinstance(r.get("question"), str)
             and isinstance(r.get("answer"), str) and r["question"].strip() and r["answer"].strip()]
    if not found:
        raise ValueError('no record has a "question" and an "answer" text')
    return found
