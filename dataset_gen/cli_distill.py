"""The ``distill``, ``expand`` and ``tags`` commands: items with no document, and a domain tag tree.

``distill --topic TEXT`` makes a tag tree for the topic (or uses the project's, or ``--tree
FILE.json``), questions per leaf tag and an answer each (:mod:`dataset_gen.distill`); ``expand
--examples FILE`` writes new records like a person's own (:mod:`dataset_gen.expand`); ``tags``
shows (``--show``: the JSON a person edits), loads (``--load FILE``) or builds a tag tree from the
documents' headings and tags every item (:mod:`dataset_gen.tags`). Each holds the project's lock;
Ctrl-C stops between two calls and what was saved stays (exit 130). Exit codes as in
:mod:`dataset_gen.cli`: 0 done, 1 some calls failed, 2 an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .backends import make_backend
from .cli_generate import Signals, Stopped, run_in_thread
from .cli_settings import add_options, given, run_config
from .config import ProjectConfig, Settings
from .distill import distill
from .expand import expand, read_examples
from .language import detect_language
from .locks import lock_project, lock_project_name
from .names import printable
from .run_report import plural
from .tags import render_tree, run_tagging, tree_from_file, tree_to_json

COMMANDS = ("distill", "expand", "tags")
"""The commands of this module."""
ITEM_SETTINGS = ("model", "host", "api", "language", "temperature", "seed", "read_timeout_s")
"""The project settings these commands take as options."""

Say = Callable[[str], None]


def add_parser(sub, default_project: str) -> None:
    """Add the ``distill``, ``expand`` and ``tags`` subcommands to ``sub``."""
    dis = sub.add_parser("distill", help="distil QA items about a topic from the model's own knowledge",
                         description="Topic -> tag tree (stored: see it with tags --show, edit the JSON and load it with "
                                     "tags --load) -> questions per leaf tag -> an answer each. Items have no source: "
                                     "origin model, never grounded.")
    dis.add_argument("--topic", required=True, help="what the dataset is about (its language is the default --language)")
    dis.add_argument("--project", default=default_project, help="project name (created if new)")
    dis.add_argument("--levels", type=int, default=2, choices=(1, 2), help="levels of the tag tree (default 2)")
    dis.add_argument("--tags", type=int, default=5, metavar="N", help="tags per level (default 5)")
    dis.add_argument("--questions-per-tag", type=int, default=5, metavar="K", help="questions per leaf tag (default 5)")
    dis.add_argument("--tree", type=Path, metavar="FILE.json", help="use this tag tree (as tags --show prints it)")
    dis.add_argument("--new-tree", action="store_true", help="ask the model for a new tree even if the project has one")
    dis.add_argument("--tree-only", action="store_true", help="stop once the tree is made, to edit it first")
    add_options(dis, ITEM_SETTINGS)

    exp = sub.add_parser("expand", help="write new records in the style of your own examples",
                         description="Few-shot: N new records in the style, format and difficulty of your Alpaca or "
                                     "ShareGPT examples (JSON array or JSONL). Near-copies of an example or of each "
                                     "other are held back.")
    exp.add_argument("--examples", required=True, type=Path, metavar="FILE.jsonl", help="your examples")
    exp.add_argument("--instruction", required=True, help="what the new records should do")
    exp.add_argument("--count", required=True, type=int, metavar="N", help="records to write")
    exp.add_argument("--project", default=default_project, help="project name (created if new)")
    add_options(exp, ITEM_SETTINGS)

    tag = sub.add_parser("tags", help="show, load or build a domain tag tree and tag every item",
                         description="With --model: build a two-level tag tree from the documents' headings (when the "
                                     "project has none, or with --rebuild) and give every untagged item a tag, in "
                                     "batches. --show prints the tree as JSON to edit; --load stores an edited one.")
    tag.add_argument("--project", default=default_project)
    tag.add_argument("--show", action="store_true", help="print the tree as JSON (stdout) and the counts per tag (stderr)")
    tag.add_argument("--load", type=Path, metavar="FILE.json", help="store this tree (items keep tags of the same path)")
    tag.add_argument("--rebuild", action="store_true", help="build the tree again from the headings")
    tag.add_argument("--retag", action="store_true", help="tag every item again, not only untagged ones")
    tag.add_argument("--count", type=int, default=8, metavar="N", help="at most N top-level tags (default 8)")
    add_options(tag, ITEM_SETTINGS)


def run(args, base: Settings, store, say: Say, out: Say) -> int:
    """Run ``distill``, ``expand`` or ``tags`` for parsed ``args``; lines for the person go to
    ``say`` (stderr), the tree JSON of ``tags --show`` to ``out`` (stdout). Returns the exit code.

    :raises ValueError: bad input (a malformed examples or tree file, no model): one line.
    :raises DatasetGenError: the server or the store failed, or the project is busy.
    """
    if args.command == "tags" and (args.show or args.load):
        project_id = store.project_id(args.project)
        if args.load:
            loaded = tree_from_file(args.load)
            with lock_project(store, project_id):
                store.save_tag_tree(project_id, loaded)
            say(f"loaded {sum(1 + len(c) for _, c in loaded)} tags into project {args.project!r}")
        if args.show:
            out(tree_to_json(store.tag_tree(project_id)))
            for line in render_tree(store.list_tags(project_id), store.tag_counts(project_id)):
                say(printable(line))
        return 0
    examples = read_examples(args.examples) if args.command == "expand" else []  # a bad file fails before any call
    tree = tree_from_file(args.tree) if args.command == "distill" and args.tree else None
    options = given(args, ITEM_SETTINGS)
    config = run_config(ProjectConfig.load({}), options)
    if not config.model:
        raise ValueError(f"No model: pass --model NAME (e.g. qwen2.5:7b) for {args.command}")
    backend = make_backend(config.apply(base))
    signals = Signals()
    name = args.project.strip()
    with signals.installed(), lock_project_name(store, name):
        project_id = store.ensure_project(name)
        with lock_project(store, project_id):
            try:
                return run_in_thread(lambda: _work(args, store, project_id, backend, config, examples, tree,
                                                   signals, say), signals, args.command)
            except Stopped as stopped:
                say("stopped before any call; nothing was saved")
                return 128 + stopped.signum


def _work(args, store, project_id: int, backend, config: ProjectConfig, examples, tree, signals: Signals,
          say: Say) -> int:
    language = config.language if "language" in given(args, ("language",)) else None
    options = config.sampling()
    if args.command == "distill":
        summary = distill(store, project_id, backend, config.model, args.topic, levels=args.levels, tags=args.tags,
                          questions_per_tag=args.questions_per_tag, language=language, tree=tree,
                          new_tree=args.new_tree, tree_only=args.tree_only, options=options, cancel=signals.cancel)
        state = "made by the model" if summary.tree_built else "the project's"
        say(f"tag tree ({state}; see it with tags --project {args.project} --show, edit the JSON and load it "
            "with tags --load FILE.json):")
        for line in render_tree(store.list_tags(project_id)):
            say(printable(line))
        for what, error in summary.failures:
            say(printable(f"failed: {what}: {error}"))
        say(f"distilled {plural(summary.items, 'item')} in {summary.language} with {plural(summary.calls, 'call')} "
            f"({summary.prompt_tokens} prompt tokens; project {args.project!r}, run {summary.run_id}, {summary.status})")
        return _code(signals, say, 1 if summary.failures else 0)
    if args.command == "expand":
        result = expand(store, project_id, backend, config.model, examples, args.instruction, args.count,
                        language=language, seed=config.seed or 0, options=options, cancel=signals.cancel)
        for question, copied in result.held:
            say(printable(f"held back a near-copy of {copied}: {question}"))
        if result.error:
            say(printable(f"error: {result.error}"))
        say(f"wrote {result.items} of {args.count} {result.fmt} records from {len(examples)} examples with "
            f"{plural(result.calls, 'call')} ({result.prompt_tokens} prompt tokens; held back {len(result.held)} "
            f"near-cop{'y' if len(result.held) == 1 else 'ies'}; "
            f"project {args.project!r}, run {result.run_id}, {result.status})")
        return _code(signals, say, 0 if result.items == args.count else 1)
    tagged = run_tagging(store, project_id, backend, config.model, build=args.rebuild or not store.list_tags(project_id),
                         count=args.count, retag=args.retag, language=language or _items_language(store, project_id),
                         options=options, cancel=signals.cancel)
    for line in render_tree(store.list_tags(project_id), store.tag_counts(project_id)):
        say(printable(line))
    say(f"tagged {plural(tagged.tagged, 'item')}, {tagged.untagged} left untagged, with {plural(tagged.calls, 'call')} "
        f"({tagged.prompt_tokens} prompt tokens; run {tagged.run_id})")
    return _code(signals, say, 1 if tagged.untagged else 0)


def _items_language(store, project_id: int) -> str:
    """The language of the project's items (their questions and answers together), ``"en"`` when
    it cannot be told."""
    text = "\n".join(f"{p.question}\n{p.answer}" for p in store.list_pairs(project_id, limit=200))
    found = detect_language(text) if text.strip() else "en"
    return found if found and found != "und" else "en"


def _code(signals: Signals, say: Say, code: int) -> int:
    if signals.signum is not None:
        say("stopped: what was saved stays saved")
        return 128 + signals.signum
    return code
