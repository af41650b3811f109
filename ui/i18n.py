"""Every label the app shows, one JSON file per language in ``ui/locales/`` (``en.json``,
``zh-TW.json``): ``{key: text}``, where a text is a :meth:`str.format` template or, for a label
that counts something, ``{"one": ..., "other": ..., "by": "n"}`` (the plural forms of the CLDR
plural rules, https://cldr.unicode.org/index/cldr-spec/plural-rules: English has ``one`` for
exactly 1 and ``other``; Chinese has only ``other``), chosen by the value named in ``by`` (default
``n``). ``tests/test_ui_desk.py`` checks that every key exists in every language with the same
placeholders.

The interface language is the sidebar's choice, kept in the URL (``?lang=zh-TW``) so a reload or a
shared link keeps it.
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

import streamlit as st

LANGUAGES = {"en": "English", "zh-TW": "繁體中文"}
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).resolve().parent / "locales"

Text = str | dict[str, str]


@cache
def catalogue(language: str) -> dict[str, Text]:
    """The labels of ``language`` (a key of :data:`LANGUAGES`) from ``ui/locales/<language>.json``,
    read once per process.

    :raises KeyError: an unknown language. :raises OSError, ValueError: the file is missing or is
        not JSON.
    """
    if language not in LANGUAGES:
        raise KeyError(f"No interface language {language!r}: known are {', '.join(LANGUAGES)}")
    return json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))


def plural_form(language: str, n: object) -> str:
    """The CLDR plural category of the count ``n`` in ``language``: ``"one"`` for exactly 1 in
    English, else ``"other"`` (Chinese has no plural forms)."""
    if language.startswith("zh"):
        return "other"
    return "one" if n == 1 else "other"


def placeholders(text: Text) -> set[str]:
    """The field names a label formats (all its plural forms together), e.g. ``{"n", "path"}``."""
    forms = [text] if isinstance(text, str) else [v for k, v in text.items() if k != "by"]
    return {name.split(".")[0].split("[")[0] for form in forms
            for _, name, _, _ in string.Formatter().parse(form) if name}


def current_language() -> str:
    """The interface language of this browser session (:data:`DEFAULT_LANGUAGE` when none is set)."""
    language = st.session_state.get("ui_language", DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def translate(language: str, key: str, **values: object) -> str:
    """The label ``key`` in ``language``, in the plural form its count asks for, formatted with
    ``values``. A key missing from ``language`` falls back to English.

    :raises KeyError: no language has ``key``, or a placeholder has no value.
    """
    text = catalogue(language).get(key)
    if text is None:
        language, text = DEFAULT_LANGUAGE, catalogue(DEFAULT_LANGUAGE)[key]
    if isinstance(text, dict):
        by = text.get("by", "n")
        form = plural_form(language, values.get(by))
        text = text.get(form, text["other"])
    return text.format(**values) if values else text


def t(key: str, **values: object) -> str:
    """The label ``key`` in the interface language chosen in the sidebar, formatted with ``values``."""
    return translate(current_language(), key, **values)


def reason_label(reason: str) -> str:
    """A chunk's skip reason (:data:`dataset_gen.junk.REASONS`) in the interface language; an
    unknown reason as stored."""
    from dataset_gen.junk import REASONS

    keys = dict(zip(REASONS, ("junk.base64", "junk.hex", "junk.binary", "junk.toc", "junk.index", "junk.garbage"),
                    strict=True))
    return t(keys[reason]) if reason in keys else reason


def flag_label(code: str) -> str:
    """A reason code an item fails or is held back for (:data:`dataset_gen.gate.HOLD_REASONS`) in
    the interface language; an unknown code as :func:`dataset_gen.gate.label` writes it."""
    from dataset_gen.gate import label

    key = f"flag.{code}"
    return t(key) if key in catalogue(DEFAULT_LANGUAGE) else label(code)


def status_label(status: str) -> str:
    """A chunk's or run's status (``pending``, ``done``, ``failed``, ``running``, ``finished``,
    ``cancelled``, ``interrupted``) in the interface language; an unknown one as stored."""
    key = f"status.{status}"
    return t(key) if key in catalogue(DEFAULT_LANGUAGE) else status


def remember_language() -> None:
    """Keep the sidebar's language in the URL (``?lang=``; English, the default, leaves none), so a
    reload or a link opens in it. Call after the language switch is drawn."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        st.query_params.pop("lang", None)
    elif st.query_params.get("lang") != language:
        st.query_params["lang"] = language


def initial_language() -> str:
    """The language a new browser session starts in: the URL's ``?lang=`` when it names one of
    :data:`LANGUAGES`, else :data:`DEFAULT_LANGUAGE`."""
    asked = str(st.query_params.get("lang", ""))
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE
