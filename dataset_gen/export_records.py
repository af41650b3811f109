"""Records of every export format, built from stored items: pure functions, no files.

Three formats (see ``FORMATS``), as LLaMA-Factory reads them (data/README.md of LLaMA-Factory):

- ``alpaca``: ``{"instruction", "input", "output", "system"?, "history"?}``;
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt", "value"}], "system"?}``;
- ``openai``: ``{"messages": [{"role": "system"?|"user"|"assistant", "content"}]}``.

A ``conversation`` item (:class:`dataset_gen.models.ItemKind`) gives all its turns: ``2N``
alternating ``human``/``gpt`` turns in ShareGPT, every message in OpenAI, and in Alpaca the last
exchange as ``instruction``/``output`` with the earlier ones in ``history`` (``[[user,
assistant], ...]``, LLaMA-Factory's ``history`` column). A file holding any conversation gives
every Alpaca record a ``history`` (``[]`` for a single pair), so the column has one type, and its
``dataset_info.json`` entry maps it.

Every record also has a ``"metadata"`` object with the item's provenance (:func:`metadata`), with
the same keys and value types in every record so Hugging Face ``datasets`` (pyarrow) can load it.
:func:`dataset_info_entry` is the ``dataset_info.json`` entry that maps a file's columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from .choice import choice_prompt, choice_response
from .errors import ExportError
from .models import ItemKind, StoredPair

FORMATS = ("alpaca", "sharegpt", "openai")

DEFAULT_INSTRUCTION = "Answer the question."

def metadata(pair: StoredPair) -> dict:
    """The provenance object of a record. Same keys and value types for every pair.

    ``pages`` is ``"3"``, ``"3-4"`` or ``""`` (no pages); ``heading_path`` is joined with
    ``" > "``; ``char_span`` is ``[start, end]`` of the chunk in the document's text;
    ``prompt`` is ``"name@version"``; ``kind`` and ``origin`` say what the item is and where its
    content came from (:class:`dataset_gen.models.ItemKind`, :class:`dataset_gen.models.Origin`:
    ``"model"`` items are the model's own knowledge, not grounded in a document); ``chunk_id`` is
    ``null`` for an item with no source chunk.
    """
    if pair.pages is None:
        pages = ""
    elif pair.pages[0] == pair.pages[1]:
        pages = str(pair.pages[0])
    else:
        pages = f"{pair.pages[0]}-{pair.pages[1]}"
    return {
        "pair_id": int(pair.id),
        "document": str(pair.document),
        "pages": pages,
        "chunk_id": None if pair.chunk_id is None else int(pair.chunk_id),
        "chunk_ordinal": int(pair.chunk_ordinal),
        "heading_path": " > ".join(pair.heading_path),
        "char_span": [int(pair.chunk_start), int(pair.chunk_end)],
        "grounded": bool(pair.grounded),
        "question_type": str(pair.question_type),
        "kind": str(pair.kind),
        "origin": str(pair.origin),
        "status": str(pair.status),
        "edited": bool(pair.edited),
        "model": str(pair.model),
        "prompt": f"{pair.prompt_name}@{pair.prompt_version}",
        "created_at": str(pair.created_at),
    }


def exchanges(pair: StoredPair, reasoning: bool = False) -> list[tuple[str, str]]:
    """``[(user, assistant), ...]`` of an item: a conversation's turns two by two (in position
    order), else its :func:`prompt` and :func:`response`."""
    if pair.turns:
        ordered = sorted(pair.turns, key=lambda t: t.position)
        return [(ordered[i].content, ordered[i + 1].content) for i in range(0, len(ordered) - 1, 2)]
    return [(prompt(pair), response(pair, reasoning))]


def multi_turn(pairs: Sequence[StoredPair]) -> bool:
    """``True`` when any item of ``pairs`` is a conversation with turns (its export needs ``history``)."""
    return any(p.turns for p in pairs)


def response(pair: StoredPair, reasoning: bool = False) -> str:
    """The assistant's text: the answer, or with ``reasoning`` and a stored chain of thought,
    ``<think>\n{reasoning}\n</think>\n\n{answer}`` (the form reasoning-model datasets use,
    formats.md "Reasoning")."""
    answer = choice_response(pair.choices, pair.answer) if pair.kind == ItemKind.CHOICE.value else pair.answer
    if reasoning and pair.reasoning.strip():
        return f"<think>\n{pair.reasoning.strip()}\n</think>\n\n{answer}"
    return answer


def prompt(pair: StoredPair) -> str:
    """The user's text: the question, and for a ``choice`` item its options as ``A. …`` lines
    under it (:func:`dataset_gen.choice.choice_prompt`); its answer is then ``B. <text>``."""
    return choice_prompt(pair.question, pair.choices) if pair.kind == ItemKind.CHOICE.value else pair.question


def to_alpaca(
    pairs: Sequence[StoredPair],
    *,
    system: str | None = None,
    question_in_input: bool = False,
    instruction: str = DEFAULT_INSTRUCTION,
    reasoning: bool = False,
) -> list[dict]:
    """Alpaca records: ``{"instruction": question, "input": "", "output": answer}``.

    With ``question_in_input`` the instruction is the fixed ``instruction`` text and the question
    goes in ``"input"`` (LLaMA-Factory joins them with a newline). ``"system"`` is added only when
    ``system`` is a non-empty string. A conversation's last exchange is the instruction and output,
    the earlier ones its ``"history"``; when ``pairs`` hold a conversation, every record has one.
    """
    records = []
    history = multi_turn(pairs)
    for pair in pairs:
        *earlier, (question, answer) = exchanges(pair, reasoning)
        if question_in_input:
            record: dict = {"instruction": instruction, "input": question}
        else:
            record = {"instruction": question, "input": ""}
        record["output"] = answer
        if system:
            record["system"] = system
        if history:
            record["history"] = [[user, assistant] for user, assistant in earlier]
        record["metadata"] = metadata(pair)
        records.append(record)
    return records


def to_sharegpt(pairs: Sequence[StoredPair], *, system: str | None = None, reasoning: bool = False) -> list[dict]:
    """ShareGPT records: ``{"conversations": [{"from": "human", "value": question},
    {"from": "gpt", "value": answer}]}``, plus ``"system"`` when ``system`` is non-empty."""
    records = []
    for pair in pairs:
        record: dict = {"conversations": [
            turn for user, assistant in exchanges(pair, reasoning)
            for turn in ({"from": "human", "value": user}, {"from": "gpt", "value": assistant})]}
        if system:
            record["system"] = system
        record["metadata"] = metadata(pair)
        records.append(record)
    return records


def to_openai(pairs: Sequence[StoredPair], *, system: str | None = None, reasoning: bool = False) -> list[dict]:
    """OpenAI chat records: ``{"messages": [{"role": "user", "content": question},
    {"role": "assistant", "content": answer}]}``, with a leading system message when ``system``
    is non-empty."""
    records = []
    for pair in pairs:
        messages = [{"role": "system", "content": system}] if system else []
        for user, assistant in exchanges(pair, reasoning):
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        records.append({"messages": messages, "metadata": metadata(pair)})
    return records


def to_records(
    format: str,
    pairs: Sequence[StoredPair],
    *,
    system: str | None = None,
    question_in_input: bool = False,
    reasoning: bool = False,
) -> list[dict]:
    """Records of ``format`` (one of ``FORMATS``); ``question_in_input`` applies to Alpaca only;
    ``reasoning`` puts each pair's chain of thought before its answer (see :func:`response`).

    :raises ExportError: an unknown format.
    """
    check_format(format)
    if format == "alpaca":
        return to_alpaca(pairs, system=system, question_in_input=question_in_input, reasoning=reasoning)
    if format == "sharegpt":
        return to_sharegpt(pairs, system=system, reasoning=reasoning)
    return to_openai(pairs, system=system, reasoning=reasoning)


def dataset_info_entry(format: str, file_name: str, *, has_system: bool, has_history: bool = False) -> dict:
    """The ``dataset_info.json`` entry that makes LLaMA-Factory read a file of ``format``.

    ``file_name`` is relative to the directory of ``dataset_info.json``. ``has_system`` maps the
    ``"system"`` column (Alpaca and ShareGPT; OpenAI records carry it as a system message);
    ``has_history`` maps Alpaca's ``"history"`` column (a file with multi-turn records,
    :func:`multi_turn`; ShareGPT and OpenAI hold every turn in their list).

    :raises ExportError: an unknown format.
    """
    check_format(format)
    if format == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        if has_system:
            columns["system"] = "system"
        if has_history:
            columns["history"] = "history"
        return {"file_name": file_name, "columns": columns}
    if format == "sharegpt":
        columns = {"messages": "conversations"}
        if has_system:
            columns["system"] = "system"
        return {"file_name": file_name, "formatting": "sharegpt", "columns": columns}
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }


def check_format(format: str) -> None:
    """:raises ExportError: ``format`` is not one of :data:`FORMATS`."""
    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
