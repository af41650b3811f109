"""Grounding by code: is a pair's evidence quote really in its chunk?

The model is asked to copy its evidence from the chunk. Models change whitespace, full/half-width
forms and the odd character, so both texts are normalised first (Unicode NFKC, lower case, every run
of whitespace removed), then the quote must be a substring of the chunk, or match a window of it
with a rapidfuzz ``partial_ratio`` of at least :data:`MIN_SIMILARITY` (a small edit distance).
NFKC is applied to copies used for matching only; stored text is never changed. (Document text is
already free of the compatibility characters of :mod:`dataset_gen.normalise`; NFKC covers those in
a quote too.)
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

from .normalise import normalise_compat

MIN_SIMILARITY = 90.0
"""Lowest rapidfuzz ``partial_ratio`` (0–100) that counts as found: about one edit per ten characters."""

MIN_EVIDENCE_CHARS = 4
"""A normalised quote shorter than this (in characters) proves nothing and is not grounded."""

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = "\"'“”‘’「」『』《》()（）[]【】.,;:!?。，、；：！？…-—*`>#"


def normalise(text: str) -> str:
    """NFKC, lower case, no whitespace: the form in which quotes are compared."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).lower()


def is_grounded(evidence: str, chunk_text: str) -> bool:
    """``True`` when ``evidence`` is found in ``chunk_text`` as described in the module docstring.

    Quotation marks and end punctuation around the quote are ignored, and so is a trailing "…"
    that models add when they shorten a quote.
    """
    quote = normalise(evidence).strip(_EDGE_PUNCT)
    if len(quote) < MIN_EVIDENCE_CHARS:
        return False
    source = normalise(chunk_text)
    if quote in source:
        return True
    if len(quote) > len(source):
        return False
    return fuzz.partial_ratio(quote, source, score_cutoff=MIN_SIMILARITY) >= MIN_SIMILARITY


def locate(evidence: str, chunk_text: str) -> tuple[int, int] | None:
    """Span ``[start, end)`` of ``chunk_text`` (characters) that best matches ``evidence``, for
    highlighting; ``None`` when the quote is not grounded there. The quote is first mapped by
    :func:`dataset_gen.normalise.normalise_compat`, as document text is, so a quote the model gave
    with a ligature or a Kangxi radical is found at its exact place in the (normalised) chunk."""
    quote = normalise_compat(evidence.strip()).strip(_EDGE_PUNCT)
    if not quote or not is_grounded(evidence, chunk_text):
        return None
    at = chunk_text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    alignment = fuzz.partial_ratio_alignment(quote, chunk_text)
    if alignment is None or alignment.score < MIN_SIMILARITY - 10:
        return None
    return alignment.dest_start, alignment.dest_end
