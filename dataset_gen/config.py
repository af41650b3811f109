"""Settings: the only place the core reads the environment.

Everything else takes a :class:`Settings` (or its fields) as an argument.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from .choice import CHOICE_TYPES
from .models import GENERATED_KINDS, ItemKind, SamplingOptions

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:8000/v1"
"""vLLM's default; llama.cpp's ``llama-server`` listens on 8080 and LM Studio on 1234."""
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

QuestionKind = Literal["factual", "explanation", "comparison", "unanswerable", "single_choice", "true_false"]


def normalise_host(host: str | None) -> str:
    """Return ``host`` as ``scheme://name:port`` the way Ollama reads ``OLLAMA_HOST``.

    ``None`` or ``""`` gives ``http://127.0.0.1:11434``; a bare ``name`` gets ``http://`` and
    port 11434; ``http://name`` without a port keeps the scheme's port (80/443), as Ollama's
    envconfig does.
    """
    host = (host or "").strip().rstrip("/")
    if not host:
        return DEFAULT_OLLAMA_HOST
    scheme = "http"
    if "://" in host:
        scheme, host = host.split("://", 1)
        if ":" not in host.split("/", 1)[0]:
            return f"{scheme}://{host}"
    name = host.split("/", 1)[0]
    if name.startswith(":"):
        name = "127.0.0.1" + name
    elif ":" not in name:
        name = f"{name}:11434"
    return f"{scheme}://{name}"


def normalise_base_url(url: str | None) -> str:
    """Return an OpenAI-compatible base URL as ``scheme://name:port/path`` without a trailing
    slash. ``None`` or ``""`` gives :data:`DEFAULT_OPENAI_BASE_URL`; a bare ``name:port`` gets
    ``http://``; a URL without a path gets ``/v1`` (where vLLM, llama.cpp, LM Studio and OpenAI
    serve the API); a URL with a path keeps it as it is.
    """
    url = (url or "").strip().rstrip("/")
    if not url:
        return DEFAULT_OPENAI_BASE_URL
    if "://" not in url:
        url = f"http://{url}"
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest}" if "/" in rest else f"{scheme}://{rest}/v1"


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are split. Sizes are in characters.

    ``strategy`` is ``"markdown"`` (split on headings, then paragraphs, sentences, characters),
    ``"recursive"`` (by size with ``overlap``) or ``"separator"`` (split on ``separator`` exactly,
    then by size). ``overlap`` is used by ``"recursive"`` only; ``min_chars`` is both the size
    below which a section is merged into its neighbour and the smallest piece a cut aims for. The defaults (max 2000, min 400) suit a 7–8B model with an 8k-token window:
    2000 CJK characters are about 1,300–2,000 tokens and 2000 English characters about 500, so the
    chunk, the instructions and a reply of several QA pairs fit with room to spare, while a chunk
    still holds a whole section for the model to ask about.
    """

    strategy: str = "markdown"
    max_chars: int = 2000
    min_chars: int = 400
    overlap: int = 200
    separator: str = "\n\n"


@dataclass(frozen=True)
class Settings:
    """Run settings. Times are in seconds, sizes in bytes unless named ``*_chars``.

    ``pairs_per_chunk`` > 0 asks for that many QA pairs from every chunk; when it is 0,
    ``chars_per_pair`` sets one pair per that many characters of chunk (at least one).
    ``language`` is ``"auto"`` (follow each document: :func:`dataset_gen.language.detect_language`),
    ``"en"``, ``"zh-TW"``, ``"zh-CN"``, ``"ja"`` or ``"ko"``.
    ``question_types`` are asked for in turn for every chunk (``pairs_per_chunk`` each; a
    comparison pairs a chunk with the next one of its document); ``reasoning`` asks for a short
    chain of thought per pair; ``audiences``, when given, are used in turn, one per chunk.
    ``ocr`` reads PDF pages without a usable text layer by OCR (Tesseract; off by default).
    ``api`` is the kind of model server (``"ollama"`` at ``ollama_host``, or ``"openai"``: an
    OpenAI-compatible server at ``openai_base_url``, its key read from the environment variable
    named ``api_key_env`` when a backend is made; see :meth:`api_key`).
    ``hosts``, when given, are every server of that kind a run spreads its chunks over
    (``concurrency`` requests at a time on each); empty means the one server above
    (:meth:`server_urls`).
    ``kind`` is what is made from each chunk (a value of :data:`dataset_gen.models.GENERATED_KINDS`):
    ``"qa"`` pairs, ``"conversation"``: one conversation of ``turns`` exchanges per chunk, in the
    situation ``scenario`` (``""``: none) between ``roles`` (``(user, assistant)``, ``()``: none), or
    ``"choice"``: objective questions, whose ``question_types`` are then those of
    :data:`dataset_gen.choice.CHOICE_TYPES`.
    """

    data_dir: Path = Path("data")
    ollama_host: str = DEFAULT_OLLAMA_HOST
    hosts: tuple[str, ...] = ()
    api: Literal["ollama", "openai"] = "ollama"
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    api_key_env: str = DEFAULT_API_KEY_ENV
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 600.0
    max_retries: int = 3
    max_reasks: int = 2
    concurrency: int = 4
    pairs_per_chunk: int = 3
    chars_per_pair: int = 0
    language: str = "auto"
    question_types: tuple[str, ...] = ("factual",)
    reasoning: bool = False
    audiences: tuple[str, ...] = ()
    max_file_bytes: int = 100 * 1024 * 1024
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    ocr: bool = False
    kind: str = "qa"
    turns: int = 3
    scenario: str = ""
    roles: tuple[str, ...] = ()

    @property
    def ocr_language(self) -> str | None:
        """What to pass as ``ocr_language`` when parsing: ``None`` when ``ocr`` is off, else
        ``language`` (Tesseract's languages follow it: :func:`dataset_gen.pdf_ocr.tesseract_languages`)."""
        return self.language if self.ocr else None

    def server_urls(self) -> tuple[str, ...]:
        """The normalised URL of every server a run uses: ``hosts`` (repeats dropped, in order),
        else ``ollama_host`` or ``openai_base_url`` by ``api``."""
        norm = normalise_base_url if self.api == "openai" else normalise_host
        if self.hosts:
            return tuple(dict.fromkeys(norm(h) for h in self.hosts))
        return (self.openai_base_url if self.api == "openai" else self.ollama_host,)

    def api_key(self, environ: dict | None = None) -> str:
        """The OpenAI-compatible server's key: the value of the variable ``api_key_env`` in
        ``environ`` (default the process environment), ``""`` when unset. Read when a backend is
        made and never kept in the settings or the store."""
        env = os.environ if environ is None else environ
        return (env.get(self.api_key_env) or "").strip() if self.api_key_env else ""

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> Settings:
        """Build settings from ``DATASET_GEN_DATA_DIR``, ``OLLAMA_HOST``, ``OPENAI_BASE_URL``,
        ``DATASET_GEN_CONNECT_TIMEOUT`` and ``DATASET_GEN_READ_TIMEOUT`` (seconds), then ``overrides``.

        ``overrides`` with value ``None`` are ignored, so CLI flags can be passed straight in.
        An ``ollama_host`` or ``openai_base_url`` given as a list (a repeated ``--host``) sets
        ``hosts`` to all of them and the single field to the first.
        """
        env = os.environ if environ is None else environ
        timeouts: dict[str, Any] = {}
        for key, name in (("connect_timeout_s", "DATASET_GEN_CONNECT_TIMEOUT"), ("read_timeout_s", "DATASET_GEN_READ_TIMEOUT")):
            if env.get(name):
                try:
                    timeouts[key] = float(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number of seconds, got {env[name]!r}") from None
        base = cls(
            data_dir=Path(env.get("DATASET_GEN_DATA_DIR") or "data"),
            ollama_host=normalise_host(env.get("OLLAMA_HOST")),
            openai_base_url=normalise_base_url(env.get("OPENAI_BASE_URL")),
            **timeouts,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("ollama_host", "openai_base_url"):
            if isinstance(given.get(key), (list, tuple)):
                many = [str(h) for h in given[key]]
                if not many:
                    del given[key]
                    continue
                given[key] = many[0]
                if len(many) > 1:
                    given["hosts"] = tuple(many)
        if "hosts" in given:
            norm = normalise_base_url if given.get("api", "ollama") == "openai" else normalise_host
            given["hosts"] = tuple(dict.fromkeys(norm(h) for h in given["hosts"]))
        if "ollama_host" in given:
            given["ollama_host"] = normalise_host(given["ollama_host"])
        if "openai_base_url" in given:
            given["openai_base_url"] = normalise_base_url(given["openai_base_url"])
        if given.get("api", "ollama") not in ("ollama", "openai"):
            raise ValueError(f"Unknown API {given['api']!r}: choose ollama or openai")
        return replace(base, **given)


HOST_DEFAULTS = ("$OLLAMA_HOST or http://127.0.0.1:11434; with --api openai $OPENAI_BASE_URL or "
                 "http://127.0.0.1:8000/v1")
"""Where a run goes when no server is set, as the CLI's help says it."""
ROLE_COMMA = "\uff0c"
"""The full-width comma ``，`` a Chinese keyboard types, taken as ``,`` between the two roles."""

ROLES_HELP = 'needs two names separated by a comma, e.g. "使用者,助理"'
"""What a refused ``roles`` value is told (after the option's or field's name)."""

API_DESCRIPTION = ("kind of server: ollama or openai, an OpenAI-compatible server such as vLLM, llama.cpp or "
                   "LM Studio (its key is read from $OPENAI_API_KEY)")


def _cli(flag: str, unset: str = "") -> dict[str, Any]:
    """A field's command-line flag, and what an unset (``None``) value means, for
    :mod:`dataset_gen.cli_settings`."""
    return {"cli": flag, **({"unset": unset} if unset else {})}


def chunk_settings(strategy: str, max_chars: int, min_chars: int, overlap: int, separator: str) -> ChunkSettings:
    """The chunk settings a run uses: ``min_chars`` and ``overlap`` cut to at most half of
    ``max_chars`` (characters), an empty ``separator`` read as a blank line. The one rule the CLI,
    the app and the core share: ``max_chars`` 1000 with the defaults gives min 400, overlap 200.
    Half is the chunker's own limit for the smallest piece of a cut (:mod:`dataset_gen.chunking`)."""
    return ChunkSettings(strategy=strategy, max_chars=max_chars, min_chars=min(min_chars, max_chars // 2),
                         overlap=min(overlap, max_chars // 2), separator=separator or "\n\n")


class ProjectConfig(BaseModel):
    """A project's saved settings (stored as JSON in the project row; validated on load).

    ``host`` empty means "use OLLAMA_HOST or the default". Sizes are in characters.
    ``chars_per_pair`` > 0 asks for one pair per that many characters of chunk instead of
    ``pairs_per_chunk``. Sampling options left ``None`` keep the server's defaults.
    ``judge_model`` (empty: no judge) scores pairs 1–5; exports hold back pairs whose lowest score
    is below ``judge_threshold``. ``embedding_model`` (empty: none) adds embedding similarity to
    near-duplicate detection. ``read_timeout_s`` is how long one request may wait for the model's
    reply, in seconds (1–3600); ``None`` (never set) uses the process setting
    (``DATASET_GEN_READ_TIMEOUT``, default 600) is used. ``ocr`` (off by default) reads uploaded
    PDF pages that have no usable text layer by OCR, in Tesseract languages that follow ``language``.
    ``api`` picks the server kind: ``host`` is the Ollama URL, ``base_url`` the OpenAI-compatible
    one (empty: ``OPENAI_BASE_URL`` or the default), and ``api_key_env`` names the environment
    variable holding its key (only the name is stored, never the key). ``hosts``, when not empty,
    are all the servers (of kind ``api``) a run spreads its chunks over, and win over ``host`` and
    ``base_url`` (projects saved before it keep their single server).

    This class is the one declaration of every setting: its type, default, bounds (``ge``/``le``),
    description and command-line flag (``json_schema_extra["cli"]``). The CLI builds its options
    from it (:mod:`dataset_gen.cli_settings`), the app its inputs' bounds (:meth:`bounds`).
    """

    model: str = Field("", description="model name, e.g. qwen2.5:7b", json_schema_extra=_cli("--model"))
    host: str = Field("", description="server URL; repeat it to spread a run over several servers",
                      json_schema_extra=_cli("--host", HOST_DEFAULTS))
    hosts: list[str] = Field(default_factory=list)
    api: Literal["ollama", "openai"] = Field("ollama", description=API_DESCRIPTION, json_schema_extra=_cli("--api"))
    base_url: str = ""
    api_key_env: str = Field(DEFAULT_API_KEY_ENV, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    chunk_strategy: Literal["markdown", "recursive", "separator"] = Field(
        "markdown", description="how documents are split: markdown (headings, then paragraphs), recursive (by size "
                                "with overlap) or separator (at the separator, then by size)",
        json_schema_extra=_cli("--chunk-strategy"))
    chunk_max_chars: int = Field(2000, ge=200, le=20000, description="largest chunk in characters",
                                 json_schema_extra=_cli("--chunk-size"))
    chunk_min_chars: int = Field(400, ge=0, le=20000, description="smallest chunk in characters (at most half the "
                                 "largest: a larger one is cut to that)", json_schema_extra=_cli("--min-chunk-size"))
    chunk_overlap: int = Field(200, ge=0, le=5000, description="characters a recursive chunk repeats from the one "
                               "before (at most half the largest chunk)", json_schema_extra=_cli("--chunk-overlap"))
    chunk_separator: str = "\n\n"
    pairs_per_chunk: int = Field(3, ge=1, le=20, description="QA pairs to ask for per chunk",
                                 json_schema_extra=_cli("--pairs-per-chunk"))
    chars_per_pair: int = Field(0, ge=0, le=20000, description="ask for one pair per this many characters of chunk "
                                "instead (0: use --pairs-per-chunk)", json_schema_extra=_cli("--chars-per-pair"))
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature (0 is kept as 0)",
                               json_schema_extra=_cli("--temperature"))
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="nucleus sampling",
                                json_schema_extra=_cli("--top-p", "the server's"))
    top_k: int | None = Field(None, ge=1, le=1000, description="top-k sampling",
                              json_schema_extra=_cli("--top-k", "the server's"))
    repeat_penalty: float | None = Field(None, ge=0.0, le=3.0, description="repetition penalty",
                                         json_schema_extra=_cli("--repeat-penalty", "the server's"))
    seed: int | None = Field(None, description="sampling seed", json_schema_extra=_cli("--seed", "the server's"))
    num_predict: int | None = Field(None, ge=-1, description="most tokens per reply",
                                    json_schema_extra=_cli("--num-predict", "sized to the pairs asked for"))
    concurrency: int = Field(4, ge=1, le=32, description="requests sent to the model at once (per server)",
                             json_schema_extra=_cli("--concurrency"))
    language: Literal["auto", "en", "zh-TW", "zh-CN", "ja", "ko"] = Field(
        "auto", description="language of the pairs (auto: each document's)", json_schema_extra=_cli("--language"))
    question_types: list[QuestionKind] = Field(
        default_factory=lambda: list[QuestionKind](["factual"]), min_length=1,
        description="kinds of question, comma-separated", json_schema_extra=_cli("--question-types"))
    reasoning: bool = Field(False, description="ask for a short chain of thought per pair",
                            json_schema_extra=_cli("--reasoning"))
    audiences: list[str] = Field(default_factory=list, description="phrase pairs for this audience, e.g. 'a new "
                                 "employee' (repeat to vary by chunk)", json_schema_extra=_cli("--audience"))
    system_prompt: str = Field("", description="system prompt to put on every exported record",
                               json_schema_extra=_cli("--system"))
    judge_model: str = Field("", description="judge model, e.g. qwen2.5:7b", json_schema_extra=_cli("--model"))
    judge_threshold: int = Field(3, ge=1, le=5)
    embedding_model: str = Field("", description="embedding model for near-duplicates, e.g. nomic-embed-text",
                                 json_schema_extra=_cli("--embedding-model"))
    read_timeout_s: float | None = Field(
        None, ge=1.0, le=3600.0, description="seconds one request may wait for the model's reply",
        json_schema_extra=_cli("--timeout", "$DATASET_GEN_READ_TIMEOUT or 600"))
    ocr: bool = Field(False, description="read PDF pages without a usable text layer (scans) by OCR; needs "
                      "Tesseract", json_schema_extra=_cli("--ocr"))
    kind: str = Field("qa", description="what to make from each chunk: qa pairs, one multi-turn conversation, or "
                      "choice: single-choice and true/false questions",
                      json_schema_extra={**_cli("--kind"), "choices": list(GENERATED_KINDS)})
    turns: int = Field(3, ge=1, le=10, description="exchanges (a user turn and the reply) per conversation",
                       json_schema_extra=_cli("--turns"))
    scenario: str = Field("", max_length=500, description="the situation a conversation takes place in, e.g. "
                          "'a new employee sets up Ollama'", json_schema_extra=_cli("--scenario"))
    roles: str = Field("",
                       description="who talks in a conversation, as USER,ASSISTANT, e.g. 'a new employee,the IT helpdesk'",
                       json_schema_extra=_cli("--roles"))
    review_columns: list[str] | None = Field(None, description="the Review grid's columns a person chose "
                                             "(None: the page's default)")

    @classmethod
    def bounds(cls, name: str) -> tuple[Any, Any]:
        """``(lowest, highest)`` the field ``name`` accepts (``None`` where unbounded), as declared
        on the field: what the CLI's options check and the app's number inputs offer.

        :raises KeyError: no such field.
        """
        low = high = None
        for rule in cls.model_fields[name].metadata:
            low = getattr(rule, "ge", low)
            high = getattr(rule, "le", high)
        return low, high

    @classmethod
    def default(cls, name: str) -> Any:
        """The declared default of field ``name`` (a new list for list fields).

        :raises KeyError: no such field.
        """
        return cls.model_fields[name].get_default(call_default_factory=True)

    @classmethod
    def load(cls, stored: dict | None) -> ProjectConfig:
        """From the stored dict; unknown keys are ignored, bad values fall back to defaults."""
        stored = {k: v for k, v in (stored or {}).items() if k in cls.model_fields}
        try:
            return cls(**stored)
        except ValidationError:
            good = {}
            for key, value in stored.items():
                try:
                    cls(**{key: value})
                    good[key] = value
                except ValidationError:
                    pass
            return cls(**good)

    @field_validator("roles")
    @classmethod
    def _two_roles(cls, value: str) -> str:
        """``""`` or two non-empty names separated by one comma, ASCII ``,`` or the full-width
        ``，`` a Chinese keyboard types (stored as ``,``): ``"使用者，助理"`` → ``"使用者,助理"``."""
        if not value.strip():
            return ""
        names = [part.strip() for part in value.replace(ROLE_COMMA, ",").split(",")]
        if len(names) != 2 or not all(names):
            raise PydanticCustomError("roles", ROLES_HELP)
        return ",".join(names)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in GENERATED_KINDS:
            raise ValueError(f"unknown kind {value!r}: choose from {', '.join(GENERATED_KINDS)}")
        return value

    def ocr_language(self) -> str | None:
        """``ocr_language`` for parsing an upload: ``None`` when OCR is off, else ``language``."""
        return self.language if self.ocr else None

    def chunking(self) -> ChunkSettings:
        """The chunk settings, min and overlap cut to half the maximum (:func:`chunk_settings`)."""
        return chunk_settings(self.chunk_strategy, self.chunk_max_chars, self.chunk_min_chars, self.chunk_overlap,
                              self.chunk_separator)

    def sampling(self) -> SamplingOptions:
        """The sampling options to send with every generation call."""
        return SamplingOptions(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                               repeat_penalty=self.repeat_penalty, seed=self.seed, num_predict=self.num_predict)

    def apply(self, base: Settings) -> Settings:
        """``base`` with this project's server (API kind, host or base URL, key variable), chunking, pairs,
        concurrency, language, OCR switch and,
        when the project set one, read timeout."""
        urls = tuple(h.strip() for h in self.hosts if h.strip())
        if urls:
            many = urls if len(urls) > 1 else ()
            base = (replace(base, hosts=many, openai_base_url=urls[0]) if self.api == "openai"
                    else replace(base, hosts=many, ollama_host=urls[0]))
        return replace(
            base,
            ollama_host=normalise_host(self.host) if self.host and not urls else normalise_host(base.ollama_host),
            api=self.api,
            openai_base_url=(normalise_base_url(self.base_url) if self.base_url and not urls
                             else normalise_base_url(base.openai_base_url)),
            api_key_env=self.api_key_env,
            read_timeout_s=self.read_timeout_s if self.read_timeout_s is not None else base.read_timeout_s,
            chunking=self.chunking(),
            pairs_per_chunk=0 if self.chars_per_pair else self.pairs_per_chunk,
            chars_per_pair=self.chars_per_pair,
            concurrency=self.concurrency,
            language=self.language,
            question_types=CHOICE_TYPES if self.kind == ItemKind.CHOICE.value else tuple(self.question_types),
            reasoning=self.reasoning,
            audiences=tuple(a.strip() for a in self.audiences if a.strip()),
            ocr=self.ocr,
            kind=self.kind,
            turns=self.turns,
            scenario=self.scenario.strip(),
            roles=tuple(r.strip() for r in self.roles.replace(ROLE_COMMA, ",").split(",")) if self.roles.strip() else (),
        )
