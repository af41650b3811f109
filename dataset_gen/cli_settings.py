"""Command-line options built from the settings schema, and the settings a command runs with.

Every option here is declared once, on :class:`dataset_gen.config.ProjectConfig` (type, default,
bounds, description, flag); this module turns those declarations into argparse options whose
help shows the bounds and the default a new project gets. A command on a project starts from the
project's saved settings; the options given on the command line override them for that run only
(:func:`run_config`), and :func:`settings_line` says so in one line. A project without saved
settings (a new one) saves the settings of its first run.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from .config import ProjectConfig

GENERATE_SETTINGS = (
    "model", "host", "api", "pairs_per_chunk", "chars_per_pair", "chunk_max_chars", "chunk_min_chars",
    "chunk_overlap", "chunk_strategy", "concurrency", "language", "question_types", "reasoning", "ocr", "audiences",
    "temperature", "top_p", "top_k", "repeat_penalty", "seed", "num_predict", "read_timeout_s",
    "kind", "turns", "scenario", "roles",
)
"""The settings ``generate`` takes as options, in the order ``--help`` lists them."""
JUDGE_SETTINGS = ("judge_model", "host", "api", "concurrency", "read_timeout_s")
DEDUPE_SETTINGS = ("embedding_model", "host", "api")


def flag(name: str) -> str:
    """The command-line flag of setting ``name`` (e.g. ``chunk_max_chars`` → ``--chunk-size``).

    :raises KeyError: the setting has no flag.
    """
    extra = ProjectConfig.model_fields[name].json_schema_extra
    if not isinstance(extra, dict) or "cli" not in extra:
        raise KeyError(name)
    return str(extra["cli"])


def _unset(name: str) -> str:
    extra = ProjectConfig.model_fields[name].json_schema_extra
    return str(extra.get("unset", "")) if isinstance(extra, dict) else ""


def _kind(name: str) -> Any:
    """The field's type without ``None`` (``int | None`` → ``int``)."""
    annotation = ProjectConfig.model_fields[name].annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _number(name: str, cast: type):
    """An argparse type: a number of type ``cast`` within the setting's bounds."""
    low, high = ProjectConfig.bounds(name)
    word = "whole number" if cast is int else "number"

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {word}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            unit = " seconds" if name == "read_timeout_s" else ""
            bound = f"from {_num(low)} to {_num(high)}" if high is not None else f"at least {_num(low)}"
            raise argparse.ArgumentTypeError(f"must be {bound}{unit}, got {_num(value)}")
        return value

    return parse


def _num(value: float) -> str:
    """``1000``, ``0.5``, ``1`` for ``1.0``: a bound or value as a person typed it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choices_of_list(name: str):
    """An argparse type: comma-separated values of a list-of-``Literal`` setting, repeats dropped."""
    allowed = typing.get_args(typing.get_args(_kind(name))[0])

    def parse(text: str) -> list[str]:
        kinds = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
        unknown = [k for k in kinds if k not in allowed]
        if unknown or not kinds:
            raise argparse.ArgumentTypeError(f"unknown question type {', '.join(unknown) or text!r}; "
                                             f"choose from {', '.join(allowed)}")
        return kinds

    return parse


def describe(name: str) -> str:
    """The help text of setting ``name``: its description, bounds and the default a new project
    gets, e.g. ``largest chunk in characters, 200-20000 (default: the project's, else 2000)``."""
    field = ProjectConfig.model_fields[name]
    low, high = ProjectConfig.bounds(name)
    text = field.description or name
    if low is not None and high is not None:
        text += f", {_num(low)}-{_num(high)}"
    elif low is not None:
        text += f", at least {_num(low)}"
    default = ProjectConfig.default(name)
    if isinstance(default, list):
        default = ",".join(default) or "none"
    elif isinstance(default, bool):
        default = "on" if default else "off"
    elif default is None or default == "":
        default = _unset(name) or "none"
    return f"{text} (default: the project's, else {default})".replace("%", "%%")


def add_options(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add an option for each setting in ``names`` to ``parser``, its type, bounds, choices and
    help taken from the schema. Every option's dest is the setting's name and its default ``None``
    (not given), so :func:`run_config` can tell what was given."""
    for name in names:
        kind, option = _kind(name), flag(name)
        common: dict[str, Any] = {"dest": name, "default": None, "help": describe(name)}
        if name == "host":
            parser.add_argument(option, action="append", metavar="URL", **common)
        elif name == "audiences":
            parser.add_argument(option, action="append", metavar="TEXT", **common)
        elif isinstance(extra := ProjectConfig.model_fields[name].json_schema_extra, dict) and "choices" in extra:
            parser.add_argument(option, choices=list(typing.cast(list, extra["choices"])), **common)  # values listed once, by the schema
        elif kind is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction, **common)
        elif kind in (int, float):
            metavar = "SECONDS" if name == "read_timeout_s" else "N" if kind is int else "NUMBER"
            parser.add_argument(option, type=_number(name, kind), metavar=metavar, **common)
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(option, choices=typing.get_args(kind), **common)
        elif typing.get_origin(kind) is list:
            parser.add_argument(option, type=_choices_of_list(name), metavar="TYPE[,TYPE]", **common)
        else:
            parser.add_argument(option, metavar="NAME" if name.endswith("model") else "TEXT", **common)


def given(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The settings among ``names`` given on the command line: ``{name: value}``."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def run_config(saved: ProjectConfig, options: dict[str, Any]) -> ProjectConfig:
    """``saved`` with the command-line ``options`` (:func:`given`) over it, validated. A host
    given once replaces the project's server (``host``, or ``base_url`` for an OpenAI-compatible
    one); given several times, all of them (``hosts``). ``pairs_per_chunk`` given without
    ``chars_per_pair`` switches ``chars_per_pair`` off.

    :raises ValueError: a value the schema refuses (one line naming the flag).
    """
    update = dict(options)
    hosts = update.pop("host", None)
    if hosts:
        api = update.get("api", saved.api)
        update["hosts"] = list(hosts) if len(hosts) > 1 else []
        update["base_url" if api == "openai" else "host"] = hosts[0]
    if "pairs_per_chunk" in update and "chars_per_pair" not in update:
        update["chars_per_pair"] = 0
    try:
        return ProjectConfig.model_validate({**saved.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        where = flag(field) if field in options else field
        raise ValueError(f"{where}: {first['msg']}") from None


_AFFECTS = {"host": ("host", "hosts", "base_url"), "pairs_per_chunk": ("pairs_per_chunk", "chars_per_pair")}


def overridden(saved: ProjectConfig, run: ProjectConfig, options: dict[str, Any]) -> dict[str, Any]:
    """The ``options`` that replace a value saved in ``saved`` for the ``run`` (:func:`run_config`).
    An option repeating the saved value, or filling one the project left unset (``""``, ``None``,
    an empty list: no model, the server's default), overrides nothing."""
    def differs(name: str) -> bool:
        return any(getattr(saved, f) not in ("", None, []) and getattr(saved, f) != getattr(run, f)
                   for f in _AFFECTS.get(name, (name,)))

    return {n: v for n, v in options.items() if differs(n)}


def _shown(name: str, value: Any) -> str:
    option = flag(name)
    if isinstance(value, bool):
        return option if value else "--no-" + option[2:]
    if name in ("host", "audiences"):
        return " ".join(f"{option} {v}" for v in value)
    if isinstance(value, list):
        return f"{option} {','.join(value)}"
    return f"{option} {_num(value)}" if isinstance(value, float) else f"{option} {value}"


def settings_line(project: str, options: dict[str, Any], argv: Sequence[str]) -> str:
    """The one line a command says when options change a project's saved settings for this run:
    ``using the settings saved in project 'P'; overridden for this run: --chunk-size 1000, --model
    x`` (``options`` from :func:`overridden`, in the order they were typed in ``argv``); ``""``
    when nothing is overridden."""
    def position(name: str) -> int:
        option = flag(name)
        hits = [i for i, a in enumerate(argv) if a in (option, "--no-" + option[2:]) or a.startswith(option + "=")]
        return hits[0] if hits else len(argv)

    if not options:
        return ""
    shown = ", ".join(_shown(n, options[n]) for n in sorted(options, key=position))
    return f"using the settings saved in project {project!r}; overridden for this run: {shown}"
