"""Safe file and folder names derived from what a person typed (project names, document names).

A project name is any text for display; every file or folder name made from it goes through
:func:`safe_slug`, so no name can climb out of its folder (``..``, ``/``, ``\\``), hide (a leading
dot), carry control characters, or hit a name Windows reserves.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
MAX_SLUG_CHARS = 64


def safe_slug(text: str, fallback: str = "project") -> str:
    """A file-name-safe form of ``text``: at most :data:`MAX_SLUG_CHARS` characters of Unicode
    letters, digits, ``_``, ``-`` and inner ``.``, after NFKC normalisation; every other run of
    characters becomes one ``-``. Letters of any script are kept (``筆記`` stays ``筆記``), case too.

    ``fallback`` is returned when nothing usable is left (``"../.."`` gives ``fallback``); a name
    Windows reserves (``CON``, ``nul.txt``'s stem ``nul``) gets a trailing ``_``.
    """
    slug = _UNSAFE.sub("-", unicodedata.normalize("NFKC", text or ""))
    slug = re.sub(r"-{2,}", "-", slug)
    slug = re.sub(r"\.{2,}", ".", slug).strip(".-_")[:MAX_SLUG_CHARS].strip(".-_")
    if not slug:
        return fallback
    if slug.split(".", 1)[0].casefold() in _RESERVED:
        slug += "_"
    return slug


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that it stays inside ``folder``.

    :raises ValueError: ``name`` is absolute or climbs out of ``folder``.
    """
    base = Path(folder).resolve()
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{name!r} would be outside {base}")
    return target


def printable(text: str) -> str:
    """``text`` for one line of terminal output or one tab-separated field: line breaks, tabs and
    other control characters are written as escapes (``\\n``), every printable character of any
    script as it is (``筆記`` stays ``筆記``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
