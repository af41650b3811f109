"""Prompt templates: load from ``dataset_gen/prompts/`` (package data), apply a project's overrides, render strictly.

A template file is named ``<name>.<language>.txt`` and looks like::

    ---
    name: qa_generate
    language: zh-TW
    version: 1
    description: one line
    ---
    === system ===
    ... text with {{variables}} ...
    === user ===
    ... text with {{variables}} ...

The ``system`` section is optional; ``user`` is required. Further named sections (``=== name ===``,
lower case and underscores) are parts rendered on their own with :meth:`PromptTemplate.part`, e.g.
the wording of each question type, or a second user message. Placeholders are ``{{name}}``. Rendering
fails with :class:`PromptError` when a placeholder has no value or a value has no placeholder, so a
variable can never silently miss the prompt. Values are inserted in one pass: braces inside a value
(a chunk of code, say) are never read as placeholders.

Document text is fenced in the prompts by a tag made per request with :func:`fence_tag` (the
``{{fence}}`` placeholder, e.g. ``<chunk-3f9a1c0b7d2e>`` … ``</chunk-3f9a1c0b7d2e>``), never by a
fixed ``<chunk>`` a document could close itself; the fenced text is inserted unchanged.

Languages with their own templates are :data:`LANGUAGES`. Any other language code of
:func:`dataset_gen.language.detect_language` (``"de"``, ``"und-Cyrl"``, ...) gets the generic
template ``<name>.any.txt`` (English instructions), whose ``{{language_name}}`` placeholder is
filled when it is loaded with the language's English name (``"German"``), so the model is told to
write in the document's language by name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .errors import PromptError
from .language import language_name

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
LANGUAGES = ("en", "zh-TW", "zh-CN", "ja", "ko")
"""Languages with templates of their own."""
GENERIC = "any"
"""The language key of the generic templates, used for every language not in :data:`LANGUAGES`."""

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^=== ([a-z][a-z0-9_]*) ===[ \t]*$", re.MULTILINE)


class PromptMeta(BaseModel):
    """The front matter of a template file."""

    name: str
    language: str
    version: str
    description: str = ""


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt: ``messages`` is Ollama's chat list (``role``/``content`` dicts)."""

    name: str
    version: str
    language: str
    messages: list[dict]


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template. ``sections`` maps ``"system"``/``"user"`` to their raw text."""

    meta: PromptMeta
    sections: dict[str, str]
    source: str

    @property
    def key(self) -> str:
        """``"<name>.<language>"``, the key used for project overrides."""
        return f"{self.meta.name}.{self.meta.language}"

    def variables_of(self, *names: str) -> set[str]:
        """Placeholder names used in the named sections."""
        return {m.group(1) for name in names for m in _PLACEHOLDER.finditer(self.sections[name])}

    @property
    def variables(self) -> set[str]:
        """Placeholder names of the message sections (``system`` and ``user``)."""
        return self.variables_of(*(k for k in ("system", "user") if k in self.sections))

    def _fill(self, names: tuple[str, ...], values: dict[str, object]) -> dict[str, str]:
        needed = self.variables_of(*names)
        missing = sorted(needed - values.keys())
        unused = sorted(values.keys() - needed)
        if missing or unused:
            problems = []
            if missing:
                problems.append(f"missing values for {', '.join(missing)}")
            if unused:
                problems.append(f"values never used: {', '.join(unused)}")
            raise PromptError(f"Prompt '{self.source}' ({', '.join(names)}): {'; '.join(problems)}")
        text = {k: str(v) for k, v in values.items()}
        return {
            name: _PLACEHOLDER.sub(lambda m: text[m.group(1)], self.sections[name]).strip() for name in names
        }

    def render(self, user: str = "user", **values: object) -> RenderedPrompt:
        """The chat messages: the ``system`` section (if any) and the section named ``user``, with
        every placeholder filled; values are turned into ``str``.

        :raises PromptError: no such section, a placeholder without a value, or a value without
            a placeholder.
        """
        if user not in self.sections:
            raise PromptError(f"Prompt '{self.source}' has no '=== {user} ===' section")
        names = (("system",) if "system" in self.sections else ()) + (user,)
        filled = self._fill(names, values)
        messages = [{"role": "system" if name == "system" else "user", "content": filled[name]} for name in names]
        return RenderedPrompt(self.meta.name, self.meta.version, self.meta.language, messages)

    def part(self, name: str, **values: object) -> str:
        """One named section, filled strictly like :meth:`render`.

        :raises PromptError: no such section, or missing or unused values.
        """
        if name not in self.sections:
            raise PromptError(f"Prompt '{self.source}' has no '=== {name} ===' section")
        return self._fill((name,), values)[name]


FENCE_TOKEN_CHARS = 12
"""Hex digits of the token in a fence tag (48 bits)."""


@lru_cache(maxsize=1)
def builtin_prompts() -> tuple[tuple[str, bool], ...]:
    """``(name, fenced)`` of every built-in prompt in :data:`PROMPTS_DIR`, by name: ``fenced`` when
    its generic template puts inserted text between ``{{fence}}`` tags (an override of it should
    too). Read once per process."""
    names = sorted({path.name.split(".")[0] for path in PROMPTS_DIR.glob("*.txt")})
    return tuple((name, "{{fence}}" in (PROMPTS_DIR / f"{name}.{GENERIC}.txt").read_text(encoding="utf-8"))
                 for name in names)


def fence_tag(kind: str, *texts: str) -> str:
    """A fence tag ``"<kind>-<12 hex digits>"`` whose token occurs in none of ``texts``.

    ``texts`` are every value that goes into the prompt from a document or a model (chunk text,
    document name, heading path, question, answer). The token is the start of the SHA-256 of
    those texts and a counter; the counter goes up until the token is absent from all of them
    (ignoring case), so no text can contain ``</kind-token>`` and close the fence early, even one
    written to contain its own hash. The same texts always give the same tag, so a prompt is
    reproducible. ``kind`` names the fence (``"chunk"``, ``"source"``): lower-case letters.

    :raises ValueError: ``kind`` is not lower-case ASCII letters.
    """
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"A fence kind is lower-case letters, not {kind!r}")
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass"))
    lowered = [text.lower() for text in texts]  # "</CHUNK-3F9A…>" must not close the fence either
    counter = 0
    while True:
        attempt = digest.copy()
        attempt.update(f"\x00{counter}".encode())
        token = attempt.hexdigest()[:FENCE_TOKEN_CHARS]
        if not any(token in text for text in lowered):
            return f"{kind}-{token}"
        counter += 1


def parse_template(text: str, source: str) -> PromptTemplate:
    """Parse a template file's text. ``source`` names it in error messages.

    :raises PromptError: no front matter, bad front matter, or no ``=== user ===`` section.
    """
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("---\n"):
        raise PromptError(f"Prompt '{source}': must start with a '---' front matter block")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise PromptError(f"Prompt '{source}': front matter is not closed with '---'")
    fields: dict[str, str] = {}
    for line in text[4:end].splitlines():
        if line.strip():
            key, sep, value = line.partition(":")
            if not sep:
                raise PromptError(f"Prompt '{source}': front matter line without ':': {line!r}")
            fields[key.strip()] = value.strip()
    try:
        meta = PromptMeta(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PromptError(f"Prompt '{source}': bad front matter ({problems})") from None
    body = text[end + 5 :]
    marks = list(_SECTION.finditer(body))
    sections: dict[str, str] = {}
    for i, mark in enumerate(marks):
        stop = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        sections[mark.group(1)] = body[mark.end() : stop]
    if "user" not in sections:
        raise PromptError(f"Prompt '{source}': needs a '=== user ===' section")
    return PromptTemplate(meta, sections, source)


def load_prompt(
    name: str, language: str, overrides: dict[str, str] | None = None, directory: Path = PROMPTS_DIR
) -> PromptTemplate:
    """Load template ``name`` for ``language``, preferring a project override.

    ``overrides`` maps ``"<name>.<language>"`` to a full template text (as stored per project). An
    override's version is reported as ``"<version>+override"`` so runs record that it was used.
    A language not in :data:`LANGUAGES` with no template or override of its own gets the generic
    one (``"<name>.any"``, overridable too) for that language (:func:`for_language`).

    :raises PromptError: no such template, or the file or override does not parse.
    """
    key = f"{name}.{language}"
    if overrides and key in overrides:
        template = parse_template(overrides[key], f"{key} (project override)")
        meta = template.meta.model_copy(update={"version": f"{template.meta.version}+override"})
        return PromptTemplate(meta, template.sections, template.source)
    path = directory / f"{key}.txt"
    if path.is_file():
        return parse_template(path.read_text(encoding="utf-8"), path.name)
    if language in LANGUAGES or language == GENERIC or not (directory / f"{name}.{GENERIC}.txt").is_file():
        raise PromptError(f"No prompt template {path.name} in {directory}")
    return for_language(load_prompt(name, GENERIC, overrides, directory), language)


def for_language(template: PromptTemplate, language: str) -> PromptTemplate:
    """A generic template made for ``language``: every ``{{language_name}}`` in its sections becomes
    :func:`dataset_gen.language.language_name` of it (``"German"``), and its language is
    ``language``, so it renders and is recorded like a template of that language."""
    name = language_name(language)
    sections = {k: re.sub(r"\{\{\s*language_name\s*\}\}", name, v) for k, v in template.sections.items()}
    meta = template.meta.model_copy(update={"language": language})
    return PromptTemplate(meta, sections, f"{template.source} for {name}")
