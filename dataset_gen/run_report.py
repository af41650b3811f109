"""How much of a run's (or a project's) output passed: per document, chunks done and failed, pairs
made, pairs that pass every check, and the top reasons for the rest.

"Passes every check" is :func:`dataset_gen.gate.failed_checks` empty: no flag of
:mod:`dataset_gen.checks`, grounded, not scored below the project's judge threshold, not a
near-duplicate. Each failing pair counts once, under its first reason (the order of
:data:`dataset_gen.gate.HOLD_REASONS`), as in an export's "held back" line. A run's output is
called unusable when more than half of its pairs fail (:data:`UNUSABLE_SHARE`), or when chunks were
done and the model gave no pair at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .gate import failed_checks, top_reasons
from .models import StoredPair
from .names import printable

UNUSABLE_SHARE = 0.5
"""A run whose failing pairs are more than this share of its pairs is unusable (exit 1)."""

ITEM_NOUNS = {"qa": "pair", "conversation": "conversation", "choice": "question"}
"""What a run's summary lines call the items of each kind (:class:`dataset_gen.models.ItemKind`)."""


def item_noun(kind: str) -> str:
    """The noun for items of ``kind`` in a run's lines: ``pair``, ``conversation`` or ``question``
    (``item`` for a kind not known here)."""
    return ITEM_NOUNS.get(kind, "item")


@dataclass
class DocumentQuality:
    """One document's figures: ``chunks_done``/``chunks_failed`` (of a run, or the document's
    chunk states for a project), ``pairs`` made, ``passing`` of them, and ``reasons`` (reason code →
    pairs failing first on it) for the rest."""

    document: str
    chunks_done: int = 0
    chunks_failed: int = 0
    pairs: int = 0
    passing: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def failing(self) -> int:
        return self.pairs - self.passing

    def line(self, noun: str = "pair") -> str:
        """``"notes.md: 9 chunks done, 1 failed; 27 pairs, 18 pass every check; the rest: trivial
        evidence 6, wrong language 3"`` (the name made printable, on one line); ``noun`` names the
        items (:func:`item_noun`)."""
        text = (f"{printable(self.document)}: {plural(self.chunks_done, 'chunk')} done, {self.chunks_failed} failed; "
                f"{plural(self.pairs, noun)}, {self.passing} pass every check")
        if self.failing:
            text += f"; the rest: {top_reasons(self.reasons)}"
        return text


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless ``count`` is 1: ``1 chunk``, ``3 pairs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def tally(
    pairs: Iterable[StoredPair],
    chunk_counts: dict[str, tuple[int, int]],
    *,
    min_score: int | None,
) -> list[DocumentQuality]:
    """Per document (by name, in the order of ``chunk_counts``, then of ``pairs``): the figures of
    :class:`DocumentQuality`. ``chunk_counts`` maps a document's name to ``(chunks done, chunks
    failed)``; ``min_score`` is the judge threshold (``None``: no score rule)."""
    found = {name: DocumentQuality(name, done, failed) for name, (done, failed) in chunk_counts.items()}
    for pair in pairs:
        entry = found.setdefault(pair.document, DocumentQuality(pair.document))
        entry.pairs += 1
        reasons = failed_checks(pair, min_score=min_score)
        if reasons:
            entry.reasons[reasons[0]] += 1
        else:
            entry.passing += 1
    return list(found.values())


def totals(documents: Sequence[DocumentQuality]) -> DocumentQuality:
    """The figures of all ``documents`` added up (``document`` is ``""``)."""
    whole = DocumentQuality("")
    for d in documents:
        whole.chunks_done += d.chunks_done
        whole.chunks_failed += d.chunks_failed
        whole.pairs += d.pairs
        whole.passing += d.passing
        whole.reasons.update(d.reasons)
    return whole


def unusable_line(whole: DocumentQuality, model: str, noun: str = "pair") -> str | None:
    """One line saying the output is not usable, or ``None`` when it is: more than
    :data:`UNUSABLE_SHARE` of the pairs fail, or chunks were done and no pair came back. The line
    says how many failed and why, and suggests a larger model or a trial on one chunk; ``noun``
    names the items (:func:`item_noun`)."""
    advice = (f"try a larger model than {printable(model)}, or try one chunk first "
              "(the app's Generate page: Try one chunk shows the prompt and the raw reply)")
    if whole.pairs == 0:
        if whole.chunks_done > 0:
            return f"not usable: the model gave no {noun}s for {plural(whole.chunks_done, 'chunk')}; {advice}"
        return None
    if whole.failing <= UNUSABLE_SHARE * whole.pairs:
        return None
    return (f"not usable: {whole.failing} of {plural(whole.pairs, noun)} fail the checks "
            f"({top_reasons(whole.reasons)}) and exports hold them back; {advice}")
