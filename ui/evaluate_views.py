"""The Evaluate page's result views: the table per model, answers side by side, and the blind A/B vote.

Every text from a document, a model or a person is shown as text (:func:`ui.safe.text_block`,
dataframes), never as Markdown or HTML. In the blind vote the two answers are shown as "Answer 1"
and "Answer 2" in an order fixed per item and pair of models (a seeded shuffle), and the models'
names are shown only after the vote, which is stored in ``arena_votes``.
"""

from __future__ import annotations

import hashlib
import itertools

import streamlit as st

from ui.i18n import t
from ui.safe import md_escape, text_block


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _interval(row: dict) -> str:
    return "—" if row["ci_low"] is None else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def results_table(report: dict) -> None:
    """Per model: n, mean, 95 % interval, win/tie/loss and win rate against the first model; then
    the means by question type and by document."""
    rows = []
    for m in report["models"]:
        vs = m["vs_first"]
        rows.append({t("eval.col.model"): m["model"], t("eval.col.n"): m["n"], t("eval.col.mean"): _num(m["mean"]),
                     t("eval.col.ci"): _interval(m),
                     t("eval.col.vs"): "—" if vs is None else f"{vs['wins']}/{vs['ties']}/{vs['losses']}",
                     t("eval.col.rate"): "—" if vs is None else _num(vs["rate"])})
    st.dataframe(rows, hide_index=True, key="eval_table")
    st.caption(t("eval.method", first=md_escape(report["models"][0]["model"])))
    for title, key in (("eval.by_type", "by_type"), ("eval.by_document", "by_document")):
        st.markdown(f"**{t(title)}**")
        st.dataframe([{t("eval.col.model"): m["model"], t("eval.col.group"): group, t("eval.col.n"): row["n"],
                       t("eval.col.mean"): _num(row["mean"]), t("eval.col.ci"): _interval(row)}
                      for m in report["models"] for group, row in m[key].items()], hide_index=True, key=f"eval_{key}")


def _item_label(item: dict) -> str:
    question = " ".join(item["question"].split())
    return f"#{item['pair_id']} · {question[:90]}"


def side_by_side(report: dict) -> None:
    """One item: its question, reference answer and source chunk, then every model's answer, score
    and reason in columns."""
    items = {i["pair_id"]: i for i in report["items"] if i["answers"]}
    if not items:
        st.info(t("eval.no_answers"))
        return
    chosen = st.selectbox(t("eval.item"), list(items), format_func=lambda k: _item_label(items[k]), key="eval_item")
    item = items[chosen]
    rows = [(t("eval.question"), item["question"]), (t("eval.reference"), item["reference"])]
    if item["choices"]:
        rows.append((t("eval.choices"), "\n".join(item["choices"])))
    st.html(text_block(rows, "eval-item"))
    columns = st.columns(len(item["answers"]))
    for column, answer in zip(columns, item["answers"], strict=True):
        score = "—" if answer["score"] is None else str(answer["score"])
        column.html(text_block([(t("eval.col.model"), answer["model"]), (t("eval.answer"), answer["answer"]),
                                (t("eval.score"), score), (t("eval.reason"), answer["reason"])], "eval-answer"))
    with st.expander(t("eval.source")):
        st.html(text_block([(item["document"], item["source"])], "eval-source"))


def sides(evaluation_id: int, pair_id: int, model_a: str, model_b: str) -> tuple[str, str]:
    """Which model's answer is "Answer 1" and which "Answer 2" for this item and pair of models: the
    lowest bit of the SHA-256 of all four, so it stays the same across reruns and differs between
    items (a blind order, not a secret)."""
    first, second = sorted((model_a, model_b))
    digest = hashlib.sha256(f"{evaluation_id}:{pair_id}:{first}:{second}".encode()).digest()
    return (first, second) if digest[0] % 2 == 0 else (second, first)


def blind_vote(store, report: dict, read_only: bool) -> None:
    """The blind A/B vote on the next item the person has not voted on for the chosen pair of
    models, the names revealed after the vote, and the tally per pair of models."""
    models = report["evaluation"]["models"]
    evaluation_id = report["evaluation"]["id"]
    if len(models) < 2:
        st.info(t("eval.need_two"))
        return
    pairs = list(itertools.combinations(models, 2))
    a, b = pairs[st.selectbox(t("eval.pair"), range(len(pairs)), key="eval_pair",
                              format_func=lambda i: f"{pairs[i][0]} · {pairs[i][1]}")]
    revealed = st.session_state.get("eval_revealed")
    if revealed:
        st.info(t("eval.revealed", item=revealed[0], left=md_escape(revealed[1]), right=md_escape(revealed[2])))
    voted = {p for p, x, y, _ in store.arena_votes(evaluation_id) if {x, y} == {a, b}}
    answers = {i["pair_id"]: {x["model"]: x["answer"] for x in i["answers"]} for i in report["items"]}
    waiting = [i for i in report["items"] if i["pair_id"] not in voted and {a, b} <= answers[i["pair_id"]].keys()]
    if not waiting:
        st.info(t("eval.all_voted"))
    else:
        item = waiting[0]
        left, right = sides(evaluation_id, item["pair_id"], a, b)
        st.caption(t("eval.left", n=len(waiting)))
        st.html(text_block([(t("eval.question"), item["prompt"]), (t("eval.reference"), item["reference"])],
                           "blind-item"))
        one, two = st.columns(2)
        one.html(text_block([(t("eval.answer1"), answers[item["pair_id"]][left])], "blind-answer-1"))
        two.html(text_block([(t("eval.answer2"), answers[item["pair_id"]][right])], "blind-answer-2"))
        buttons = st.columns(3)
        for column, (winner, label) in zip(buttons, (("a", "eval.vote1"), ("tie", "eval.tie"), ("b", "eval.vote2")),
                                           strict=True):
            if column.button(t(label), key=f"vote_{winner}", disabled=read_only):
                store.add_arena_vote(evaluation_id, item["pair_id"], left, right, winner)
                st.session_state["eval_revealed"] = (item["pair_id"], left, right)
                st.rerun()
    tally = report["votes"]
    if tally:
        st.markdown(f"**{t('eval.votes')}**")
        st.dataframe([{t("eval.col.model_a"): v["model_a"], t("eval.col.model_b"): v["model_b"],
                       t("eval.col.a_wins"): v["a_wins"], t("eval.col.ties"): v["ties"],
                       t("eval.col.b_wins"): v["b_wins"]} for v in tally], hide_index=True, key="eval_votes")
