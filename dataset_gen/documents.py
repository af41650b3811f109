"""Read a person's documents (PDF, DOCX, EPUB, HTML, Markdown, plain text) into
:class:`~dataset_gen.models.Document`.

The real type is read from the bytes, never from the file name (see :func:`detect_kind`). Text files
are decoded (UTF-8 first, then BOMs, then charset-normalizer's guess); PDFs go through
:mod:`dataset_gen.pdf`, DOCX files through :mod:`dataset_gen.docx_reader`. Every kind passes through
:func:`clean_text` before ``Document.text`` is fixed, so chunk offsets index the cleaned text.

All sizes are in bytes, all offsets and lengths in characters. Every failure a person can act on is
raised as a :class:`~dataset_gen.errors.DocumentError` subclass whose one-line message names the
file and says what to do.

ZIP-based files (DOCX) are checked against inflation limits before anything reads their members
(see :func:`dataset_gen.zip_guard.check_zip`). A parse can be stopped from outside: pass
``should_stop`` and it is asked between pages, blocks and ZIP members; when it returns true the
parse raises :class:`ParseCancelled`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable

from .errors import (
    CorruptDocumentError,
    DocumentError,
    DocumentTooLargeError,
    EmptyDocumentError,
    UnsupportedDocumentError,
)
from .models import Document
from .normalise import normalise_compat
from .text_decoding import decode_text

DEFAULT_MAX_BYTES = 100 * 1024 * 1024

__all__ = ["DEFAULT_MAX_BYTES", "ParseCancelled", "clean_text", "detect_kind", "parse_bytes", "parse_file",
           "stop_if_asked"]

_SMALL_MEMBER = 2**20  # most bytes read from a ZIP member while sniffing the type


class ParseCancelled(DocumentError):
    """Parsing stopped because the caller's ``should_stop()`` returned true (the upload was
    abandoned, e.g. the browser session is gone). Nothing was produced."""


def stop_if_asked(should_stop: Callable[[], bool] | None, name: str) -> None:
    """Raise :class:`ParseCancelled` for file ``name`` when ``should_stop`` is given and returns
    true; the message is ``"<name>: parsing stopped: the upload was abandoned"``."""
    if should_stop is not None and should_stop():
        raise ParseCancelled(name, "parsing stopped: the upload was abandoned")

# --- cleaning --------------------------------------------------------------------------------

# Line breaks other than "\n" (CR LF and lone CR are handled first): vertical tab, form feed,
# NEL, U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR.
_OTHER_NEWLINES_RE = re.compile("[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 control characters other than \t and \n, DEL, a stray BOM, and private-use code points
# (U+E000–U+F8FF, planes 15–16): none of them carries readable text.
_DROP_RE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\ue000-\uf8ff\U000f0000-\U0010ffff]"
)
# One CJK character (ideographs, kana, hangul, CJK and full-width punctuation, ideographic space).
_CJK = (
    "\u3000-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
# Three or more consecutive lines that each hold a single CJK character: vertical text that the
# PDF extractor emitted one character per line. The hint is a cheap test that such a run may exist.
_VERTICAL_RUN_RE = re.compile(rf"(?:^[{_CJK}]\n){{2,}}[{_CJK}]$", re.M)
_VERTICAL_HINT_RE = re.compile(rf"\n[{_CJK}]\n[{_CJK}]\n")


def clean_text(text: str) -> str:
    """Return ``text`` cleaned the same way for every document kind.

    In order: CR LF and lone CR become ``"\\n"``, and so do form feed, vertical tab, NEL, U+2028
    and U+2029; other control characters (C0 and C1, DEL) except ``"\\t"``/``"\\n"`` are removed,
    as are a stray U+FEFF and private-use-area characters; compatibility characters that break
    search are mapped by :func:`dataset_gen.normalise.normalise_compat` (Latin ligatures
    ``"ﬁ"`` → ``"fi"``, Kangxi radicals ``"⼀"`` → ``"一"``, CJK compatibility ideographs);
    runs of three or more lines that each hold one CJK character (vertical writing extracted one
    character per line) are joined into one line. Nothing else changes: no Unicode normalisation,
    no script conversion, full-width punctuation, ``①``, superscripts and ``™`` stay. Lengths are
    in characters; the result may be shorter or (one or two characters per ligature) longer.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _OTHER_NEWLINES_RE.sub("\n", text)
    text = _DROP_RE.sub("", text)
    text = normalise_compat(text)
    if _VERTICAL_HINT_RE.search("\n" + text + "\n"):
        text = _VERTICAL_RUN_RE.sub(lambda m: m.group(0).replace("\n", ""), text)
    return text


# --- type detection --------------------------------------------------------------------------

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# An HTML document opens (after a BOM, whitespace, an XML declaration and comments) with a doctype
# or an <html> tag (HTML Living Standard §13.1); a .html/.htm file needs only some tag.
_HTML_START_RE = re.compile(r"\ufeff?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])",
                            re.I | re.S)
_HTML_TAG_RE = re.compile(r"<(?:html|head|body|p|div|h[1-6]|table|ul|ol|title|meta)[\s>/]", re.I)
_HEADING_RE = re.compile(r" {0,3}#{1,6}[ \t]")
_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Names of the ZIP-based formats we recognise but do not parse, by a member they always hold.
_ZIP_FORMATS = (
    ("xl/workbook.xml", "an Excel workbook (.xlsx); save the sheets you need as PDF or copy them "
                        "into a .docx or .md file"),
    ("ppt/presentation.xml", "a PowerPoint presentation (.pptx); export it as PDF and upload that"),
)
_ODF_FORMATS = {
    "application/vnd.oasis.opendocument.text": "an OpenDocument text file (.odt); save it as .docx "
                                               "or export it as PDF and upload that",
    "application/vnd.oasis.opendocument.spreadsheet": "an OpenDocument spreadsheet (.ods); "
                                                      "export it as PDF and upload that",
    "application/vnd.oasis.opendocument.presentation": "an OpenDocument presentation (.odp); "
                                                       "export it as PDF and upload that",
}


def detect_kind(data: bytes, name: str) -> str:
    """Return the real type of ``data``: ``"pdf"``, ``"docx"``, ``"epub"``, ``"html"``,
    ``"markdown"`` or ``"text"``.

    The type is read from the bytes: ``%PDF-`` within the first 1024 bytes (where PDF readers
    accept the header) is a PDF; a ZIP holding ``word/document.xml`` is a DOCX; a ZIP holding
    ``META-INF/container.xml`` (and a ``mimetype`` of ``application/epub+zip`` when it has one,
    EPUB 3.3 §4.2.2) is an EPUB. Anything else that decodes to readable text is ``"markdown"`` when
    ``name`` ends in ``.md``/``.markdown`` (or a similar suffix); ``"html"`` when it opens with a
    doctype or ``<html>`` tag, or ``name`` ends in ``.html``/``.htm``/``.xhtml`` and it holds an
    HTML tag; ``"markdown"`` when the text has an ATX heading line (``#`` to ``######`` then a space,
    CommonMark §4.2) outside fenced code blocks, else ``"text"``. ``name`` is used only for that
    suffix and for messages.

    Raises :class:`EmptyDocumentError` for zero bytes; :class:`UnsupportedDocumentError` for other
    ZIP formats (xlsx, pptx, odt…), legacy OLE2 Office files (.doc/.xls/.ppt), images, RTF, a file
    named ``.pdf``/``.docx`` whose bytes are not one, and binary data that is not text;
    :class:`EncodingError` for text whose encoding cannot be determined;
    :class:`DocumentTooLargeError` for a ZIP whose directory is too big to read
    (:func:`dataset_gen.zip_guard.check_zip_directory`). No ZIP member is inflated beyond 1 MB.
    """
    return _sniff(data, _base_name(name))[0]


def parse_bytes(
    data: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES, should_stop: Callable[[], bool] | None = None,
    ocr_language: str | None = None,
) -> Document:
    """Parse the bytes of one uploaded file into a :class:`Document`.

    ``name`` is the file's name as uploaded (only its base name is kept, in ``Document.name``);
    ``max_bytes`` is the size limit in bytes. ``Document.sha256`` is the hex SHA-256 of ``data``;
    ``Document.text`` is Markdown-flavoured text (PDF/DOCX headings as ``#`` lines, tables as pipe
    tables) after :func:`clean_text`; ``page_starts`` is filled for PDFs only; ``encoding`` for text
    files only.

    ``should_stop`` (no arguments, returns ``bool``) is asked before parsing starts, after the
    type is known, before each PDF page (twice per page when the font pass runs), between the ZIP
    members of a DOCX and before each top-level DOCX block; it must be cheap (a flag read).

    ``ocr_language`` ``None`` (the default) reads no page by OCR; else it is the project's language
    (``"auto"``, ``"en"``, ``"zh-TW"``…) and PDF pages without a usable text layer are OCR'd with
    Tesseract in the matching languages (:func:`dataset_gen.pdf_ocr.read_pdf_ocr`, which may also
    raise :class:`~dataset_gen.pdf_ocr.OcrUnavailableError`).

    Raises :class:`DocumentTooLargeError` above ``max_bytes`` or for a DOCX beyond the ZIP
    inflation limits (a possible zip bomb); :class:`EmptyDocumentError` for zero bytes or no text
    after extraction; the errors of :func:`detect_kind`; for PDFs and DOCX files the errors of
    :func:`dataset_gen.pdf.read_pdf` / :func:`dataset_gen.docx_reader.read_docx` (encrypted,
    corrupt, no text layer); :class:`ParseCancelled` when ``should_stop()`` returns true.
    """
    name = _base_name(name)
    _check_size(name, len(data), max_bytes)
    stop_if_asked(should_stop, name)
    kind, decoded = _sniff(data, name)
    stop_if_asked(should_stop, name)
    warnings: tuple[str, ...] = ()
    page_starts: tuple[int, ...] = ()
    encoding = None
    left_out: tuple[tuple[int, str], ...] = ()
    if kind == "pdf" and ocr_language is not None:
        from .pdf_ocr import read_pdf_ocr

        text, page_starts, warnings, left_out = read_pdf_ocr(data, name, ocr_language, should_stop=should_stop)
    elif kind == "pdf":
        from .pdf import read_pdf

        text, page_starts, warnings, left_out = read_pdf(data, name, should_stop=should_stop)
    elif kind == "docx":
        from .docx_reader import read_docx

        text, warnings = read_docx(data, name, max_bytes=max_bytes, should_stop=should_stop)
    elif kind == "epub":
        from .epub_reader import read_epub

        text, warnings = read_epub(data, name, max_bytes=max_bytes, should_stop=should_stop)
        text = clean_text(text)
    elif kind == "html":
        from .html_reader import read_html

        assert decoded is not None
        text, warnings = read_html(decoded[0], name)
        text, encoding = clean_text(text), decoded[1]
    else:
        assert decoded is not None  # _sniff decodes every text kind
        text, encoding = decoded
        text = clean_text(text)
    if not text.strip():
        raise EmptyDocumentError(
            name, "holds no text (only whitespace); check that you picked the right file"
        )
    return Document(
        name=name,
        text=text,
        kind=kind,
        sha256=hashlib.sha256(data).hexdigest(),
        page_starts=tuple(page_starts),
        encoding=encoding,
        warnings=tuple(warnings),
        left_out=left_out,
    )


def parse_file(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, should_stop: Callable[[], bool] | None = None,
    ocr_language: str | None = None,
) -> Document:
    """Parse the file at ``path``; see :func:`parse_bytes` for the result, ``should_stop``,
    ``ocr_language`` and the errors.

    The size (bytes) is checked against ``max_bytes`` before the file is read, so an oversized file
    is refused without loading it. ``OSError`` (missing file, no permission) propagates unchanged.
    """
    path = os.fspath(path)
    name = _base_name(path)
    size = os.path.getsize(path)
    _check_size(name, size, max_bytes)
    with open(path, "rb") as fh:
        # read(n) reserves n bytes first, so ask for the size seen plus one, not for the whole
        # limit; only a file that grew since is read on, up to one byte past the limit.
        data = fh.read(size + 1)
        if len(data) > size:
            data += fh.read(max_bytes + 1 - len(data))
    return parse_bytes(data, name, max_bytes=max_bytes, should_stop=should_stop, ocr_language=ocr_language)


# --- internals -------------------------------------------------------------------------------


def _base_name(name: str | os.PathLike) -> str:
    """The last component of ``name``, for both ``/`` and ``\\`` separators."""
    return os.fspath(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        mb = 1024 * 1024
        raise DocumentTooLargeError(
            name,
            f"is {size / mb:.1f} MB, above the {max_bytes / mb:.1f} MB limit; split it into "
            "smaller files or raise the limit",
        )


def _sniff(data: bytes, name: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``(kind, (text, encoding))`` for text kinds or ``(kind, None)`` for pdf/docx."""
    if not data:
        raise EmptyDocumentError(name, "is empty (0 bytes); the upload may have failed, try again")
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf", None
    lower = name.lower()
    if data.startswith(_ZIP_MAGICS):
        return _sniff_zip(data, name), None
    if data.startswith(_OLE2_MAGIC):
        raise UnsupportedDocumentError(name, _ole2_reason(data))
    for magic, what in _IMAGE_MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocumentError(name, _image_reason(what))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise UnsupportedDocumentError(name, _image_reason("a WebP image"))
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        raise UnsupportedDocumentError(name, _image_reason("a HEIC/AVIF image"))
    if data.startswith(b"{\\rtf"):
        raise UnsupportedDocumentError(
            name, "is a Rich Text (RTF) file, which is not supported; save it as .docx or export "
                  "it as PDF and upload that"
        )
    if lower.endswith(".pdf"):
        raise UnsupportedDocumentError(
            name, f"is not really a PDF (its bytes start with {data[:8]!r}, not '%PDF-'); export "
                  "or download the PDF again"
        )
    if lower.endswith((".docx", ".docm")):
        raise UnsupportedDocumentError(
            name, "is not really a Word .docx file (it is not a ZIP package); open it in Word and "
                  "save it as .docx again"
        )
    text, encoding = decode_text(data, name)
    if lower.endswith(_MARKDOWN_SUFFIXES):
        return "markdown", (text, encoding)
    if _HTML_START_RE.match(text) or (lower.endswith(_HTML_SUFFIXES) and _HTML_TAG_RE.search(text[:65536])):
        return "html", (text, encoding)
    if _has_markdown_heading(text):
        return "markdown", (text, encoding)
    return "text", (text, encoding)


def _image_reason(what: str) -> str:
    return (
        f"is {what}, not a document; run OCR on it first (e.g. `ocrmypdf --image-dpi 300 "
        "in.png out.pdf` or an OCR app) and upload the resulting PDF"
    )


def _ole2_reason(data: bytes) -> str:
    """Say which legacy Office format an OLE2 compound file is, by its stream names (UTF-16)."""
    if "WordDocument".encode("utf-16-le") in data:
        what = "a legacy Word 97-2003 document (.doc)"
    elif "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        what = "a legacy Excel 97-2003 workbook (.xls)"
    elif "PowerPoint Document".encode("utf-16-le") in data:
        what = "a legacy PowerPoint 97-2003 file (.ppt)"
    else:
        what = "a legacy Microsoft Office (OLE2) file"
    return (
        f"is {what}, which is not supported; open it and save it as .docx (Word) or export it as "
        "PDF, then upload that"
    )


def _sniff_zip(data: bytes, name: str) -> str:
    """The kind of a ZIP package, from its member names and at most 1 MB of two small members
    (``[Content_Types].xml``, ``mimetype``), so a ZIP bomb inflates nothing here."""
    from .zip_guard import check_zip_directory

    check_zip_directory(data, name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "word/document.xml" in names:
                return "docx"
            if "[Content_Types].xml" in names:
                with zf.open("[Content_Types].xml") as member:
                    types = member.read(_SMALL_MEMBER)
                if b"wordprocessingml.document.main+xml" in types:
                    return "docx"
            if "META-INF/container.xml" in names and ("mimetype" not in names or _small(zf, "mimetype").strip()
                                                      in (b"application/epub+zip", b"")):
                return "epub"
            for member_name, what in _ZIP_FORMATS:
                if member_name in names:
                    raise UnsupportedDocumentError(name, f"is {what}")
            if "mimetype" in names:
                with zf.open("mimetype") as member:
                    mime = member.read(_SMALL_MEMBER).decode("ascii", "replace").strip()
                if mime in _ODF_FORMATS:
                    raise UnsupportedDocumentError(name, f"is {_ODF_FORMATS[mime]}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        # RuntimeError: an encrypted member or an unknown compression method. Member names sit uncompressed in the local headers, so a DOCX whose end (the central
        # directory) is cut off still shows its "word/" parts.
        if name.lower().endswith((".docx", ".docm")) or b"word/" in data[:65536]:
            raise CorruptDocumentError(
                name, f"is a damaged or truncated .docx (ZIP error: {exc}); open it in Word and "
                      "save it again, or upload the original"
            ) from None
        raise UnsupportedDocumentError(
            name, "is a damaged ZIP archive, not a document; upload the PDF, DOCX or text file "
                  "itself"
        ) from None
    raise UnsupportedDocumentError(
        name, "is a ZIP archive, not a document; unpack it and upload the PDF, DOCX or text files "
              "inside"
    )


def _small(zf: zipfile.ZipFile, member: str) -> bytes:
    """At most 1 MB of one ZIP member, for sniffing."""
    with zf.open(member) as fh:
        return fh.read(_SMALL_MEMBER)


def _has_markdown_heading(text: str) -> bool:
    """True if ``text`` has an ATX heading outside fenced code blocks (CommonMark §4.2, §4.5)."""
    fence = ""
    for line in text.splitlines():
        m = _FENCE_RE.match(line)
        if m:
            mark = m.group(1)
            if not fence:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip(" `~"):
                fence = ""
            continue
        if not fence and _HEADING_RE.match(line):
            return True
    return False
