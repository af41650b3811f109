"""Held-out splits: every accepted item goes to ``train``, ``validation`` or ``test`` so that no
chunk (or, by document, no document) is in two splits.

An item's group is the chunks it rests on: its own chunk and its ``context_chunk_ids`` (a
comparison rests on two chunks). Items that share a chunk are linked, and linking is transitive
(union-find), so a multi-hop item pulls both its chunks, and every item of those chunks, into one
split. With ``by="document"`` the documents of those chunks link instead. An item with no chunk
(origin ``model`` or ``examples``) is a group of its own.

Assignments are stable: an item that has a split keeps it; a new item whose group already has a
split joins it; only groups with no split at all are placed: largest first (groups of one size
in an order shuffled by ``seed`` with :class:`random.Random`, so the same store and seed give the
same split), each to the split that leaves the counts closest to their shares (least squares; ties
go test, validation, train; shares are the ``test`` and ``validation`` fractions of all accepted
items, the rest ``train``). A new item that links groups already in two different splits cannot join either
without a chunk crossing splits: it is left unassigned and counted in :attr:`SplitReport.blocked`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from .store_splits import SPLITS, SplitItem

__all__ = ["BY", "SPLITS", "SplitReport", "assign", "check_fraction", "shortfall", "split_project"]

BY = ("chunk", "document")
"""What no two splits may share: a chunk (default) or a document."""


def check_fraction(name: str, value: float) -> float:
    """``value`` when it is a fraction from 0 to 1 (both included).

    :raises ValueError: it is not, in one line naming the option (``--test 1.5 is not a fraction
        from 0 to 1: write e.g. 0.1 for 10%``).
    """
    if not 0.0 <= value <= 1.0 or value != value:  # NaN fails both
        raise ValueError(f"{name} {value:g} is not a fraction from 0 to 1: write e.g. 0.1 for 10%")
    return value


@dataclass(frozen=True)
class SplitReport:
    """What :func:`split_project` did: ``assigned`` new items got a split (``joined`` of them went
    to the split their chunk already had); ``kept`` items had one already; ``blocked`` new items
    link chunks already in two different splits and were left unassigned; ``counts`` are the
    accepted items per split afterwards (keys of :data:`SPLITS` and ``"none"``); ``groups`` is
    how many independent groups the accepted items form (items of one group share a split)."""

    assigned: int
    joined: int
    kept: int
    blocked: int
    counts: dict[str, int]
    groups: int = 0


class _Groups:
    """Union-find over hashable keys (path halving)."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, keys: Iterable) -> None:
        keys = list(keys)
        root = self.find(keys[0])
        for key in keys[1:]:
            other = self.find(key)
            if other != root:
                self.parent[other] = root


def _keys(item: SplitItem, by: str) -> list:
    own = item.documents if by == "document" else item.chunks
    return [(by, k) for k in own] or [("item", item.id)]


def _error(counts: dict[str, int], share: dict[str, float], split: str, size: int) -> float:
    """How far the counts are from their shares (sum of squares) once ``size`` items go to ``split``."""
    return sum((counts[s] + (size if s == split else 0) - share[s]) ** 2 for s in share)


def assign(items: list[SplitItem], *, test: float, validation: float = 0.0, by: str = "chunk",
           seed: int = 0) -> tuple[dict[int, str], SplitReport]:
    """The new assignments (item id → split) for the accepted items of ``items`` that have none,
    and the report; see the module docstring for the rules. Items of any status that already have
    a split count as taken (their chunks stay in that split); only accepted items are assigned.

    :raises ValueError: a fraction outside 0–1, ``test + validation`` above 1, or an unknown ``by``.
    """
    check_fraction("--test", test)
    check_fraction("--validation", validation)
    if test + validation > 1.0:
        raise ValueError(f"--test {test:g} and --validation {validation:g} add up to more than 1: "
                         "leave some items for train")
    if by not in BY:
        raise ValueError(f"--by {by!r} is not one of {', '.join(BY)}")
    groups = _Groups()
    for item in items:
        groups.union(_keys(item, by))
    taken: dict = {}  # root -> set of splits its items already have
    for item in items:
        if item.split is not None:
            taken.setdefault(groups.find(_keys(item, by)[0]), set()).add(item.split)
    counts = {name: 0 for name in SPLITS}
    for item in items:
        if item.status == "accepted" and item.split in counts:
            counts[item.split] += 1
    new = [i for i in items if i.status == "accepted" and i.split is None]
    kept = sum(counts.values())
    total = kept + len(new)
    share = {"test": test * total, "validation": validation * total, "train": (1.0 - test - validation) * total}
    chosen: dict[int, str] = {}
    joined = blocked = 0
    fresh: dict = {}  # root -> its new items, for groups with no split yet
    for item in new:
        root = groups.find(_keys(item, by)[0])
        have = taken.get(root, set())
        if len(have) > 1:
            blocked += 1
        elif have:
            chosen[item.id] = next(iter(have))
            counts[chosen[item.id]] += 1
            joined += 1
        else:
            fresh.setdefault(root, []).append(item)
    order = sorted(fresh, key=lambda root: min(i.id for i in fresh[root]))
    random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible draw, not a secret
    order.sort(key=lambda root: -len(fresh[root]))  # largest groups first; the draw orders equal sizes
    for root in order:
        members = fresh[root]
        split = min(("test", "validation", "train"), key=lambda s: _error(counts, share, s, len(members)))
        for item in members:
            chosen[item.id] = split
        counts[split] += len(members)
    accepted = {groups.find(_keys(i, by)[0]) for i in items if i.status == "accepted"}
    return chosen, SplitReport(len(chosen), joined, kept, blocked, {**counts, "none": blocked}, len(accepted))


def shortfall(report: SplitReport, *, test: float, validation: float = 0.0, by: str = "chunk") -> str | None:
    """One line saying why a split asked for (fraction above 0) got no item or is far from its
    share (more than half of it off), e.g. ``only 3 independent groups (items that share a chunk
    stay together): validation could not get 10 %``; ``None`` when every split is near its share.
    Shares are of the accepted items that have a split (``report.counts``)."""
    total = sum(report.counts[s] for s in SPLITS)
    short = [(name, fraction) for name, fraction in (("validation", validation), ("test", test))
             if fraction > 0 and (report.counts[name] == 0 or abs(report.counts[name] - fraction * total) > fraction * total / 2)]
    if not short or total == 0:
        return None
    wanted = " and ".join(f"{name} could not get {fraction * 100:g} %" for name, fraction in short)
    return (f"only {report.groups} independent groups (items that share a {by} stay together): {wanted}")


def split_project(store, project_id: int, *, test: float, validation: float = 0.0, by: str = "chunk",
                  seed: int = 0) -> SplitReport:
    """Assign the project's accepted items that have no split yet (:func:`assign`) and save them
    (:meth:`dataset_gen.store_splits.SplitMethods.set_splits`, one transaction).

    :raises ValueError: as :func:`assign`.
    :raises StoreError: the store failed (nothing is saved).
    """
    chosen, report = assign(store.split_items(project_id), test=test, validation=validation, by=by, seed=seed)
    store.set_splits(project_id, chosen)
    counts = store.split_counts(project_id)
    return SplitReport(report.assigned, report.joined, report.kept, report.blocked, counts, report.groups)
