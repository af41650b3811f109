"""An Ollama Modelfile for a model trained on a project's data, and the ``ollama create`` line.

Syntax from Ollama's Modelfile reference (docs/modelfile.md, "Instructions"; docs/import.md for
adapters): ``FROM`` a model name or a GGUF file (required); ``ADAPTER`` a (Q)LoRA adapter, a
Safetensors adapter folder or a GGUF adapter, applied to the ``FROM`` model (which must be the
base it was trained on); ``PARAMETER <name> <value>`` one per line; ``SYSTEM`` the system message,
written between triple quotes (``SYSTEM \"\"\"...\"\"\"``) so it may span lines. ``TEMPLATE`` is written
only when a template is given: an Ollama base model keeps its own template under ``ADAPTER``, and
a GGUF converted by llama.cpp carries its chat template, which Ollama reads.

Paths are written absolute (Ollama resolves relative ones against the Modelfile's folder), in
double quotes when they hold white space.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .config import ProjectConfig
from .names import printable, safe_slug

__all__ = ["MODEL_NAME", "ModelfileSpec", "check_model_name", "create_command", "default_path",
           "modelfile_text", "parameters"]

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}(/[A-Za-z0-9][A-Za-z0-9._-]{0,79})?"
                        r"(:[A-Za-z0-9][A-Za-z0-9._-]{0,79})?")
"""A safe Ollama model name: ``name``, ``namespace/name``, each with an optional ``:tag``; letters,
digits, ``.``, ``_`` and ``-``, starting with a letter or digit (Ollama's name parts, no path
separators other than the one namespace slash, nothing a shell would read). Each part is at most
:data:`PART_LIMIT` characters, as Ollama's ``types/model/name.go`` (``isValidLen``) allows."""

PART_LIMIT = 80
"""The longest namespace, model or tag part of an Ollama model name, in characters."""

_ANY_LENGTH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(:[A-Za-z0-9][A-Za-z0-9._-]*)?")
GGUF_MAGIC = b"GGUF"
"""The first four bytes of every GGUF file (the GGUF specification, ggml docs/gguf.md)."""


def check_model_name(name: str, what: str = "model name") -> str:
    """``name`` when it matches :data:`MODEL_NAME` (and has no ``..``).

    :raises ValueError: it does not, in one line: ``'../x' is not a safe model name: ...``, or
        for a name of the right characters with a part over :data:`PART_LIMIT` characters, ``... is
        too long for a model name: ...``.
    """
    if not MODEL_NAME.fullmatch(name) and _ANY_LENGTH.fullmatch(name) and ".." not in name:
        longest = max(len(part) for part in re.split(r"[/:]", name))
        raise ValueError(f"'{printable(name[:40])}…' is too long for a {what}: each part (namespace, name, tag) "
                         f"is at most {PART_LIMIT} characters, and this one has {longest}")
    if not MODEL_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"'{printable(name)}' is not a safe {what}: use letters, digits, '.', '_' and '-' "
                         "(e.g. notes-qwen2.5 or me/notes:v1)")
    return name


@dataclass(frozen=True)
class ModelfileSpec:
    """What the Modelfile is made of: ``source`` for ``FROM`` (a model name or a GGUF path),
    ``adapter`` (``None``: a merged model), ``system`` (``""``: none), ``parameters`` as
    ``(name, value)`` in order, and ``template`` (``""``: none)."""

    source: str
    adapter: str | None = None
    system: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    template: str = ""


def parameters(config: ProjectConfig, num_ctx: int | None = None) -> tuple[tuple[str, str], ...]:
    """``PARAMETER`` lines from the project's sampling settings: ``temperature`` always (``0`` is
    kept), ``top_p``, ``top_k`` and ``repeat_penalty`` when set, then ``num_ctx`` (tokens) when
    given."""
    found = [("temperature", f"{config.temperature:g}")]
    for name in ("top_p", "top_k", "repeat_penalty"):
        value = getattr(config, name)
        if value is not None:
            found.append((name, f"{value:g}"))
    if num_ctx is not None:
        if num_ctx < 1:
            raise ValueError(f"--num-ctx {num_ctx} is not a number of tokens above 0")
        found.append(("num_ctx", str(num_ctx)))
    return tuple(found)


def _path(path: str | Path, what: str) -> str:
    """An existing file or folder as the absolute path the Modelfile writes.

    :raises ValueError: it does not exist, or holds a line break, a double quote or another
        control character (the Modelfile could not hold it as one value).
    """
    given = str(path)
    if any(not c.isprintable() and c != " " for c in given) or '"' in given:
        raise ValueError(f"{printable(given)}: a {what} path with a line break, control character or "
                         "double quote cannot be written in a Modelfile: rename it")
    resolved = Path(given).expanduser().resolve()
    if not resolved.exists():
        raise ValueError(f"{printable(given)}: no such {what}: give the path of the file you trained")
    text = str(resolved)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _require_gguf(path: str | Path) -> None:
    """:raises ValueError: ``path`` is not a file that starts with :data:`GGUF_MAGIC` (a folder, a
    text file), in one line naming it."""
    resolved = Path(path).expanduser()
    try:
        with open(resolved, "rb") as handle:
            head = handle.read(len(GGUF_MAGIC))
    except OSError:
        head = b""
    if not resolved.is_file() or head != GGUF_MAGIC:
        raise ValueError(f"{printable(str(path))} is not a GGUF file (it does not start with GGUF)")


def modelfile_text(spec: ModelfileSpec) -> str:
    """The Modelfile for ``spec``, ending with a line break.

    :raises ValueError: ``system`` or ``template`` holds ``\"\"\"`` (it would end the quoted text).
    """
    for label, text in (("system prompt", spec.system), ("template", spec.template)):
        if '"""' in text:
            raise ValueError(f'the {label} holds """, which would end it in the Modelfile: remove it')
    lines = [f"FROM {spec.source}"]
    if spec.adapter:
        lines.append(f"ADAPTER {spec.adapter}")
    if spec.template:
        lines.append(f'TEMPLATE """{spec.template}"""')
    if spec.system.strip():
        lines.append(f'SYSTEM """{spec.system.strip()}"""')
    lines.extend(f"PARAMETER {name} {value}" for name, value in spec.parameters)
    return "\n".join(lines) + "\n"


def build_spec(config: ProjectConfig, *, gguf: str | Path | None = None, base: str | None = None,
               adapter: str | Path | None = None, num_ctx: int | None = None, template: str = "") -> ModelfileSpec:
    """The spec of a merged GGUF (``gguf``) or of a base model plus a LoRA ``adapter``, with the
    project's system prompt (:attr:`ProjectConfig.system_prompt`) and :func:`parameters`.

    ``base`` is an Ollama model name (:data:`MODEL_NAME`) or an existing GGUF file. ``gguf`` must be
    a file starting with :data:`GGUF_MAGIC`.

    :raises ValueError: neither or both ways given, a missing file, a ``gguf`` that is not a GGUF
        file, an unsafe base name.
    """
    if (gguf is None) == (base is None):
        raise ValueError("give either --gguf PATH (a merged model) or --base MODEL with --adapter PATH (a LoRA)")
    if gguf is not None:
        if adapter is not None:
            raise ValueError("--adapter goes with --base MODEL, not with --gguf: a GGUF of the merged model needs none")
        source = _path(gguf, "GGUF file")
        _require_gguf(gguf)
        adapter_path = None
    else:
        assert base is not None
        if adapter is None:
            raise ValueError("--base needs --adapter PATH: the LoRA adapter trained on it")
        source = _path(base, "base model file") if Path(base).suffix.lower() == ".gguf" else check_model_name(
            base, "base model name")
        adapter_path = _path(adapter, "adapter")
    return ModelfileSpec(source, adapter_path, config.system_prompt, parameters(config, num_ctx), template)


def default_path(data_dir: Path, name: str) -> Path:
    """``<data_dir>/modelfiles/<safe_slug(name)>/Modelfile``: where a Modelfile goes unless a path is named."""
    return Path(data_dir) / "modelfiles" / safe_slug(name.replace(":", "-").replace("/", "-"), fallback="model") / "Modelfile"


def create_command(name: str, path: Path) -> str:
    """``ollama create NAME -f PATH``, quoted for a POSIX shell."""
    return f"ollama create {shlex.quote(name)} -f {shlex.quote(str(path))}"
