"""Turn stored QA pairs into training files LLaMA-Factory loads as they are.

Three formats (see ``FORMATS``):

- ``alpaca``: ``{"instruction", "input", "output", "system"?}``, a JSON array (or JSONL);
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt", "value"}], "system"?}``;
- ``openai``: ``{"messages": [{"role": "system"?|"user"|"assistant", "content"}]}``, always JSONL.

Every record also has a ``"metadata"`` object with the pair's provenance. Its keys and value types
are the same in every record, so Hugging Face ``datasets`` (pyarrow) can load the file;
LLaMA-Factory ignores columns its ``dataset_info.json`` entry does not map. The record builders
are pure functions; :func:`write_records` and :func:`write_dataset_info` write atomically and
:func:`export_pairs` does all of it in one call. Example::

    pairs = store.list_pairs(project_id, statuses=["accepted"])
    report = export_pairs(pairs, "sharegpt", Path("out/notes.json"), project="notes")
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import ExportError
from .models import StoredPair
from .validate import Problem, validate

__all__ = [
    "FORMATS", "NO_PAIRS_MESSAGE", "ExportReport", "Problem", "dataset_info_entry", "export_pairs",
    "metadata", "to_alpaca", "to_openai", "to_records", "to_sharegpt", "validate",
    "write_dataset_info", "write_records",
]

FORMATS = ("alpaca", "sharegpt", "openai")

DATASET_INFO = "dataset_info.json"

NO_PAIRS_MESSAGE = (
    "No accepted pairs to export in project '{project}': accept some pairs, or pass "
    "--include-unreviewed"
)
"""The error when there is nothing to export; ``{project}`` is the project's name."""

DEFAULT_INSTRUCTION = "Answer the question."


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_pairs` did: ``written`` records went to ``path``, registered as
    ``dataset_name`` in ``dataset_info_path``. ``problems`` are the records left out (their
    ``index`` is the position in the ``pairs`` given)."""

    path: Path
    dataset_info_path: Path
    dataset_name: str
    written: int
    problems: list[Problem] = field(default_factory=list)


# --- records ---------------------------------------------------------------------------------


def metadata(pair: StoredPair) -> dict:
    """The provenance object of a record. Same keys and value types for every pair.

    ``pages`` is ``"3"``, ``"3-4"`` or ``""`` (no pages); ``heading_path`` is joined with
    ``" > "``; ``char_span`` is ``[start, end]`` of the chunk in the document's text;
    ``prompt`` is ``"name@version"``.
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
        "chunk_id": int(pair.chunk_id),
        "chunk_ordinal": int(pair.chunk_ordinal),
        "heading_path": " > ".join(pair.heading_path),
        "char_span": [int(pair.chunk_start), int(pair.chunk_end)],
        "grounded": bool(pair.grounded),
        "question_type": str(pair.question_type),
        "status": str(pair.status),
        "edited": bool(pair.edited),
        "model": str(pair.model),
        "prompt": f"{pair.prompt_name}@{pair.prompt_version}",
        "created_at": str(pair.created_at),
    }


def select_for_training(
    pairs: Sequence[StoredPair],
    *,
    include_unanswerable: bool = False,
    include_duplicates: bool = False,
    min_score: int | None = None,
) -> list[StoredPair]:
    """The pairs fit for a fine-tuning export, in order.

    Left out unless asked: ``unanswerable`` pairs (they teach a model to refuse; they belong in RAG
    evaluation sets), near-duplicates of a kept pair (``duplicate_of`` set), and pairs a judge
    scored below ``min_score`` on any of faithfulness, relevance or clarity (unjudged pairs stay).
    """
    kept = []
    for pair in pairs:
        if pair.question_type == "unanswerable" and not include_unanswerable:
            continue
        if pair.duplicate_of is not None and not include_duplicates:
            continue
        if min_score is not None and pair.faithfulness is not None and min(
                pair.faithfulness, pair.relevance or 5, pair.clarity or 5) < min_score:
            continue
        kept.append(pair)
    return kept


def response(pair: StoredPair, reasoning: bool = False) -> str:
    """The assistant's text: the answer, or with ``reasoning`` and a stored chain of thought,
    ``<think>\n{reasoning}\n</think>\n\n{answer}`` (the form reasoning-model datasets use,
    formats.md "Reasoning")."""
    if reasoning and pair.reasoning.strip():
        return f"<think>\n{pair.reasoning.strip()}\n</think>\n\n{pair.answer}"
    return pair.answer


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
    ``system`` is a non-empty string.
    """
    records = []
    for pair in pairs:
        if question_in_input:
            record = {"instruction": instruction, "input": pair.question}
        else:
            record = {"instruction": pair.question, "input": ""}
        record["output"] = response(pair, reasoning)
        if system:
            record["system"] = system
        record["metadata"] = metadata(pair)
        records.append(record)
    return records


def to_sharegpt(pairs: Sequence[StoredPair], *, system: str | None = None, reasoning: bool = False) -> list[dict]:
    """ShareGPT records: ``{"conversations": [{"from": "human", "value": question},
    {"from": "gpt", "value": answer}]}``, plus ``"system"`` when ``system`` is non-empty."""
    records = []
    for pair in pairs:
        record: dict = {
            "conversations": [
                {"from": "human", "value": pair.question},
                {"from": "gpt", "value": response(pair, reasoning)},
            ]
        }
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
        messages.append({"role": "user", "content": pair.question})
        messages.append({"role": "assistant", "content": response(pair, reasoning)})
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
    _check_format(format)
    if format == "alpaca":
        return to_alpaca(pairs, system=system, question_in_input=question_in_input, reasoning=reasoning)
    if format == "sharegpt":
        return to_sharegpt(pairs, system=system, reasoning=reasoning)
    return to_openai(pairs, system=system, reasoning=reasoning)


def dataset_info_entry(format: str, file_name: str, *, has_system: bool) -> dict:
    """The ``dataset_info.json`` entry that makes LLaMA-Factory read a file of ``format``.

    ``file_name`` is relative to the directory of ``dataset_info.json``. ``has_system`` maps the
    ``"system"`` column (Alpaca and ShareGPT; OpenAI records carry it as a system message).

    :raises ExportError: an unknown format.
    """
    _check_format(format)
    if format == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        if has_system:
            columns["system"] = "system"
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


# --- writing ---------------------------------------------------------------------------------


def write_records(path: Path, records: list[dict], *, jsonl: bool) -> None:
    """Write ``records`` to ``path`` as UTF-8: a JSON array indented by 2, or JSON Lines.

    Non-ASCII text stays readable (no ``\\uXXXX`` escapes). The file is written to a temporary file
    in the same directory and moved into place, so a reader never sees half a file. Parent
    directories are created.

    :raises ExportError: the file cannot be written.
    """
    if jsonl:
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        text = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    _write_atomic(Path(path), text.encode("utf-8"))


def write_dataset_info(directory: Path, dataset_name: str, entry: dict) -> Path:
    """Add or replace ``dataset_name`` in ``directory/dataset_info.json``; return its path.

    Other entries and their order are kept; the file is created when missing and written
    atomically.

    :raises ExportError: the existing file is not a JSON object (it is left untouched), or the file
        cannot be written.
    """
    path = Path(directory) / DATASET_INFO
    info: dict = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ExportError(
                f"{path}: cannot read it as JSON ({error}): fix or move the file, then export again"
            ) from error
        if not isinstance(info, dict):
            raise ExportError(
                f"{path}: expected a JSON object of datasets: fix or move the file, then export "
                "again"
            )
    info[dataset_name] = entry
    text = json.dumps(info, ensure_ascii=False, indent=2) + "\n"
    _write_atomic(path, text.encode("utf-8"))
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as temp:
            temp_name = temp.name
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
        temp_name = None
    except OSError as error:
        raise ExportError(
            f"{path}: cannot write the file ({error.strerror or error}): check the path and "
            "its permissions"
        ) from error
    finally:
        if temp_name is not None:
            try:
                os.unlink(temp_name)
            except OSError:
                pass


# --- all in one ------------------------------------------------------------------------------


def export_pairs(
    pairs: Sequence[StoredPair],
    format: str,
    output: Path,
    *,
    system: str | None = None,
    question_in_input: bool = False,
    jsonl: bool | None = None,
    dataset_name: str | None = None,
    project: str | None = None,
    empty_message: str | None = None,
    reasoning: bool = False,
) -> ExportReport:
    """Write ``pairs`` as a ``format`` file at ``output`` and register it in the
    ``dataset_info.json`` beside it.

    Records that :func:`validate` rejects are left out and listed in the report. ``jsonl``
    defaults to ``True`` for a ``.jsonl`` suffix; ``openai`` is always JSON Lines. The dataset is
    registered as ``dataset_name`` (default: the output file's stem).

    :param project: names the project in the error raised when ``pairs`` is empty
        (see ``NO_PAIRS_MESSAGE``); ``empty_message`` replaces that error's whole message.
    :raises ExportError: unknown format, no pairs, no valid record, or a file cannot be written.
    """
    _check_format(format)
    output = Path(output)
    if not pairs:
        if empty_message is None:
            empty_message = (
                NO_PAIRS_MESSAGE.format(project=project)
                if project is not None
                else "No pairs to export: accept some pairs first"
            )
        raise ExportError(empty_message)
    records = to_records(format, pairs, system=system, question_in_input=question_in_input, reasoning=reasoning)
    problems = validate(format, records)
    dropped = {problem.index for problem in problems}
    valid = [record for index, record in enumerate(records) if index not in dropped]
    if not valid:
        first = problems[0]
        raise ExportError(
            f"None of the {len(records)} pairs can be exported as {format} (pair "
            f"{pairs[first.index].id}: {first.reason}): edit the pairs, then export again"
        )
    if format == "openai":
        jsonl = True
    elif jsonl is None:
        jsonl = output.suffix.lower() == ".jsonl"
    write_records(output, valid, jsonl=jsonl)
    name = dataset_name or output.stem
    entry = dataset_info_entry(format, output.name, has_system=bool(system))
    info_path = write_dataset_info(output.parent, name, entry)
    return ExportReport(output, info_path, name, len(valid), problems)


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
