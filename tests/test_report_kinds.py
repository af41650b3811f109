"""``report`` on a project holding every kind of item: counts per kind and per origin, the held-out
split's counts once one was made, and the newest evaluation's models with n and mean. Through the
real CLI ``main([...])`` and a real SQLite store."""

from __future__ import annotations

from dataset_gen.cli import main
from tests.kinds_fixtures import kinds_project


def _report(tmp_path, capsys) -> list[str]:
    assert main(["--data-dir", str(tmp_path), "report"]) == 0
    return capsys.readouterr().out.splitlines()


def _lines_from(out: list[str], start: str) -> list[str]:
    first = next(i for i, line in enumerate(out) if line.startswith(start))
    return out[first:]


def test_report_counts_kinds_and_origins_without_split_or_evaluation(tmp_path, capsys):
    store, _, _ = kinds_project(tmp_path)
    store.close()
    out = _report(tmp_path, capsys)
    assert _lines_from(out, "kinds: ")[:2] == ["kinds: qa 2, conversation 1, choice 1",
                                               "origins: document 2, model 1, examples 1"]
    assert not [line for line in out if line.startswith(("splits", "evaluation", "  base"))]


def test_report_shows_the_split_and_the_newest_evaluation(tmp_path, capsys):
    store, project_id, ids = kinds_project(tmp_path)
    store.set_status(list(ids.values()), "accepted")
    store.set_splits(project_id, {ids["choice"]: "test", ids["model"]: "test", ids["examples"]: "train"})
    older = store.create_evaluation(project_id, ["old"], "", "none", None)
    store.save_eval_answer(older, ids["choice"], "old", "A")
    store.save_eval_score(older, ids["choice"], "old", 1, "wrong")
    newest = store.create_evaluation(project_id, ["base", "tuned:latest"], "qwen2.5:7b", "none", "test")
    for model, scores in (("base", (1, 4)), ("tuned:latest", (5, 4))):
        for pair_id, score in zip((ids["choice"], ids["model"]), scores, strict=True):
            store.save_eval_answer(newest, pair_id, model, "an answer")
            store.save_eval_score(newest, pair_id, model, score, "scored")
    store.save_eval_answer(newest, ids["model"], "base", "answered again, not scored yet")  # clears its score
    store.set_evaluation_state(newest, "finished")
    created = store.get_evaluation(newest).created_at
    store.close()
    out = _report(tmp_path, capsys)
    assert _lines_from(out, "kinds: ")[:6] == [
        "kinds: qa 2, conversation 1, choice 1",
        "origins: document 2, model 1, examples 1",
        "splits (accepted items): train 1, validation 0, test 2, none 1",
        f"evaluation {newest}: finished, split test, judge qwen2.5:7b, context none, created {created}",
        "  base: n 1, mean 1.00",
        "  tuned:latest: n 2, mean 4.50",
    ]
