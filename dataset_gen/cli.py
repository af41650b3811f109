"""Command line: ``dataset-gen`` (or ``python -m dataset_gen``) generate|export|review|judge|evaluate|dedupe|report|split|modelfile|distill|expand|tags|models|projects.

Exit codes: 0 all went well; 1 some chunks failed (they are listed, and a re-run retries them);
2 usage or input errors, a busy project, a storage error, or a run stopped by the backend (Ollama
not running, model not pulled); 130 stopped by Ctrl-C, 143 by SIGTERM (what was saved is printed;
running the same command again resumes); 141 the reader of stdout went away (``| head``): the
command ends quietly. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from . import __version__
from .backends import API_KINDS, make_backend
from .balance import balance
from .cli_distill import COMMANDS as ITEM_COMMANDS
from .cli_distill import add_parser as add_distill_parser
from .cli_distill import run as run_items
from .cli_evaluate import add_parser as add_evaluate_parser
from .cli_evaluate import evaluate
from .cli_generate import ProgressBar, Signals, Stopped, generate, run_in_thread
from .cli_loop import COMMANDS as LOOP_COMMANDS
from .cli_loop import add_parser as add_loop_parser
from .cli_loop import empty_split_message, split_dataset_name, unsplit_line
from .cli_loop import run as run_loop
from .cli_review import add_parser as add_review_parser
from .cli_review import report, review
from .cli_settings import (
    DEDUPE_SETTINGS,
    GENERATE_SETTINGS,
    JUDGE_SETTINGS,
    add_options,
    given,
    overridden,
    run_config,
    settings_line,
)
from .config import API_DESCRIPTION, HOST_DEFAULTS, ProjectConfig, Settings
from .errors import DatasetGenError, ExportError, StoreError
from .export import FORMATS, NO_PAIRS_MESSAGE, check_output, export_pairs
from .gate import HOLD_REASONS, check_reasons, hold_back, hold_reasons, project_min_score, summary, top_reasons
from .judge import judge_pairs
from .log_stderr import StderrHandler
from .names import printable
from .quality import mark_duplicates
from .rag_export import check_rag_output, write_beir, write_ragas
from .splits import SPLITS
from .store import Store

DEFAULT_PROJECT = "default"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (the full usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dataset-gen",
        description="Turn your documents into grounded QA datasets with a local Ollama model.",
    )
    parser.add_argument("--version", action="version", version=f"dataset-gen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show retries and other warnings")
    parser.add_argument("--data-dir", type=Path, help="folder of the project store (default ./data or $DATASET_GEN_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser("generate", help="parse, split and generate QA pairs for files",
                         description="Parse files, split them into chunks and generate QA pairs with an Ollama model. "
                                     "Everything is stored as it arrives; running again resumes and retries failed chunks.")
    gen.add_argument("files", nargs="+", type=Path, metavar="FILE", help="PDF, DOCX, EPUB, HTML, Markdown or text files")
    gen.add_argument("--project", default=DEFAULT_PROJECT,
                     help=f"project name (default {DEFAULT_PROJECT!r}; created if new). The run starts from the "
                          "project's saved settings; options given here override them for this run only (a new "
                          "project saves this run's settings as its own)")
    add_options(gen, GENERATE_SETTINGS)

    exp = sub.add_parser("export", help="write a project's pairs for LLaMA-Factory or as a RAG evaluation set",
                         description="Write a project's QA pairs: alpaca, sharegpt or openai for fine-tuning (LLaMA-Factory "
                                     "loads them; a dataset_info.json entry is written beside the file), ragas (.jsonl or "
                                     ".csv) or beir (.zip: corpus, queries, qrels) for RAG evaluation.")
    exp.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default {DEFAULT_PROJECT!r})")
    exp.add_argument("--format", required=True, choices=(*FORMATS, "ragas", "beir"))
    exp.add_argument("--output", required=True, type=Path, help="file to write: .json or .jsonl for alpaca/sharegpt; .jsonl for openai; .jsonl or .csv for ragas; .zip for beir")
    exp.add_argument("--include-unreviewed", action="store_true", help="also export pairs nobody accepted or rejected yet")
    exp.add_argument("--include-unanswerable", action="store_true", help="fine-tuning formats: keep unanswerable questions")
    exp.add_argument("--include-duplicates", action="store_true", help="keep near-duplicates of kept pairs")
    exp.add_argument("--include-flagged", type=_reasons, default=frozenset(), metavar="REASON[,REASON]",
                     help="also export pairs held back for these reasons, comma-separated, from "
                          f"{', '.join(HOLD_REASONS)} (default: none)")
    exp.add_argument("--min-score", type=int, choices=range(1, 6), metavar="1-5",
                     help="hold back pairs a judge scored below this on any measure (default: the project's threshold)")
    exp.add_argument("--reasoning", action="store_true", help="fine-tuning formats: put each pair's reasoning in <think> tags before the answer")
    exp.add_argument("--balance", type=int, metavar="N", help="keep at most N items per domain tag (see tags); "
                     "items without a tag count as one group, untagged")
    exp.add_argument("--seed", type=int, default=0, help="which items --balance keeps: the same seed, the same records (default 0)")
    exp.add_argument("--split", choices=SPLITS, help="only the items of this held-out split (see the split command)")
    add_options(exp, ("system_prompt",))

    jud = sub.add_parser("judge", help="score pairs 1-5 with an LLM judge that sees the source",
                         description="Score every unjudged pair's faithfulness, relevance and clarity (1-5) with a model "
                                     "that sees the pair's source text. Scores are saved as they arrive.")
    jud.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default {DEFAULT_PROJECT!r}); the "
                     "judge starts from its saved settings and options given here override them for this run")
    add_options(jud, JUDGE_SETTINGS)
    jud.add_argument("--rejudge", action="store_true", help="judge pairs that already have scores again")
    jud.add_argument("--threshold", type=int, choices=range(1, 6), metavar="1-5",
                     help="record in the project: exports hold back pairs scored below this on any measure "
                          "(default: the project's, 3 unless set)")

    ded = sub.add_parser("dedupe", help="find near-duplicate questions and keep one of each cluster",
                         description="Cluster near-duplicate questions (text similarity, plus Ollama embeddings with "
                                     "--embedding-model) and mark all but one pair per cluster as duplicates.")
    ded.add_argument("--project", default=DEFAULT_PROJECT)
    ded.add_argument("--threshold", type=float, default=90.0, help="text similarity 0-100 that links two questions (default 90)")
    add_options(ded, DEDUPE_SETTINGS)

    rep = sub.add_parser("report", help="coverage and quality figures of a project",
                         description="Pairs per document, chunks without a usable pair and why, status, type and score counts.")
    rep.add_argument("--project", default=DEFAULT_PROJECT)
    add_review_parser(sub, DEFAULT_PROJECT)
    add_evaluate_parser(sub, DEFAULT_PROJECT)
    add_distill_parser(sub, DEFAULT_PROJECT)
    add_loop_parser(sub, DEFAULT_PROJECT)

    mod = sub.add_parser("models", help="list the models Ollama has", description="List the models on the Ollama server.")
    mod.add_argument("--host", help=f"server URL (default {HOST_DEFAULTS})")
    mod.add_argument("--api", choices=API_KINDS, help=API_DESCRIPTION)

    sub.add_parser("projects", help="list projects", description="List projects with their documents, chunks and pairs.")
    return parser


def _reasons(text: str) -> frozenset[str]:
    try:
        return check_reasons(text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _export(args, store: Store) -> int:
    if args.format in FORMATS:
        check_output(args.format, args.output)
    else:
        check_rag_output(args.format, args.output)
    project_id = store.project_id(args.project)
    if not store.read_only:
        with contextlib.suppress(StoreError):  # a full disk: old pairs then pass unflagged
            store.fill_flags(project_id)  # pairs made before the checks existed
    statuses = ("accepted", "generated") if args.include_unreviewed else ("accepted",)
    pairs = store.list_pairs(project_id, statuses=statuses, split=args.split)
    unsplit = unsplit_line(store.split_counts(project_id)) if args.split else None
    if unsplit:
        print(unsplit, file=sys.stderr)
    min_score = args.min_score if args.min_score is not None else project_min_score(store.get_settings(project_id))
    include = set(args.include_flagged)
    if args.include_unanswerable:
        include.add("unanswerable")
    if args.include_duplicates:
        include.add("near_duplicate")
    chosen, held = hold_back(pairs, include=include, min_score=min_score, training=args.format in FORMATS)
    if held:
        print(summary(held), file=sys.stderr)
    if args.balance is not None and chosen:
        before = len(chosen)
        chosen = balance(chosen, store.pair_tags(project_id), args.balance, args.seed)
        print(f"balanced: kept {len(chosen)} of {before} items, at most {args.balance} per tag (seed {args.seed})",
              file=sys.stderr)
    # when nothing is left: every reason that holds a pair back, not only the first each counts under
    blocking = Counter(r for p in pairs for r in hold_reasons(p, min_score=min_score, training=args.format in FORMATS)
                       if r not in include) if not chosen else Counter()
    empty = _empty_message(args, pairs, held, [*args.include_flagged, *(c for c, _ in blocking.most_common())])
    if not pairs and args.split:
        empty = empty_split_message(args.project, args.split, store.split_counts(project_id, statuses))
    if args.format in ("ragas", "beir"):
        if not chosen:
            raise ExportError(empty or NO_PAIRS_MESSAGE.format(project=args.project))
        if args.format == "ragas":
            report = write_ragas(chosen, args.output)
        else:
            report = write_beir(store.list_chunks(project_id), chosen, args.output)
        corpus = f" and {report.corpus} corpus chunks" if args.format == "beir" else ""
        print(f"wrote {report.queries} questions{corpus} to {report.path}", file=sys.stderr)
        return 0
    system = args.system_prompt if args.system_prompt is not None else ProjectConfig.load(
        store.get_settings(project_id)).system_prompt
    written = export_pairs(chosen, args.format, args.output, system=system or None, project=args.project,
                           reasoning=args.reasoning, empty_message=empty,
                           dataset_name=split_dataset_name(args.output, args.split))
    print(f"wrote {written.written} records to {written.path}", file=sys.stderr)
    print(f"registered '{written.dataset_name}' in {written.dataset_info_path}", file=sys.stderr)
    for problem in written.problems:
        print(f"skipped record {problem.index}: {problem.reason}", file=sys.stderr)
    return 0


def _empty_message(args, pairs: list, held, reasons: list[str]) -> str | None:
    """The error when nothing is left to export, naming only the fixes that were not tried;
    ``reasons`` are every reason that holds some pair back (all of them, so that one
    ``--include-flagged`` list takes the pairs)."""
    if not pairs:
        if args.include_unreviewed:
            return (f"No pairs to export in project '{args.project}': every pair is rejected or there are none; "
                    "generate some, or accept some again with review --accept IDS")
        return None  # NO_PAIRS_MESSAGE: accept some, or pass --include-unreviewed
    if held:
        fixes = [f"review them (review --project {shlex.quote(args.project)} lists why each is held back)"]
        if held.get("low_score") and args.min_score is not None:
            fixes.append("lower --min-score")
        fixes.append("pass --include-flagged " + ",".join(dict.fromkeys(reasons)) + " to take them anyway")
        return (f"No pairs left to export in project '{args.project}': all {len(pairs)} were held back "
                f"({top_reasons(held)}); " + ", or ".join(fixes))
    return None


def _judge(args, config: ProjectConfig, settings: Settings, store: Store) -> int:
    project_id = store.project_id(args.project)
    if not config.judge_model:
        raise ValueError(f"No judge model for project '{args.project}': pass --model NAME (e.g. qwen2.5:7b) "
                         "or set one in the project's settings")
    backend = make_backend(settings)
    bar = ProgressBar()
    signals = Signals()
    with signals.installed():
        try:
            summary = run_in_thread(
                lambda: judge_pairs(store, project_id, backend, config.judge_model, concurrency=settings.concurrency,
                                    rejudge=args.rejudge, cancel=signals.cancel, threshold=args.threshold,
                                    on_progress=lambda done, total: bar.show(done, total, "pairs")),
                signals, "judge")
        except Stopped as stopped:
            print("\nstopped before judging; nothing was judged. Run the same command again.", file=sys.stderr)
            return 128 + stopped.signum
        finally:
            bar.close()
    if signals.signum is not None:
        print(f"stopped: {summary.judged} of {summary.total} pairs judged and saved. "
              "Run the same command again to judge the rest.", file=sys.stderr)
        return 128 + signals.signum
    print(f"judged {summary.judged} of {summary.total} pairs in {summary.elapsed_s:.1f}s", file=sys.stderr)
    if summary.sourceless:
        print(summary.sourceless_line(), file=sys.stderr)
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 2
    for pair_id, error in summary.failures:
        print(f"failed: pair {pair_id}: {error}", file=sys.stderr)
    return 1 if summary.failures else 0


def _dedupe(args, config: ProjectConfig, settings: Settings, store: Store) -> int:
    project_id = store.project_id(args.project)
    backend = make_backend(settings) if config.embedding_model else None
    summary = mark_duplicates(store, project_id, threshold=args.threshold, backend=backend,
                              embedding_model=config.embedding_model)
    marked = sum(len(c.members) - 1 for c in summary.clusters)
    print(f"{len(summary.clusters)} clusters among {summary.pairs} questions; {marked} marked as duplicates; "
          f"duplicate rate {summary.rate_before:.1%} before, {summary.rate_after:.1%} after", file=sys.stderr)
    return 0


def _models(settings: Settings) -> int:
    backend = make_backend(settings, max_retries=1)
    for m in backend.list_models():
        size = f"{m.size / 1e9:.1f} GB" if m.size else ""
        print("\t".join(x for x in (m.name, m.parameter_size, m.quantization_level, size)))
    return 0


def _say(line: str) -> None:
    """One line for the person on stderr (progress and results of a command)."""
    print(line, file=sys.stderr)


def _projects(store: Store) -> int:
    for p in store.list_projects():
        print(f"{printable(p.name)}\t{p.documents} documents\t{p.chunks} chunks\t{p.pairs} pairs")
    return 0


def _saved_config(store: Store, name: str) -> tuple[ProjectConfig, bool]:
    """Project ``name``'s saved settings and whether it has any (a project not made yet, or made
    without settings, gets the schema's defaults and ``False``)."""
    project_id = next((p.id for p in store.list_projects() if p.name == name.strip()), None)
    stored = store.get_settings(project_id) if project_id is not None else {}
    return ProjectConfig.load(stored), bool(stored)


SETTINGS_OF = {"generate": GENERATE_SETTINGS, "judge": JUDGE_SETTINGS, "dedupe": DEDUPE_SETTINGS}


def _on_project(args, argv: list[str], base: Settings, store: Store) -> int:
    """Run generate, judge or dedupe with the project's saved settings and the options given over them."""
    options = given(args, SETTINGS_OF[args.command])
    saved, has_settings = _saved_config(store, args.project)
    config = run_config(saved, options)
    settings = config.apply(base)
    line = settings_line(args.project, overridden(saved, config, options), argv) if has_settings else ""
    if line:
        _say(line)
    if args.command == "generate":
        return generate(args, config, settings, store, _say, save=not has_settings)
    if args.command == "judge":
        return _judge(args, config, settings, store)
    return _dedupe(args, config, settings, store)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, format="%(message)s",
                        handlers=[StderrHandler()])
    ours = logging.getLogger("dataset_gen")  # the command line decides what is logged in its process
    ours.handlers.clear()
    ours.setLevel(logging.NOTSET)
    try:
        if args.command == "models":
            host = "openai_base_url" if args.api == "openai" else "ollama_host"
            return _flushed(_models(Settings.from_env(data_dir=args.data_dir, api=args.api, **{host: args.host})))
        base = Settings.from_env(data_dir=args.data_dir)
        with Store.open(base.data_dir) as store:
            return _flushed(_command(args, argv, base, store))
    except BrokenPipeError:
        return _stdout_closed()
    except (DatasetGenError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (sqlite3.Error, OSError) as exc:  # the store's folder or file failed under us (disk full, removed)
        print(f"error: the project store failed ({type(exc).__name__}: {exc}): check the data folder "
              f"{getattr(args, 'data_dir', None) or '(default)'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped; what was saved stays saved. Run the same command again to go on.", file=sys.stderr)
        return 130


SIGPIPE_EXIT = 141
"""The exit code when stdout's reader went away: 128 + SIGPIPE (13), as a shell reports it."""


def _flushed(code: int) -> int:
    """``code``, once stdout is flushed (so a closed pipe is found here, not at exit)."""
    sys.stdout.flush()
    return code


def _stdout_closed() -> int:
    """End quietly when stdout's reader is gone (``review ... | head``): point stdout at
    ``os.devnull`` so the flush at exit cannot fail again, as Python's docs recommend (library
    ``signal``, "Note on SIGPIPE"), and return :data:`SIGPIPE_EXIT`."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return SIGPIPE_EXIT


def _command(args, argv: list[str], base: Settings, store: Store) -> int:
    """Run the store command of parsed ``args`` and return its exit code."""
    if args.command in SETTINGS_OF:
        return _on_project(args, argv, base, store)
    if args.command == "export":
        return _export(args, store)
    if args.command == "report":
        return report(args, store, print)
    if args.command in ITEM_COMMANDS:
        return run_items(args, base, store, _say, print)
    if args.command == "review":
        return review(args, store, _say, print)
    if args.command == "evaluate":
        return evaluate(args, base, store, _say, print)
    if args.command in LOOP_COMMANDS:
        return run_loop(args, store, base.data_dir, _say, print)
    return _projects(store)
