"""Command line: ``python -m dataset_gen generate|export|models|projects``.

Exit codes: 0 all went well; 1 some chunks failed (they are listed, and a re-run retries them);
2 usage or input errors, or a run stopped by the backend (Ollama not running, model not pulled).
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from . import __version__
from .backends import OllamaBackend
from .config import ChunkSettings, Settings
from .errors import DatasetGenError, DocumentError
from .export import FORMATS, export_pairs
from .generation import Progress, run_generation
from .ingest import ingest_bytes
from .models import QUESTION_TYPES, SamplingOptions
from .store import Store

DEFAULT_PROJECT = "default"


def _question_types(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in QUESTION_TYPES]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown question type {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(QUESTION_TYPES)}")
    return kinds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_gen",
        description="Turn your documents into grounded QA datasets with a local Ollama model.",
    )
    parser.add_argument("--version", action="version", version=f"dataset-gen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show retries and other warnings")
    parser.add_argument("--data-dir", type=Path, help="folder of the project store (default ./data or $DATASET_GEN_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="parse, split and generate QA pairs for files",
                         description="Parse files, split them into chunks and generate QA pairs with an Ollama model. "
                                     "Everything is stored as it arrives; running again resumes and retries failed chunks.")
    gen.add_argument("files", nargs="+", type=Path, metavar="FILE", help="PDF, DOCX, Markdown or text files")
    gen.add_argument("--model", required=True, help="Ollama model name, e.g. qwen2.5:7b")
    gen.add_argument("--host", help="Ollama URL (default $OLLAMA_HOST or http://127.0.0.1:11434)")
    gen.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default {DEFAULT_PROJECT!r}; created if new)")
    gen.add_argument("--pairs-per-chunk", type=int, help="QA pairs to ask for per chunk (default 3)")
    gen.add_argument("--chunk-size", type=int, help="largest chunk in characters (default 2000)")
    gen.add_argument("--concurrency", type=int, help="chunks sent to the model at once (default 4)")
    gen.add_argument("--language", choices=("auto", "en", "zh-TW", "zh-CN"), help="language of the pairs (default auto: the document's)")
    gen.add_argument("--question-types", type=_question_types, metavar="TYPE[,TYPE]",
                     help=f"kinds of question, comma-separated, from {', '.join(QUESTION_TYPES)} (default factual)")
    gen.add_argument("--reasoning", action="store_true", default=None, help="ask for a short chain of thought per pair")
    gen.add_argument("--audience", action="append", dest="audiences", metavar="TEXT",
                     help="phrase pairs for this audience, e.g. 'a new employee' (repeat to vary by chunk)")
    gen.add_argument("--temperature", type=float, help="sampling temperature (default 0.7)")
    gen.add_argument("--seed", type=int, help="sampling seed")
    gen.add_argument("--num-predict", type=int, help="most tokens per reply (default: sized to the pairs asked for)")

    exp = sub.add_parser("export", help="write a project's pairs as Alpaca, ShareGPT or OpenAI messages",
                         description="Write a project's QA pairs in a format LLaMA-Factory loads, and a dataset_info.json entry beside it.")
    exp.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default {DEFAULT_PROJECT!r})")
    exp.add_argument("--format", required=True, choices=FORMATS)
    exp.add_argument("--output", required=True, type=Path, help="file to write (.json, or .jsonl for JSON lines)")
    exp.add_argument("--include-unreviewed", action="store_true", help="also export pairs nobody accepted or rejected yet")
    exp.add_argument("--system", help="system prompt to put on every record")

    mod = sub.add_parser("models", help="list the models Ollama has", description="List the models on the Ollama server.")
    mod.add_argument("--host", help="Ollama URL (default $OLLAMA_HOST or http://127.0.0.1:11434)")

    sub.add_parser("projects", help="list projects", description="List projects with their documents, chunks and pairs.")
    return parser


class _ProgressBar:
    """A one-line progress bar on stderr."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.lock = threading.Lock()
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        width = 30
        filled = int(width * p.done / p.total) if p.total else width
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} chunks, "
                f"{p.pairs} pairs, {p.failed} failed, ETA {eta}   ")
        with self.lock:
            self.drawn = True
            self.stream.write(line)
            self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")


def _generate(args, settings: Settings, store: Store) -> int:
    project_id = store.ensure_project(args.project)
    bad = []
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            bad.append(f"{path}: cannot read the file ({exc.strerror})")
            continue
        try:
            result = ingest_bytes(store, project_id, data, path.name, settings.chunking, max_bytes=settings.max_file_bytes)
        except DocumentError as exc:
            bad.append(str(exc))
            continue
        state = "new" if result.new else "already in the project"
        print(f"{path.name}: {result.chunks} chunks ({state})", file=sys.stderr)
    for line in bad:
        print(f"error: {line}", file=sys.stderr)
    if len(bad) == len(args.files):
        return 2
    backend = OllamaBackend(settings.ollama_host, connect_timeout_s=settings.connect_timeout_s,
                            read_timeout_s=settings.read_timeout_s, max_retries=settings.max_retries)
    options = SamplingOptions(
        temperature=args.temperature if args.temperature is not None else SamplingOptions.temperature,
        seed=args.seed, num_predict=args.num_predict,
    )
    bar = _ProgressBar()
    try:
        summary = run_generation(store, project_id, backend, args.model, settings, options=options, on_progress=bar)
    finally:
        bar.close()
    print(f"{summary.pairs} pairs from {summary.done - len(summary.failures)} chunks in {summary.elapsed_s:.1f}s "
          f"(project {args.project!r}, run {summary.run_id})", file=sys.stderr)
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 2
    for f in summary.failures:
        print(f"failed: {f.document} chunk {f.ordinal}: {f.error}", file=sys.stderr)
    if summary.failures:
        print("Run the same command again to retry the failed chunks.", file=sys.stderr)
        return 1
    return 2 if bad else 0


def _export(args, store: Store) -> int:
    project_id = store.project_id(args.project)
    statuses = ("accepted", "generated") if args.include_unreviewed else ("accepted",)
    pairs = store.list_pairs(project_id, statuses=statuses)
    report = export_pairs(pairs, args.format, args.output, system=args.system, project=args.project)
    print(f"wrote {report.written} records to {report.path}", file=sys.stderr)
    print(f"registered '{report.dataset_name}' in {report.dataset_info_path}", file=sys.stderr)
    for problem in report.problems:
        print(f"skipped record {problem.index}: {problem.reason}", file=sys.stderr)
    return 0


def _models(settings: Settings) -> int:
    backend = OllamaBackend(settings.ollama_host, connect_timeout_s=settings.connect_timeout_s, max_retries=1)
    for m in backend.list_models():
        size = f"{m.size / 1e9:.1f} GB" if m.size else ""
        print("\t".join(x for x in (m.name, m.parameter_size, m.quantization_level, size)))
    return 0


def _projects(store: Store) -> int:
    for p in store.list_projects():
        print(f"{p.name}\t{p.documents} documents\t{p.chunks} chunks\t{p.pairs} pairs")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, format="%(message)s")
    overrides = dict(
        data_dir=args.data_dir, ollama_host=getattr(args, "host", None), concurrency=getattr(args, "concurrency", None),
        pairs_per_chunk=getattr(args, "pairs_per_chunk", None), language=getattr(args, "language", None),
        question_types=getattr(args, "question_types", None), reasoning=getattr(args, "reasoning", None),
        audiences=tuple(args.audiences) if getattr(args, "audiences", None) else None,
    )
    try:
        if getattr(args, "chunk_size", None) is not None:
            size = args.chunk_size
            if size < 200:
                raise ValueError(f"--chunk-size must be at least 200 characters (got {size})")
            defaults = ChunkSettings()
            overrides["chunking"] = ChunkSettings(max_chars=size, min_chars=min(defaults.min_chars, size // 4),
                                                  overlap=min(defaults.overlap, size // 4))
        settings = Settings.from_env(**overrides)
        if args.command == "models":
            return _models(settings)
        with Store.open(settings.data_dir) as store:
            if args.command == "generate":
                return _generate(args, settings, store)
            if args.command == "export":
                return _export(args, store)
            return _projects(store)
    except (DatasetGenError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped; everything generated so far is saved. Run again to resume.", file=sys.stderr)
        return 130
