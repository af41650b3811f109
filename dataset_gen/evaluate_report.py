"""An evaluation's results: per-model figures (:func:`build_report`), the CLI's table (:func:`table_lines`),
and the files ``REPORT.json`` (every answer and score) and ``REPORT.html`` (self-contained).

The HTML page needs no network: one inline style, inline SVG charts of each model's mean with its
95 % interval as a bar and whisker, no script, a Content-Security-Policy that forbids fetching
anything; every text from a document, a model or a person is escaped (:func:`html.escape`).
Statistics are those of :mod:`dataset_gen.evaluate_stats` (Student t intervals; win rates paired
per question against the first model).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .errors import ExportError
from .evaluate import scope, source_text
from .evaluate_stats import MeanCI, breakdown, mean_ci, paired
from .export_records import prompt

METHOD = ("mean score 1-5 with a 95% Student t interval (mean ± t(0.975, n-1)·s/√n); win/tie/loss paired "
          "per question against the first model; choice items scored exactly (5 right, 1 wrong)")
NO_DOCUMENT = "(no document)"


def _ci(stat: MeanCI) -> dict:
    return {"n": stat.n, "mean": stat.mean, "ci_low": stat.low, "ci_high": stat.high}


def item_type(item) -> str:
    """The breakdown group of an item: ``choice`` for a choice item, else its question type."""
    return "choice" if item.kind == "choice" else item.question_type


def build_report(store, evaluation_id: int) -> dict:
    """Everything about an evaluation as plain data (what ``REPORT.json`` holds):
    ``evaluation`` (its settings), ``method``, ``models`` (per model, in the evaluation's order:
    ``n`` scored, ``mean``, ``ci_low``, ``ci_high``, ``answered``, ``vs_first`` = wins/ties/losses/
    rate against the first model or ``None`` for it, ``by_type`` and ``by_document`` = group →
    n/mean/ci_low/ci_high), ``votes`` (blind votes tallied per pair of models) and ``items`` (each
    item in scope with its ``question``, its ``prompt`` as a candidate sees it (a choice item's
    question with its options as ``A. …`` lines, :func:`dataset_gen.export_records.prompt`), its
    reference, source and every model's answer, score and reason).

    :raises StoreError: no such evaluation.
    """
    evaluation = store.get_evaluation(evaluation_id)
    items = {p.id: p for p in scope(store, evaluation.project_id, evaluation.split)}
    answers = [a for a in store.eval_answers(evaluation_id) if a.pair_id in items]
    scores = {m: {a.pair_id: a.score for a in answers if a.model == m and a.score is not None}
              for m in evaluation.models}
    first = evaluation.models[0]
    models = []
    for model in evaluation.models:
        mine = scores[model]
        vs = paired(scores[first], mine) if model != first else None
        models.append({
            "model": model, **_ci(mean_ci(mine.values())),
            "answered": sum(1 for a in answers if a.model == model),
            "vs_first": None if vs is None else {"wins": vs.wins, "ties": vs.ties, "losses": vs.losses, "rate": vs.rate},
            "by_type": {k: _ci(v) for k, v in breakdown((item_type(items[i]), s) for i, s in mine.items()).items()},
            "by_document": {k: _ci(v) for k, v in breakdown(
                (items[i].document or NO_DOCUMENT, s) for i, s in mine.items()).items()},
        })
    tally: dict[tuple[str, str], dict[str, int]] = {}
    for _pair, a, b, winner in store.arena_votes(evaluation_id):
        (x, y), flip = (sorted((a, b)), a > b)
        counts = tally.setdefault((x, y), {"first": 0, "second": 0, "tie": 0})
        won = "tie" if winner == "tie" else ("first" if (winner == "a") != flip else "second")
        counts[won] += 1
    by_item: dict[int, list] = {}
    for a in answers:
        by_item.setdefault(a.pair_id, []).append({
            "model": a.model, "answer": a.answer, "score": a.score, "reason": a.reason,
            "prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens, "duration_s": a.duration_s})
    return {
        "evaluation": {"id": evaluation.id, "models": list(evaluation.models), "judge": evaluation.judge,
                       "context": evaluation.context, "split": evaluation.split, "status": evaluation.status,
                       "created_at": evaluation.created_at},
        "method": METHOD,
        "models": models,
        "votes": [{"model_a": x, "model_b": y, "a_wins": c["first"], "b_wins": c["second"], "ties": c["tie"]}
                  for (x, y), c in sorted(tally.items())],
        "items": [{"pair_id": p.id, "question": p.question, "prompt": prompt(p), "reference": p.answer, "choices": list(p.choices),
                   "kind": p.kind, "question_type": item_type(p), "document": p.document or NO_DOCUMENT,
                   "source": source_text(p), "answers": by_item.get(p.id, [])} for p in items.values()],
    }


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(row: dict) -> str:
    return "-" if row["ci_low"] is None else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def table_lines(report: dict) -> list[str]:
    """The CLI's tables: one row per model (n, mean, 95 % interval, win/tie/loss and win rate
    against the first model), then each model's means by question type and by document."""
    models = report["models"]
    width = max(12, *(len(m["model"]) for m in models))
    first = models[0]["model"]
    versus_head = f"vs {first}: win/tie/loss"
    lines = [f"{'model':<{width}}  {'n':>4}  {'mean':>6}  {'95% CI':<17}  {versus_head}  win rate"]
    for m in models:
        vs = m["vs_first"]
        versus = "-" if vs is None else f"{vs['wins']}/{vs['ties']}/{vs['losses']}"
        rate = "-" if vs is None else _num(vs["rate"])
        lines.append(f"{m['model']:<{width}}  {m['n']:>4}  {_num(m['mean']):>6}  {_interval(m):<17}  "
                     f"{versus:>{len(versus_head)}}  {rate:>8}")
    for title, key in (("by question type", "by_type"), ("by document", "by_document")):
        lines.append(f"{title}:")
        for m in models:
            for group, row in m[key].items():
                lines.append(f"  {m['model']} | {group}: n {row['n']}, mean {_num(row['mean'])} {_interval(row)}")
    for v in report["votes"]:
        lines.append(f"blind votes {v['model_a']} vs {v['model_b']}: {v['a_wins']}/{v['ties']}/{v['b_wins']} "
                     "(win/tie/loss)")
    lines.append(f"method: {report['method']}")
    return lines


def write_report(report: dict, path: Path) -> Path:
    """Write ``report`` as ``.json`` (indented UTF-8) or ``.html`` (:func:`html_report`).

    :raises ExportError: another suffix, or the file cannot be written (one line naming it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".html"):
        raise ExportError(f"{path}: a report is .json or .html")
    text = json.dumps(report, ensure_ascii=False, indent=2) if suffix == ".json" else html_report(report)
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return path


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _chart(rows: list[tuple[str, dict]], title: str) -> str:
    """An SVG chart of means (bars) with their 95 % intervals (whiskers) on the 1–5 scale's 0–5 axis."""
    bar_h, left, width = 22, 170, 360
    height = 30 + bar_h * len(rows)
    x = lambda v: left + max(0.0, min(5.0, v)) / 5.0 * width  # noqa: E731  (the whisker is clipped to 0–5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" height="{height}" role="img">',
             f"<title>{_e(title)}</title>"]
    for tick in range(6):
        parts.append(f'<line x1="{x(tick):.1f}" y1="0" x2="{x(tick):.1f}" y2="{height - 18}" stroke="#ddd"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 4}" font-size="11" text-anchor="middle">{tick}</text>')
    for i, (label, row) in enumerate(rows):
        y = 4 + i * bar_h
        parts.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{_e(label[:28])}</text>')
        if row["mean"] is None:
            continue
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{x(row["mean"]) - left:.1f}" height="{bar_h - 8}" '
                     f'fill="#6b8fd6"><title>{_e(label)}: {_num(row["mean"])}</title></rect>')
        if row["ci_low"] is not None:
            lo, hi, mid = x(row["ci_low"]), x(row["ci_high"]), y + bar_h / 2 - 1
            parts.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="#222"/>'
                         f'<line x1="{lo:.1f}" y1="{mid - 5}" x2="{lo:.1f}" y2="{mid + 5}" stroke="#222"/>'
                         f'<line x1="{hi:.1f}" y1="{mid - 5}" x2="{hi:.1f}" y2="{mid + 5}" stroke="#222"/>')
        parts.append(f'<text x="{x(5) + 6}" y="{y + 14}" font-size="11">{_num(row["mean"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(report: dict) -> str:
    """A self-contained HTML page of ``report`` (:func:`build_report`); every text escaped."""
    ev = report["evaluation"]
    out = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           f"<title>Evaluation {_e(ev['id'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
           "vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}"
           ".text{overflow-wrap:anywhere;white-space:pre-wrap}</style></head><body>",
           f"<h1>Evaluation {_e(ev['id'])}</h1>",
           f"<p>models: {_e(', '.join(ev['models']))}; judge: {_e(ev['judge'] or '(none: exact scoring)')}; "
           f"context: {_e(ev['context'])}; split: {_e(ev['split'] or 'all accepted items')}; "
           f"status: {_e(ev['status'])}</p>",
           f"<p>{_e(report['method'])}</p>",
           _chart([(m["model"], m) for m in report["models"]], "mean score per model"),
           "<table><tr><th>model</th><th>n</th><th>mean</th><th>95% CI</th><th>win/tie/loss vs first</th>"
           "<th>win rate</th></tr>"]
    for m in report["models"]:
        vs = m["vs_first"]
        versus = "-" if vs is None else "{wins}/{ties}/{losses}".format(**vs)
        out.append(f"<tr><td>{_e(m['model'])}</td><td>{m['n']}</td><td>{_num(m['mean'])}</td><td>{_interval(m)}</td>"
                   f"<td>{versus}</td>"
                   f"<td>{'-' if vs is None else _num(vs['rate'])}</td></tr>")
    out.append("</table>")
    for title, key in (("By question type", "by_type"), ("By document", "by_document")):
        out.append(f"<h2>{title}</h2>")
        for m in report["models"]:
            out.append(f"<h3>{_e(m['model'])}</h3>")
            out.append(_chart(list(m[key].items()), f"{title}: {m['model']}"))
    out.append("<h2>Answers</h2><table><tr><th>question</th><th>reference</th><th>model</th><th>answer</th>"
               "<th>score</th><th>reason</th></tr>")
    for item in report["items"]:
        rows = item["answers"] or [{"model": "", "answer": "", "score": None, "reason": ""}]
        for i, a in enumerate(rows):
            head = (f'<td rowspan="{len(rows)}" class="text">{_e(item.get("prompt", item["question"]))}</td>'
                    f'<td rowspan="{len(rows)}" class="text">{_e(item["reference"])}</td>') if i == 0 else ""
            out.append(f"<tr>{head}<td>{_e(a['model'])}</td><td class=\"text\">{_e(a['answer'])}</td>"
                       f"<td>{'-' if a['score'] is None else a['score']}</td><td class=\"text\">{_e(a['reason'])}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)
