"""A balanced export: at most N items per domain tag, chosen by a seed.

Items are grouped by their tag (``qa_pairs.tag_id``; items without a tag form one group,
"untagged"). A group of more than N items keeps the N drawn by ``random.Random(f"{seed}:{group}")``
(:meth:`random.Random.sample` over the group's items in id order), so the same seed and the same
items always give the same records, whatever the other groups hold; the kept items stay in their
original order.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TypeVar

from .models import StoredPair

P = TypeVar("P", bound=StoredPair)

UNTAGGED = "untagged"
"""The name of the group of items without a tag."""


def balance(pairs: Sequence[P], tags: Mapping[int, int | None], per_tag: int, seed: int = 0) -> list[P]:
    """The items of ``pairs`` kept when each tag keeps at most ``per_tag`` (see the module
    docstring); ``tags`` maps pair id → tag id (missing or ``None``: untagged).

    :raises ValueError: ``per_tag`` below 1.
    """
    if per_tag < 1:
        raise ValueError(f"--balance keeps at least 1 item per tag, not {per_tag}")
    groups: dict[str, list[int]] = {}
    for pair in pairs:
        tag = tags.get(pair.id)
        groups.setdefault(UNTAGGED if tag is None else str(tag), []).append(pair.id)
    kept: set[int] = set()
    for name, ids in groups.items():
        ordered = sorted(ids)
        kept.update(ordered if len(ordered) <= per_tag else random.Random(f"{seed}:{name}").sample(ordered, per_tag))  # noqa: S311 (reproducible, not secret)
    return [p for p in pairs if p.id in kept]


def group_counts(pairs: Sequence[StoredPair], tags: Mapping[int, int | None],
                 names: Mapping[int, str]) -> dict[str, int]:
    """Items per tag name (``names``: tag id → path), ``"untagged"`` for the rest, most first."""
    counts: dict[str, int] = {}
    for pair in pairs:
        tag = tags.get(pair.id)
        name = names.get(tag, UNTAGGED) if tag is not None else UNTAGGED
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
