"""The ``split`` and ``modelfile`` commands, and what ``export --split`` adds: the loop from a
reviewed project to a trained model in Ollama.

``split --project P --test F [--validation F] [--by chunk|document] [--seed N]`` gives every
accepted item a held-out split (:mod:`dataset_gen.splits`); running it again keeps what was
assigned and places only new items. ``modelfile --project P (--gguf PATH | --base MODEL --adapter
PATH) --name NAME [--output PATH]`` writes an Ollama Modelfile (:mod:`dataset_gen.modelfile`) and
prints the ``ollama create`` line on stdout. Exit codes: 0 done; 1 ``split`` found no accepted item;
2 a usage, input or store error.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

from .config import ProjectConfig
from .dataset_info import write_atomic
from .export import dataset_name_for
from .modelfile import build_spec, check_model_name, create_command, default_path, modelfile_text
from .splits import BY, SPLITS, shortfall, split_project

COMMANDS = ("split", "modelfile")
"""The subcommands this module adds (see :func:`run`)."""

Say = Callable[[str], None]


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction from 0 to 1: write e.g. 0.1 for 10%") from None


def add_parser(sub, default_project: str) -> None:
    """Add ``split`` and ``modelfile`` to the CLI's subparsers ``sub``."""
    spl = sub.add_parser("split", help="hold out validation and test items that share no chunk with train",
                         description="Give every accepted item a split (train, validation or test). Items that "
                                     "share a chunk (or with --by document, a document) always share a split, "
                                     "multi-hop items included. Running it again keeps every assignment and "
                                     "places only new items.")
    spl.add_argument("--project", default=default_project, help=f"project name (default {default_project!r})")
    spl.add_argument("--test", type=_fraction, required=True, metavar="F", help="fraction 0-1 of items for test")
    spl.add_argument("--validation", type=_fraction, default=0.0, metavar="F",
                     help="fraction 0-1 of items for validation (default 0)")
    spl.add_argument("--by", choices=BY, default="chunk", help="what no two splits share (default chunk)")
    spl.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0): same seed, same split")

    mod = sub.add_parser("modelfile", help="write an Ollama Modelfile for a model trained on the project",
                         description="Write a Modelfile (FROM, ADAPTER, the project's system prompt as SYSTEM, "
                                     "its sampling settings as PARAMETER) and print the ollama create command.")
    mod.add_argument("--project", default=default_project, help=f"project name (default {default_project!r})")
    mod.add_argument("--gguf", type=Path, metavar="PATH", help="the merged model as a GGUF file")
    mod.add_argument("--base", metavar="MODEL", help="the base model the LoRA was trained on (Ollama name or .gguf)")
    mod.add_argument("--adapter", type=Path, metavar="PATH", help="the LoRA adapter (Safetensors folder or .gguf)")
    mod.add_argument("--name", required=True, help="name of the new Ollama model, e.g. notes-qwen2.5")
    mod.add_argument("--num-ctx", type=int, metavar="TOKENS", help="context window to set (default: the model's)")
    mod.add_argument("--template", type=Path, metavar="FILE", help="a Go template file for TEMPLATE (only for a "
                     "model that has none)")
    mod.add_argument("--output", type=Path, help="where to write it (default <data folder>/modelfiles/<name>/Modelfile)")


def run(args, store, data_dir: Path, say: Say, out: Say) -> int:
    """Run ``split`` or ``modelfile`` for parsed ``args``; return the exit code.

    :raises ValueError: a bad fraction, name or path (one line).
    :raises StoreError: no such project, or the store failed.
    """
    project_id = store.project_id(args.project)
    if args.command == "split":
        if not sum(store.split_counts(project_id).values()):
            say(no_accepted_message(args.project))
            return 1
        report = split_project(store, project_id, test=args.test, validation=args.validation, by=args.by,
                               seed=args.seed)
        counts = report.counts
        say(f"split: {report.assigned} items assigned ({report.joined} joined their {args.by}'s split), "
            f"{report.kept} kept; train {counts['train']}, validation {counts['validation']}, test {counts['test']}"
            + (f"; {report.blocked} left out: they link {args.by}s already in two splits" if report.blocked else ""))
        why = shortfall(report, test=args.test, validation=args.validation, by=args.by)
        if why:
            say(why)
        return 0
    name = check_model_name(args.name)
    template = ""
    if args.template is not None:
        try:
            template = args.template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{args.template}: cannot read the template ({exc})") from None
    config = ProjectConfig.load(store.get_settings(project_id))
    text = modelfile_text(build_spec(config, gguf=args.gguf, base=args.base, adapter=args.adapter,
                                     num_ctx=args.num_ctx, template=template))
    path = args.output if args.output is not None else default_path(data_dir, name)
    write_atomic(path, text.encode("utf-8"))
    say(f"wrote {path}")
    out(create_command(name, path))
    return 0


def split_dataset_name(output: Path, split: str | None) -> str | None:
    """The ``dataset_info.json`` entry name of an export of one split: ``None`` (the default
    name) for ``train`` or no split, else the file's name with ``-<split>`` after it
    (``notes.json`` gives ``notes-test``; ``notes-test.json`` stays ``notes-test``), so the
    evaluation file has its own entry that LLaMA-Factory's ``eval_dataset`` can name."""
    if split in (None, "train"):
        return None
    name = dataset_name_for(output)
    return name if name == split or name.endswith(f"-{split}") else f"{name}-{split}"


def no_accepted_message(project: str) -> str:
    """The line when project ``project`` has no accepted item to split or export."""
    return "no accepted items to split: " + _accept_hint(project)


def _accept_hint(project: str) -> str:
    quoted = shlex.quote(project)
    return (f"accept some first (review --project {quoted} --accept IDS, "
            f"or review --project {quoted} --accept-passing)")


def unsplit_line(counts: dict[str, int]) -> str | None:
    """The warning of an export of one split when accepted items have no split yet (they are left
    out of every split's file until ``split`` runs again); ``None`` when there are none, or when
    nothing was ever split (then the export's own message says so). ``counts`` is
    :meth:`~dataset_gen.store_splits.SplitMethods.split_counts` of the accepted items."""
    if not counts.get("none") or not any(counts[s] for s in SPLITS):
        return None
    n = counts["none"]
    return f"{n} accepted item{'s' if n != 1 else ''} {'have' if n != 1 else 'has'} no split yet; run split again to place them"


def empty_split_message(project: str, split: str | None, counts: dict[str, int]) -> str | None:
    """The error when ``export --split`` finds nothing: the project was never split (run
    ``split``), or that split is empty; ``None`` when there is no split filter."""
    if split is None:
        return None
    if not sum(counts.values()):
        return f"No items in the {split} split of project '{project}': it has no accepted items; " + _accept_hint(project)
    if not any(counts[s] for s in SPLITS):
        return (f"No items in the {split} split of project '{project}': it has no splits yet; run "
                f"split --project '{project}' --test 0.1 first")
    return f"No items in the {split} split of project '{project}': the split holds none of the items asked for"
