"""Turn stored QA pairs into training files LLaMA-Factory loads as they are (the records themselves
are built by :mod:`dataset_gen.export_records`).

Three formats (see ``FORMATS``):

- ``alpaca``: ``{"instruction", "input", "output", "system"?}``, a JSON array (or JSONL);
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt", "value"}], "system"?}``;
- ``openai``: ``{"messages": [{"role": "system"?|"user"|"assistant", "content"}]}``, always JSONL.

The output's suffix says what the file holds, and the ``dataset_info.json`` entry names that file:
``.json`` is a JSON array, ``.jsonl`` JSON Lines (LLaMA-Factory reads both for Alpaca and ShareGPT);
``openai`` files are JSON Lines only, so they must end in ``.jsonl`` (see :func:`check_output`).

Every record also has a ``"metadata"`` object with the pair's provenance. Its keys and value types
are the same in every record, so Hugging Face ``datasets`` (pyarrow) can load the file;
LLaMA-Factory ignores columns its ``dataset_info.json`` entry does not map. The record builders
are pure functions; :func:`write_records` and :func:`write_dataset_info` write atomically and
:func:`export_pairs` does all of it in one call, :func:`export_project` with a file name made from
the project's name. Example::

    pairs = store.list_pairs(project_id, statuses=["accepted"])
    report = export_pairs(pairs, "sharegpt", Path("out/notes.json"), project="notes")

``dataset_info.json`` is read and written by :mod:`dataset_gen.dataset_info` (locked, atomic,
ASCII-only, one entry per file, no name taken over).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .dataset_info import (
    DATASET_INFO,
    claim,
    info_lock,
    names_file,
    read_info,
    with_entry,
    write_atomic,
    write_dataset_info,
    write_info,
)
from .errors import ExportError
from .export_records import (
    FORMATS,
    check_format,
    dataset_info_entry,
    metadata,
    multi_turn,
    to_alpaca,
    to_openai,
    to_records,
    to_sharegpt,
)
from .gate import hold_back
from .models import StoredPair
from .names import inside, safe_slug
from .validate import Problem, validate

__all__ = [
    "DEFAULT_SUFFIX", "FORMATS", "NO_PAIRS_MESSAGE", "ExportReport", "Problem", "check_output",
    "dataset_info_entry", "dataset_name_for", "export_file_name", "export_pairs", "export_project",
    "metadata", "project_export_dir", "to_alpaca", "to_openai", "to_records", "to_sharegpt",
    "validate", "write_dataset_info", "write_records",
]

DEFAULT_SUFFIX = {"alpaca": ".json", "sharegpt": ".json", "openai": ".jsonl"}
"""The suffix :func:`export_file_name` gives each format's file."""


NO_PAIRS_MESSAGE = (
    "No accepted pairs to export in project '{project}': accept some pairs, or pass "
    "--include-unreviewed"
)
"""The error when there is nothing to export; ``{project}`` is the project's name."""


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


# --- selection -------------------------------------------------------------------------------


def select_for_training(
    pairs: Sequence[StoredPair],
    *,
    include_unanswerable: bool = False,
    include_duplicates: bool = False,
    min_score: int | None = None,
    include_flagged: Collection[str] = (),
) -> list[StoredPair]:
    """The pairs fit for a fine-tuning export, in order: :func:`dataset_gen.gate.hold_back` with
    ``include_flagged`` (reason codes of :data:`dataset_gen.gate.HOLD_REASONS` let through).

    Held back unless asked: rejected pairs, pairs failing a check (``flags``), ungrounded pairs,
    ``unanswerable`` pairs (they teach a model to refuse; they belong in RAG evaluation sets),
    near-duplicates of a kept pair (``duplicate_of`` set), and pairs a judge scored below
    ``min_score`` on any of faithfulness, relevance or clarity (unjudged pairs stay).

    :raises ValueError: ``include_flagged`` names an unknown reason.
    """
    include = set(include_flagged)
    if include_unanswerable:
        include.add("unanswerable")
    if include_duplicates:
        include.add("near_duplicate")
    return hold_back(pairs, include=include, min_score=min_score)[0]


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
    write_atomic(Path(path), text.encode("utf-8"))


def _suggest(info: dict, directory: Path, output: Path, format: str) -> str:
    """A file name beside ``output`` whose entry name is free: ``<slug>-<format><suffix>``, then
    ``<slug>-<format>-2<suffix>``, ... (``<slug>`` is :func:`dataset_name_for` ``output``)."""
    slug = dataset_name_for(output)
    base = slug if slug.endswith(f"-{format}") else f"{slug}-{format}"
    for number in range(1, 1000):
        candidate = f"{base}{'' if number == 1 else f'-{number}'}{output.suffix}"
        if dataset_name_for(Path(candidate)) not in info and not (directory / candidate).exists():
            return candidate
    return ""


# --- file names ------------------------------------------------------------------------------


def check_output(format: str, output: Path, *, jsonl: bool | None = None) -> bool:
    """Whether ``output`` gets JSON Lines (``True``) or a JSON array (``False``), by its suffix.

    The suffix (any case) must say what the file holds, since the ``dataset_info.json`` entry names
    the file as it is:

    - ``alpaca``, ``sharegpt``: ``.json`` is a JSON array, ``.jsonl`` JSON Lines. LLaMA-Factory's
      loader reads both (it maps either suffix to the Hugging Face ``json`` builder).
    - ``openai``: ``.jsonl`` only. OpenAI-messages files are JSON Lines (as OpenAI's fine-tuning
      files are), so ``.json`` is refused rather than filled with JSON Lines.

    :param jsonl: when given, must agree with the suffix.
    :raises ExportError: an unknown format, another suffix, ``jsonl`` disagreeing with it, or the
        name ``dataset_info.json`` (one line naming the file and the name to use).
    """
    check_format(format)
    output = Path(output)
    if output.name.lower() == DATASET_INFO:  # LLaMA-Factory's registry is written beside the export
        raise ExportError(f"{output}: that is the name of LLaMA-Factory's registry, which is written beside "
                          f"the export; name the output something else (e.g. train.json)")
    suffix = output.suffix.lower()
    if format == "openai":
        if suffix != ".jsonl":
            raise ExportError(
                f"{output}: openai files are JSON Lines; name the output .jsonl "
                f"(e.g. {output.stem or 'chat'}.jsonl)"
            )
        if jsonl is False:
            raise ExportError(f"{output}: openai files are always JSON Lines: leave jsonl unset")
        return True
    if suffix not in (".json", ".jsonl"):
        raise ExportError(f"{output}: {format} files are JSON; name the output .json or .jsonl")
    is_jsonl = suffix == ".jsonl"
    if jsonl is not None and jsonl != is_jsonl:
        held, asked = ("JSON Lines", "a JSON array") if is_jsonl else ("a JSON array", "JSON Lines")
        raise ExportError(
            f"{output}: a {suffix} file holds {held}, not {asked}: name the output "
            f"{'.jsonl' if jsonl else '.json'}, or leave jsonl unset"
        )
    return is_jsonl


def dataset_name_for(output: Path) -> str:
    """The default ``dataset_info.json`` entry name of an export file: :func:`safe_slug` of its
    stem (``notes-sharegpt.json`` gives ``notes-sharegpt``, ``筆記.json`` gives ``筆記``;
    ``dataset`` when nothing usable is left)."""
    return safe_slug(Path(output).stem, fallback="dataset")


def export_file_name(project: str, format: str) -> str:
    """The file name of a project's export: ``<safe_slug(project)>-<format><suffix>``, the suffix
    from :data:`DEFAULT_SUFFIX` (``筆記``, ``openai`` gives ``筆記-openai.jsonl``). It never holds a
    path separator, whatever the project is called.

    :raises ExportError: an unknown format.
    """
    check_format(format)
    return f"{safe_slug(project)}-{format}{DEFAULT_SUFFIX[format]}"


def project_export_dir(data_dir: Path, project: str) -> Path:
    """``<data_dir>/exports/<safe_slug(project)>``: the app's default folder for a project's
    exports (not created here)."""
    return Path(data_dir) / "exports" / safe_slug(project)


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

    Records that :func:`validate` rejects are left out and listed in the report. Whether the file
    is JSON Lines follows from its suffix (:func:`check_output`; ``jsonl``, when given, must
    agree). Writing the file and registering it happen under the folder's lock (see the module
    docstring), so parallel exports into one folder all get their entries.

    The entry name is ``dataset_name`` if given, else the name of the entry that already names
    this file (a re-export updates its entry), else :func:`dataset_name_for` the file; explicit
    names go through :func:`safe_slug` too. If that name belongs to another file that still
    exists (``x.jsonl`` after ``x.json``), or to a dataset that is not a file of this folder,
    nothing is written and :class:`ExportError` says which entry and file hold the name and
    suggests a free file name. An entry whose file no longer exists is replaced. Other entries
    naming this file are removed: they describe what it held before.

    :param project: names the project in the error raised when ``pairs`` is empty
        (see ``NO_PAIRS_MESSAGE``); ``empty_message`` replaces that error's whole message.
    :raises ExportError: unknown format, a suffix that does not match the content, no pairs, no
        valid record, the entry name taken, a ``dataset_info.json`` that is not a JSON object, or a
        file cannot be written. Nothing is written on any of these.
    """
    output = Path(output)
    jsonl = check_output(format, output, jsonl=jsonl)
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
    entry = dataset_info_entry(format, output.name, has_system=bool(system), has_history=multi_turn(pairs))
    directory = output.parent
    info_path = directory / DATASET_INFO
    with info_lock(directory):
        info = read_info(info_path)
        if dataset_name is not None:
            name = safe_slug(dataset_name, fallback="dataset")
        else:
            name = next((key for key, value in info.items() if names_file(value, output.name)),
                        dataset_name_for(output))
        claim(info, info_path, name, output.name, _suggest(info, directory, output, format))
        write_records(output, valid, jsonl=jsonl)
        write_info(info_path, with_entry(info, name, entry))
    return ExportReport(output, info_path, name, len(valid), problems)


def export_project(
    pairs: Sequence[StoredPair],
    format: str,
    folder: Path,
    *,
    project: str,
    system: str | None = None,
    question_in_input: bool = False,
    reasoning: bool = False,
    empty_message: str | None = None,
) -> ExportReport:
    """:func:`export_pairs` to ``folder/<export_file_name(project, format)>``.

    The file name comes from :func:`export_file_name`, so it stays in ``folder`` whatever the
    project is called (``../../tmp/x/proj`` writes ``folder/tmp-x-proj-alpaca.json``). The app
    passes ``project_export_dir(data_dir, project)`` (or a folder the user typed) as ``folder``.

    :raises ExportError: as :func:`export_pairs`.
    """
    try:
        output = inside(Path(folder), export_file_name(project, format))
    except ValueError as error:  # not reachable with a slug; kept as the guard it is
        raise ExportError(f"{folder}: {error}") from error
    return export_pairs(pairs, format, output, system=system, question_in_input=question_in_input,
                        project=project, empty_message=empty_message, reasoning=reasoning)
