"""The export gate: which stored pairs an export holds back by default, and why.

A pair is held back when it was rejected, fails a check of :mod:`dataset_gen.checks` (its
``flags``), is ungrounded (its evidence was not found in its chunk; items with no source chunk,
distilled or written from examples, have no evidence to look for and skip this rule), a judge scored it below the
threshold on any measure, or, for fine-tuning, it is an unanswerable question or a near-duplicate
of a kept pair. A person takes such pairs anyway by naming the reasons (``--include-flagged
placeholder,ungrounded`` in the CLI, a multiselect in the app). Each held-back pair is counted
once, under its first reason in :data:`HOLD_REASONS` order that was not let through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from .checks import REASONS
from .config import ProjectConfig
from .models import StoredPair

HOLD_REASONS: dict[str, str] = {
    "rejected": "a person rejected the pair",
    **REASONS,
    "ungrounded": "the evidence was not found in the chunk",
    "low_score": "a judge scored the pair below the threshold",
    "unanswerable": "an unanswerable question (kept for RAG evaluation, not fine-tuning)",
    "near_duplicate": "a near-duplicate of a kept pair",
}
"""Every reason an export holds a pair back → one line, in the order they are counted."""


def hold_reasons(pair: StoredPair, *, min_score: int | None = None, training: bool = True) -> list[str]:
    """The reasons of :data:`HOLD_REASONS` that hold ``pair`` back, in that order. ``min_score``
    ``None`` applies no score rule; unjudged pairs pass it. With ``training`` ``False`` (a RAG
    set) unanswerable questions are not held back."""
    found = ["rejected"] if pair.status == "rejected" else []
    found += [code for code in REASONS if code in pair.flags]
    if not pair.grounded and pair.chunk_id is not None:  # an item with no source has nothing to ground in
        found.append("ungrounded")
    lowest = pair.lowest_score
    if min_score is not None and lowest is not None and lowest < min_score:
        found.append("low_score")
    if training and pair.question_type == "unanswerable":
        found.append("unanswerable")
    if pair.duplicate_of is not None:
        found.append("near_duplicate")
    return found


def check_reasons(names: Collection[str]) -> frozenset[str]:
    """``names`` as a set of reason codes; a label with spaces (``"trivial evidence"``) is read as
    its code.

    :raises ValueError: a name that is not a reason, with the list of reasons.
    """
    codes = frozenset(name.strip().replace(" ", "_") for name in names if name.strip())
    unknown = sorted(codes - set(HOLD_REASONS))
    if unknown:
        raise ValueError(f"Unknown reason {', '.join(unknown)}: choose from {', '.join(HOLD_REASONS)}")
    return codes


def hold_back(
    pairs: Sequence[StoredPair],
    *,
    include: Collection[str] = (),
    min_score: int | None = None,
    training: bool = True,
) -> tuple[list[StoredPair], Counter[str]]:
    """``(kept pairs in order, held-back count per reason)``: a pair is kept when every reason of
    :func:`hold_reasons` is in ``include``; else it counts once, under its first other reason.

    :raises ValueError: ``include`` names an unknown reason (see :func:`check_reasons`).
    """
    allowed = check_reasons(include)
    kept: list[StoredPair] = []
    held: Counter[str] = Counter()
    for pair in pairs:
        blocking = [r for r in hold_reasons(pair, min_score=min_score, training=training) if r not in allowed]
        if blocking:
            held[blocking[0]] += 1
        else:
            kept.append(pair)
    return kept, held


def label(code: str) -> str:
    """A reason code as a person reads it in a summary: ``trivial_evidence`` → ``trivial evidence``."""
    return code.replace("_", " ")


def summary(held: Counter[str]) -> str:
    """``"held back 12 items: placeholder 5, ungrounded 4, trivial evidence 3"`` (most first, then
    in :data:`HOLD_REASONS` order); ``""`` when nothing was held back."""
    total = sum(held.values())
    if not total:
        return ""
    order = list(HOLD_REASONS)
    parts = sorted((code for code in held if held[code]),
                   key=lambda c: (-held[c], order.index(c) if c in order else len(order)))
    noun = "item" if total == 1 else "items"
    return f"held back {total} {noun}: " + ", ".join(f"{label(c)} {held[c]}" for c in parts)


QUALITY_REASONS = tuple(code for code in HOLD_REASONS if code != "rejected")
"""The reasons of :data:`HOLD_REASONS` that are about the pair itself, not a person's decision."""


def failed_checks(pair: StoredPair, *, min_score: int | None = None) -> list[str]:
    """The reasons of :data:`QUALITY_REASONS` that hold ``pair`` back from a RAG export (flags,
    ungrounded, a judge's score below ``min_score``, near-duplicate), in that order; ``[]`` when the
    pair passes every check. A person's rejection is not a check; an unanswerable question passes
    (fine-tuning exports still hold it back by its type)."""
    return [r for r in hold_reasons(pair, min_score=min_score, training=False) if r != "rejected"]


def project_min_score(settings: dict | None) -> int:
    """The judge threshold (1–5) a project records (``ProjectConfig.judge_threshold``, default 3):
    every export holds back pairs a judge scored below it; unjudged pairs pass."""
    return ProjectConfig.load(settings).judge_threshold


def top_reasons(counts: Counter[str], limit: int = 3) -> str:
    """``"trivial evidence 6, wrong language 3"``: the ``limit`` most frequent reasons (ties in
    :data:`HOLD_REASONS` order) with their counts, then ``", 2 more reasons"`` when some are left
    out; ``""`` for no reasons."""
    order = list(HOLD_REASONS)
    codes = sorted((c for c in counts if counts[c]),
                   key=lambda c: (-counts[c], order.index(c) if c in order else len(order)))
    text = ", ".join(f"{label(c)} {counts[c]}" for c in codes[:limit])
    rest = len(codes) - limit
    if rest > 0:
        text += f", {rest} more reason{'s' if rest > 1 else ''}"
    return text
