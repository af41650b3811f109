"""A domain tag tree: read and write the JSON a person edits, build one from the documents'
headings with the model, and tag every item in batches.

The JSON file is a list of top-level tags, each ``{"name": "...", "children": ["...", ...]}``
(``tags --show`` prints it; ``tags --load FILE`` stores an edited one). The tree is built with one
call per batch of documents (``tag_tree`` template: their heading paths, at most
:data:`HEADINGS_PER_CALL` characters a call), the trees of several batches merged by name; items
are tagged with one call per :data:`ITEMS_PER_CALL` items (``tag_items``: numbered leaf tags and
numbered questions, the reply ``{"assignments": [{"item": n, "tag": m}]}``). Both are one run of
kind ``tag`` with the token counts of every call.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .asking import Asker, Cancelled, compact
from .backends.json_reply import json_problem
from .models import SamplingOptions
from .prompts import fence_tag, load_prompt
from .store_tags import TagRow, Tree

HEADINGS_PER_CALL = 6000
"""Characters of heading paths sent in one ``tag_tree`` call (documents are batched up to it)."""
ITEMS_PER_CALL = 20
"""Items sent in one ``tag_items`` call."""
QUESTION_CHARS = 300
"""Characters of a question shown to the tagger."""

TREE_SCHEMA = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"type": "string"}}},
        "required": ["name", "children"]}}},
    "required": ["tags"],
}
"""JSON schema of a tag tree reply (``distill_tags`` and ``tag_tree``)."""
TREE_SHAPE = 'an object with a "tags" list of objects, each with a "name" string and a "children" list of strings'

ASSIGN_SCHEMA = {
    "type": "object",
    "properties": {"assignments": {"type": "array", "items": {
        "type": "object", "properties": {"item": {"type": "integer"}, "tag": {"type": "integer"}},
        "required": ["item", "tag"]}}},
    "required": ["assignments"],
}
ASSIGN_SHAPE = 'an object with an "assignments" list of objects, each with the numbers "item" and "tag"'


MAX_TAG_CHARS = 80
"""The longest tag name, in characters: a tag labels a domain in a filter and a chart."""


def _name(text: str, where: str) -> str:
    """``text`` as a tag name: control and format characters removed, whitespace runs one space.

    :raises ValueError: longer than :data:`MAX_TAG_CHARS` characters.
    """
    name = "".join(ch for ch in " ".join(text.split()) if unicodedata.category(ch) not in ("Cc", "Cf"))
    if len(name) > MAX_TAG_CHARS:
        raise ValueError(f"{where}: a name of {len(name)} characters; keep tag names to {MAX_TAG_CHARS}")
    return name


def parse_tree(value: object) -> Tree:
    """A :data:`Tree` from JSON ``value``: a list (or ``{"tags": list}``) of ``{"name",
    "children"}`` objects; names cleaned (:func:`_name`), blank ones dropped, a repeated top-level
    name merged.

    :raises ValueError: not that shape, a name too long, or no tag in it (saying which names were blank).
    """
    items = value.get("tags") if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise ValueError('the tag tree is not a list of {"name", "children"} objects')
    merged: dict[str, list[str]] = {}
    blank: list[str] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f'tag {n} is not an object with a "name" string')
        children = item.get("children", [])
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise ValueError(f'tag {n} ("{item["name"]}"): "children" is not a list of strings')
        name = _name(item["name"], f"tag {n}")
        if not name:
            blank.append(f"tag {n}")
            continue
        kept = merged.setdefault(name, [])
        for m, child in enumerate(children, start=1):
            cleaned = _name(child, f'tag {n} ("{name}"), child {m}')
            if cleaned and cleaned not in kept:
                kept.append(cleaned)
    if not merged:
        raise ValueError("the tag tree holds no tag" + (f" ({', '.join(blank)}: an empty name)" if blank else ""))
    return list(merged.items())


def tree_to_json(tree: Tree) -> str:
    """The JSON text a person edits: one ``{"name", "children"}`` object per top-level tag, indented."""
    return json.dumps([{"name": name, "children": children} for name, children in tree], ensure_ascii=False, indent=2)


def tree_from_file(path: Path) -> Tree:
    """The tree in the JSON file at ``path`` (:func:`tree_to_json`'s shape).

    :raises ValueError: unreadable, not JSON, or not a tag tree: one line naming the file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the tag tree ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return parse_tree(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({json_problem(exc)} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def leaves(rows: list[TagRow]) -> list[TagRow]:
    """The tags items are given: every child, and every top-level tag without children."""
    parents = {r.parent_id for r in rows if r.parent_id is not None}
    return [r for r in rows if r.parent_id is not None or r.id not in parents]


def render_tree(rows: list[TagRow], counts: dict[str, int] | None = None) -> list[str]:
    """The tree as lines for a terminal: ``"name"`` at the top, ``"  - child"`` under it, each with
    ``" (N)"`` items when ``counts`` (path → items) is given (a top-level tag: its own and its
    children's)."""
    lines = []
    for r in rows:
        total = None if counts is None else counts.get(r.path, 0) + (
            sum(counts.get(c.path, 0) for c in rows if c.parent_id == r.id) if r.parent_id is None else 0)
        count = f" ({total})" if total is not None else ""
        lines.append(f"{r.name}{count}" if r.parent_id is None else f"  - {r.name}{count}")
    return lines


def heading_batches(store, project_id: int, limit: int = HEADINGS_PER_CALL) -> list[str]:
    """The documents' heading paths (``"doc: A > B"`` lines, each distinct path once, documents in
    order) cut into batches of at most ``limit`` characters, a document never split unless it
    alone is longer."""
    by_document: dict[str, list[str]] = {}
    for chunk in store.list_chunks(project_id):
        if chunk.heading_path:
            lines = by_document.setdefault(chunk.document, [])
            line = f"{chunk.document}: {' > '.join(chunk.heading_path)}"
            if line not in lines:
                lines.append(line)
    batches: list[str] = []
    current: list[str] = []
    for lines in by_document.values():
        text = "\n".join(lines)
        if current and len("\n".join(current)) + len(text) + 1 > limit:
            batches.append("\n".join(current))
            current = []
        current.extend(lines)
        while len("\n".join(current)) > limit and len(current) > 1:
            cut = max(1, len(current) // 2)
            batches.append("\n".join(current[:cut]))
            current = current[cut:]
    if current:
        batches.append("\n".join(current))
    return batches


@dataclass
class TagSummary:
    """Outcome of :func:`build_domain_tree` / :func:`tag_items`: ``run_id``, the tree's tags,
    items tagged, items left untagged (the model gave no usable tag), and the calls made."""

    run_id: int
    tags: int = 0
    tagged: int = 0
    untagged: int = 0
    calls: int = 0
    prompt_tokens: int = 0


def build_domain_tree(store, project_id: int, asker: Asker, count: int = 8) -> Tree:
    """Ask for a tag tree from the project's headings (one call per :func:`heading_batches`
    batch, at most ``count`` top-level tags each), merge the trees by name and store it
    (:meth:`Store.save_tag_tree`); return it.

    :raises ValueError: the project's documents have no heading.
    :raises InvalidModelOutputError, BackendError, Cancelled: see :meth:`Asker.ask`.
    """
    batches = heading_batches(store, project_id)
    if not batches:
        raise ValueError("The project's documents have no headings to build a tag tree from: "
                         "load a tree with tags --load FILE.json instead")
    merged: dict[str, list[str]] = {}
    for headings in batches:
        tree = asker.ask("tag_tree", {"fence": fence_tag("headings", headings), "headings": headings, "count": count},
                         TREE_SCHEMA, parse_tree, TREE_SHAPE)
        for name, children in tree:
            kept = merged.setdefault(name, [])
            kept.extend(c for c in children if c not in kept)
    result = list(merged.items())
    store.save_tag_tree(project_id, result)
    return result


def tag_items(store, project_id: int, asker: Asker, *, retag: bool = False, batch: int = ITEMS_PER_CALL,
              on_progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Give each item of the project (only untagged ones unless ``retag``) one leaf tag, asking
    ``batch`` items per call; store each batch's tags as it arrives. Returns ``(tagged, left
    untagged)``. ``on_progress(done, total)`` after each batch.

    :raises ValueError: the project has no tag tree.
    :raises InvalidModelOutputError, BackendError, Cancelled: see :meth:`Asker.ask`.
    """
    choices = leaves(store.list_tags(project_id))
    if not choices:
        raise ValueError("The project has no tag tree: build one with tags --project P --model M, or load one")
    current = store.pair_tags(project_id)
    pairs = [p for p in store.list_pairs(project_id) if retag or current.get(p.id) is None]
    tag_lines = "\n".join(f"{n}. {r.path}" for n, r in enumerate(choices, start=1))
    tagged = untagged = 0
    for first in range(0, len(pairs), batch):
        group = pairs[first:first + batch]
        items = "\n".join(f"{n}. {' '.join(p.question.split())[:QUESTION_CHARS]}" for n, p in enumerate(group, start=1))

        def parse(value: object, size: int = len(group)) -> dict[int, int]:
            rows = value.get("assignments") if isinstance(value, dict) else None
            if not isinstance(rows, list):
                raise ValueError('the reply has no "assignments" list')
            found = {r["item"]: r["tag"] for r in rows if isinstance(r, dict) and isinstance(r.get("item"), int)
                     and isinstance(r.get("tag"), int) and 1 <= r["item"] <= size and 1 <= r["tag"] <= len(choices)}
            if not found:
                raise ValueError(f"no assignment names an item 1-{size} and a tag 1-{len(choices)}")
            return found

        found = asker.ask("tag_items", {"fence": fence_tag("items", items), "tags": tag_lines, "items": items},
                          ASSIGN_SCHEMA, parse, ASSIGN_SHAPE, output_tokens=20 * len(group) + 100)
        store.set_pair_tags({p.id: choices[found[n] - 1].id for n, p in enumerate(group, start=1) if n in found})
        tagged += len(found)
        untagged += len(group) - len(found)
        if on_progress:
            on_progress(first + len(group), len(pairs))
    return tagged, untagged


def run_tagging(store, project_id: int, backend, model: str, *, build: bool, count: int = 8, retag: bool = False,
                language: str = "en", options: SamplingOptions | None = None,
                cancel: threading.Event | None = None) -> TagSummary:
    """One ``tag`` run: build the tree from the headings (``build``; else the stored tree is
    used), then tag the items; the run ends ``finished``, ``cancelled`` or ``failed`` (and the
    error is raised again).

    :raises ValueError, InvalidModelOutputError, BackendError: see the two steps.
    """
    run_id = store.start_item_run(project_id, "tag", model, (options or SamplingOptions()).to_ollama(),
                                  "tag_items", load_prompt("tag_items", language).meta.version)
    asker = Asker(store, run_id, backend, model, language, overrides=store.prompt_overrides(project_id),
                  options=options, cancel=cancel)
    summary = TagSummary(run_id)
    status = "failed"
    try:
        if build:
            build_domain_tree(store, project_id, asker, count)
        summary.tags = len(store.list_tags(project_id))
        summary.tagged, summary.untagged = tag_items(store, project_id, asker, retag=retag)
        status = "finished"
    except Cancelled:
        status = "cancelled"
    finally:
        summary.calls, summary.prompt_tokens = asker.calls, asker.prompt_tokens
        store.finish_run(run_id, status)
    return summary


__all__ = ["ASSIGN_SCHEMA", "TREE_SCHEMA", "TagSummary", "build_domain_tree", "compact", "heading_batches",
           "leaves", "parse_tree", "render_tree", "run_tagging", "tag_items", "tree_from_file", "tree_to_json"]
