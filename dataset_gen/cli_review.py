"""The ``review`` and ``report`` commands: accept and reject pairs without the app, and say how much
of a project passed.

``review --project P`` alone lists the project's pairs (id, status, what holds it back or
``passes``, document, question) on stdout, one a line. ``--accept-passing`` accepts every pair
still ``generated`` that passes every check (:func:`dataset_gen.gate.failed_checks` with the
project's judge threshold; with ``--min-score N`` a pair must also be judged with no score below
N). ``--accept IDS`` and ``--reject IDS`` take pair ids as ``12,15-20`` (the ids the store keys
on, shown by the list). Exit codes: 0 done; 1 some ids given are not pairs of the project (one
line lists them; the other ids are applied); 2 a usage or store error.
"""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from collections.abc import Callable

from .checks import REASONS
from .errors import StoreError
from .evaluate_report import build_report
from .gate import failed_checks, label, project_min_score, top_reasons
from .locks import close_dead_runs
from .models import QUESTION_TYPES, ItemKind, Origin
from .names import printable
from .quality import coverage
from .run_report import tally

MAX_IDS = 1_000_000
"""Most pair ids one ``--accept``/``--reject`` list may name (a range like ``1-99999999`` is refused)."""

Say = Callable[[str], None]


def parse_ids(text: str) -> list[int]:
    """``"12,15-20"`` → ``[12, 15, 16, 17, 18, 19, 20]`` (sorted, each once; spaces ignored).

    :raises ValueError: a piece that is not a whole number or a range ``low-high`` with
        ``low <= high``, no id at all, or more than :data:`MAX_IDS` ids.
    """
    ids: set[int] = set()
    for piece in (p.strip() for p in text.replace(" ", "").split(",")):
        if not piece:
            continue
        low, dash, high = piece.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"{piece!r} is not a pair id or a range of ids like 15-20")
        first, last = int(low), int(high) if dash else int(low)
        if first > last:
            raise ValueError(f"the range {piece} runs backwards: write {last}-{first}")
        if last - first + 1 + len(ids) > MAX_IDS:
            raise ValueError(f"more than {MAX_IDS} ids in {text!r}: name fewer")
        ids.update(range(first, last + 1))
    if not ids:
        raise ValueError(f"no pair id in {text!r}: name ids like 12,15-20")
    return sorted(ids)


def _ids(text: str) -> list[int]:
    try:
        return parse_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub, default_project: str) -> None:
    """Add the ``review`` sub-command to ``sub`` (argparse sub-parsers)."""
    rev = sub.add_parser("review", help="accept or reject pairs, or list them with what holds each back",
                         description="Without an action, list the project's pairs: id, status, what holds the pair "
                                     "back in an export (or 'passes'), document and question. --accept-passing accepts "
                                     "every unreviewed pair that passes every check; --accept and --reject take ids.")
    rev.add_argument("--project", default=default_project)
    rev.add_argument("--accept-passing", action="store_true",
                     help="accept every unreviewed pair that passes every check (flags, grounding, judge threshold)")
    rev.add_argument("--min-score", type=int, choices=range(1, 6), metavar="1-5",
                     help="with --accept-passing: also require a judge score of at least this on every measure "
                          "(unjudged pairs are left unreviewed)")
    rev.add_argument("--accept", type=_ids, metavar="IDS", help="accept these pairs, e.g. 12,15-20")
    rev.add_argument("--reject", type=_ids, metavar="IDS", help="reject these pairs, e.g. 12,15-20")


def review(args, store, say: Say, out: Say) -> int:
    """Run ``review`` for parsed ``args``: results to ``say`` (stderr), the list to ``out``
    (stdout); return the exit code (see the module docstring).

    :raises StoreError: no such project, or the store cannot be written.
    :raises ValueError: the same id in ``--accept`` and ``--reject``, or ``--min-score`` without
        ``--accept-passing``.
    """
    project_id = store.project_id(args.project)
    accept, reject = args.accept or [], args.reject or []
    both = sorted(set(accept) & set(reject))
    if both:
        raise ValueError(f"pair {_ranges(both)} is both in --accept and --reject: name each pair once")
    if args.min_score is not None and not args.accept_passing:
        raise ValueError("--min-score goes with --accept-passing: add it, or leave --min-score out")
    if not (accept or reject or args.accept_passing):
        return _list(store, project_id, out)
    store.require_writable()
    with contextlib.suppress(StoreError):
        store.fill_flags(project_id)  # pairs made before the checks existed get theirs
    threshold = project_min_score(store.get_settings(project_id))
    known = set(store.pair_ids(project_id))
    missing = sorted(set(accept + reject) - known)
    for status, wanted in (("accepted", accept), ("rejected", reject)):
        ids = [i for i in wanted if i in known]
        if ids:
            changed = store.change_status(ids, status).count  # a batch of the review trail: undoable
            same = len(ids) - changed
            say(f"{status} {changed} of {_count(len(ids), 'pair')}" + (f" ({same} already {status})" if same else ""))
            if status == "accepted":
                _say_still_held(store, project_id, set(ids), threshold, say)
    if args.accept_passing:
        _accept_passing(store, project_id, threshold, args.min_score, say)
    if missing:
        say(f"not pairs of project {printable(args.project)!r}, so left alone: {_ranges(missing)}")
        return 1
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _list(store, project_id: int, out: Say) -> int:
    threshold = project_min_score(store.get_settings(project_id))
    for p in store.list_pairs(project_id):
        reasons = failed_checks(p, min_score=threshold)
        out("\t".join((str(p.id), p.status, ",".join(reasons) or "passes", printable(p.document),
                       printable(p.question))))
    return 0


def _say_still_held(store, project_id: int, ids: set[int], threshold: int, say: Say) -> None:
    """One line when accepted pairs still fail a check: exports hold them back, and why."""
    held: Counter[str] = Counter()
    for p in store.list_pairs(project_id, statuses=("accepted",)):
        if p.id in ids and (reasons := failed_checks(p, min_score=threshold)):
            held[reasons[0]] += 1
    if held:
        say(f"{sum(held.values())} of them still fail a check, so exports hold them back ({top_reasons(held)}); "
            "export --include-flagged REASON,... takes them anyway")


def _accept_passing(store, project_id: int, threshold: int, min_score: int | None, say: Say) -> None:
    chosen: list[int] = []
    left: Counter[str] = Counter()
    unjudged = 0
    for p in store.list_pairs(project_id, statuses=("generated",)):
        reasons = failed_checks(p, min_score=threshold if min_score is None else min_score)
        if reasons:
            left[reasons[0]] += 1
        elif min_score is not None and p.lowest_score is None:
            unjudged += 1
        else:
            chosen.append(p.id)
    store.change_status(chosen, "accepted")
    line = f"accepted {_count(len(chosen), 'pair')} that pass every check"
    if min_score is not None:
        line += f" and were judged {min_score} or more"
    rest = sum(left.values()) + unjudged
    if rest:
        parts = [top_reasons(left)] if left else []
        if unjudged:
            parts.append(f"not judged {unjudged}: run judge first")
        line += f"; {rest} left unreviewed ({', '.join(parts)})"
    say(line)


def report(args, store, out: Say) -> int:
    """Run ``report`` for parsed ``args``, writing its lines to ``out`` (stdout): per document its
    coverage line and what passed of the pairs not rejected
    (:class:`dataset_gen.run_report.DocumentQuality`), chunks without
    a usable pair, runs, the judge, and counts of statuses, types, kinds, origins and flags; the
    held-out split's counts once one was made, and the newest evaluation (:func:`_evaluation_lines`)."""
    project_id = store.project_id(args.project)
    if not store.read_only:
        with contextlib.suppress(StoreError):  # a full disk: report what is there all the same
            close_dead_runs(store, project_id)  # a run whose process died shows as interrupted, not running
            store.fill_flags(project_id)  # pairs made before the checks existed get theirs
    documents, uncovered = coverage(store, project_id)
    settings = store.get_settings(project_id)
    threshold = project_min_score(settings)
    chunk_states: dict[str, tuple[int, int]] = {}
    for c in store.list_chunks(project_id):
        done, failed = chunk_states.get(c.document, (0, 0))
        chunk_states[c.document] = (done + (c.gen_status == "done"), failed + (c.gen_status == "failed"))
    pairs = store.list_pairs(project_id, statuses=("generated", "accepted"))  # a rejected pair is decided
    quality = {q.document: q for q in tally(pairs, chunk_states, min_score=threshold)}
    for d in documents:
        out(f"{printable(d.document)}\t{d.covered}/{d.chunks} chunks covered\t{d.pairs} pairs\t{d.accepted} accepted"
            f"\t{d.skipped} skipped")
        if d.document in quality:
            out(f"  {quality[d.document].line()}")
    groups: dict[tuple[str, str], list] = {}
    for u in uncovered:
        groups.setdefault((u.document, u.reason), []).append(u)
    for (document, reason), chunks in groups.items():
        if len(chunks) <= 5:
            for u in chunks:
                out(f"uncovered: {printable(document)} chunk {u.ordinal} ({printable(' > '.join(u.heading_path)) or '-'}): "
                    f"{reason}")
        else:  # a run stopped half-way leaves hundreds: one line per document and reason
            out(f"uncovered: {printable(document)}: {len(chunks)} chunks: {reason} "
                f"(chunks {_ranges([u.ordinal for u in chunks])})")
    for run in store.list_runs(project_id):
        out(f"run {run.id}: {run.status}, {printable(run.model)}, started {run.started_at}, "
            f"{run.chunks_done}/{run.chunks_total} chunks done, {run.chunks_failed} failed")
    judged = sum(1 for p in pairs if p.lowest_score is not None)
    judge = printable(str(settings.get("judge_model") or "")) or "none"
    out(f"judge: {judge}, threshold {threshold}: {judged} of {_count(len(pairs), 'pair')} judged, "
        f"{sum(1 for p in pairs if p.lowest_score is not None and p.lowest_score < threshold)} below the threshold")
    for run in store.list_runs(project_id, kind="judge")[:1]:  # the newest judge run
        out(f"judge run {run.id}: {run.status}, {printable(run.model)}, {run.prompt_name} {run.prompt_version}, "
            f"started {run.started_at}, {run.pairs_judged}/{run.pairs_total} pairs judged, {run.pairs_failed} failed")
    counts = store.status_counts(project_id)
    out("status: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    types = {kind: store.count_pairs(project_id, question_type=kind) for kind in QUESTION_TYPES}
    out("types: " + ", ".join(f"{k} {v}" for k, v in types.items()))
    out("kinds: " + ", ".join(f"{k.value} {store.count_pairs(project_id, kind=k.value)}" for k in ItemKind))
    out("origins: " + ", ".join(f"{o.value} {store.count_pairs(project_id, origin=o.value)}" for o in Origin))
    splits = store.split_counts(project_id)  # accepted items per split
    if any(n for name, n in splits.items() if name != "none"):
        out("splits (accepted items): " + ", ".join(f"{k} {v}" for k, v in splits.items()))
    for line in _evaluation_lines(store, project_id):
        out(line)
    tags = store.tag_counts(project_id)  # items not rejected, per domain tag (see the tags command)
    if tags:
        out("tags: " + ", ".join(f"{printable(k)} {v}" for k, v in tags.items()))
    flags = {code: store.count_pairs(project_id, flag=code) for code in REASONS}
    flags["ungrounded"] = store.count_pairs(project_id, grounded=False, origin="document")  # no flag, but held back too
    out("flags: " + (", ".join(f"{label(code)} {n}" for code, n in flags.items() if n) or "none")
        + " (exports hold flagged pairs back unless --include-flagged names the reason)")
    out(f"duplicates {store.count_pairs(project_id, duplicate=True)}, "
        f"language mismatches {store.count_pairs(project_id, language_ok=False)}, "
        f"judged below {threshold}: {store.count_pairs(project_id, score_below=threshold)}")
    return 0


def _evaluation_lines(store, project_id: int) -> list[str]:
    """The project's newest evaluation, when it has one: its id, status, split and judge, then one
    line per model (in the evaluation's order) with ``n`` items scored and the mean score (1-5,
    two decimals; ``-`` when none is scored), as :func:`dataset_gen.evaluate_report.build_report`
    computes them for the Evaluate page and ``evaluate``."""
    evaluations = store.list_evaluations(project_id)  # newest first
    if not evaluations:
        return []
    evaluation = evaluations[0]
    report = build_report(store, evaluation.id)
    lines = [f"evaluation {evaluation.id}: {evaluation.status}, split {evaluation.split or 'all accepted'}, "
             f"judge {printable(evaluation.judge) or 'none (exact scores only)'}, context {evaluation.context}, "
             f"created {evaluation.created_at}"]
    for m in report["models"]:
        mean = "-" if m["mean"] is None else f"{m['mean']:.2f}"
        lines.append(f"  {printable(m['model'])}: n {m['n']}, mean {mean}")
    return lines


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0–2, 5, 7–8"``."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
