"""The ``evaluate`` command: did the fine-tuned model get better on my documents?

``evaluate --project P --models A,B [--judge J] [--context none|reference] [--split test]
[--output REPORT.json|REPORT.html]`` has every model answer every accepted item in scope
(:mod:`dataset_gen.evaluate`), the judge score each answer, and prints a table per model (n, mean
with a 95 % Student t interval, win/tie/loss against the first model, by question type and by
document) on stdout; progress and notes go to stderr.

Resuming: the same command again (same models in the same order, judge, context and split) takes
up the newest such evaluation and asks only for the answers and scores still missing, whether it
was stopped by Ctrl-C, killed or cut off by the server; ``--new`` starts a fresh one instead. Exit
codes: 0 every answer scored; 1 some could not be scored (a re-run retries them); 2 a usage, server
or store error; 130/143 stopped by Ctrl-C/SIGTERM (what was saved is kept).
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from .backends import make_backend
from .cli_generate import ProgressBar, Signals, Stopped, run_in_thread
from .cli_settings import add_options, given, run_config
from .config import ProjectConfig, Settings
from .errors import ExportError
from .evaluate import left_out, needs_judge, run_evaluation, scope, start_or_resume
from .evaluate_report import build_report, table_lines, write_report
from .locks import lock_project
from .store_eval import CONTEXTS

EVALUATE_SETTINGS = ("host", "api", "concurrency", "read_timeout_s")
SPLITS = ("train", "validation", "test")
Say = Callable[[str], None]


def _models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError("name one or more models, comma-separated: A,B")
    if len(set(models)) != len(models):
        raise argparse.ArgumentTypeError(f"a model is named twice in {text!r}")
    return models


def add_parser(sub, default_project: str) -> None:
    """Add the ``evaluate`` subcommand to ``sub`` (argparse subparsers)."""
    ev = sub.add_parser("evaluate", help="compare models on the reviewed items, scored by a judge",
                        description="Every model answers every accepted item (closed-book, or with the source "
                                    "chunks); a judge scores each answer 1-5 against the reference answer and the "
                                    "source; choice items are scored exactly. Prints mean scores with 95% intervals "
                                    "and win rates against the first model. Running the same command again resumes.")
    ev.add_argument("--project", default=default_project, help=f"project name (default {default_project!r})")
    ev.add_argument("--models", required=True, type=_models, metavar="A,B[,...]",
                    help="models to evaluate, comma-separated; win rates are against the first")
    ev.add_argument("--judge", default="", metavar="NAME",
                    help="the model that scores answers (needed unless every item is a choice item)")
    ev.add_argument("--context", choices=CONTEXTS, default="none",
                    help="none: closed-book (default); reference: each question with its source chunks")
    ev.add_argument("--split", choices=SPLITS, help="only items of this held-out split (default: every accepted item)")
    ev.add_argument("--output", help="also write REPORT.json (every answer and score) or REPORT.html")
    ev.add_argument("--new", action="store_true", help="start a new evaluation instead of resuming the last one")
    add_options(ev, EVALUATE_SETTINGS)


def evaluate(args, base: Settings, store, say: Say, out: Say) -> int:
    """Run ``evaluate`` for parsed ``args``; ``say`` gets notes and progress lines, ``out`` the table.

    :raises DatasetGenError: the project is missing or busy, the server fails, the store fails.
    :raises ValueError: a setting the schema refuses; no judge while an item needs one.
    """
    if args.output and Path(args.output).suffix.lower() not in (".json", ".html"):
        raise ExportError(f"{args.output}: a report is .json or .html")
    project_id = store.project_id(args.project)
    config = run_config(ProjectConfig.load(store.get_settings(project_id)), given(args, EVALUATE_SETTINGS))
    settings = config.apply(base)
    project = shlex.quote(args.project)
    items = scope(store, project_id, args.split)
    skipped = left_out(store, project_id, args.split)
    if not items:
        if skipped:
            where = f" in the {args.split} split" if args.split else ""
            every = "the one accepted item" if skipped == 1 else f"all {skipped} accepted items"
            say(f"error: {every} of project {args.project!r}{where} {'is a conversation' if skipped == 1 else 'are conversations'}, "
                "and conversations are not evaluated (only QA pairs and choice questions): generate or accept "
                "some of those first")
        elif args.split:
            say(f"error: no accepted item of project {args.project!r} is in the {args.split} split: run "
                f"'dataset-gen split --project {project}' first, or leave out --split")
        else:
            say(f"error: project {args.project!r} has no accepted items to evaluate: accept some first "
                f"(dataset-gen review --project {project} --accept-passing)")
        return 2
    if skipped:
        say(f"{skipped} accepted conversation{'s are' if skipped != 1 else ' is'} left out: conversations are "
            "not evaluated (only QA pairs and choice questions)")
    judge = args.judge.strip()
    if needs_judge(items) and not judge:
        open_items = sum(1 for p in items if p.kind != "choice")
        say(f"error: only choice items are scored without a judge, and {open_items} of {len(items)} items are "
            "not: pass --judge MODEL")
        return 2
    with lock_project(store, project_id) as lock:  # a busy project: refused before anything is created
        return _run(args, settings, store, project_id, items, judge, lock, say, out)


def _run(args, settings: Settings, store, project_id: int, items: list, judge: str, lock, say: Say,
         out: Say) -> int:
    """The evaluation itself, with the project's ``lock`` held."""
    evaluation, resumed = start_or_resume(store, project_id, args.models, judge, args.context, args.split,
                                          new=args.new)
    if resumed:
        have = sum(1 for a in store.eval_answers(evaluation.id) if a.score is not None)
        say(f"resuming evaluation {evaluation.id}: {have} of {len(items) * len(args.models)} answers already "
            "scored; only the missing ones are asked (pass --new to start again)")
    else:
        say(f"evaluation {evaluation.id}: {len(items)} items x {len(args.models)} models"
            + (f", judged by {judge}" if judge else ", scored exactly") + f", context {args.context}")
    backend = make_backend(settings)
    bar = ProgressBar()
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        eta = f"{elapsed / done * (total - done):.0f}s" if done else "?"
        bar.show(done, total, f"answers scored, ETA {eta}")

    signals = Signals()
    with signals.installed():
        try:
            summary = run_in_thread(
                lambda: run_evaluation(store, project_id, backend, evaluation.id, concurrency=settings.concurrency,
                                       on_progress=progress, cancel=signals.cancel, lock=lock), signals, "evaluate")
        except Stopped as stopped:
            say("\nstopped before evaluating; nothing was asked. Run the same command again.")
            return 128 + stopped.signum
        finally:
            bar.close()
    if signals.signum is not None:
        say(f"stopped: {summary.answered} answers and {summary.scored} scores saved in evaluation "
            f"{evaluation.id}. Run the same command again to resume.")
        return 128 + signals.signum
    say(f"{summary.answered} answers asked and {summary.scored} scored in {summary.elapsed_s:.1f}s "
        f"(evaluation {evaluation.id}" + (f", run {summary.run_id})" if summary.run_id else ")"))
    report = build_report(store, evaluation.id)
    for line in table_lines(report):
        out(line)
    if args.output:
        say(f"wrote {write_report(report, args.output)}")
    if summary.error:
        say(f"error: {summary.error}")
        say("Run the same command again once the server answers (what was saved is kept).")
        return 2
    for pair_id, model, error in summary.failures:
        say(f"failed: item {pair_id}, {model}: {error}")
    return 1 if summary.failures else 0
