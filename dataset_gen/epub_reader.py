"""EPUB 2 and 3 e-books as Markdown, chapter by chapter in reading order.

An EPUB is a ZIP package (OCF, EPUB 3.3 §4): ``META-INF/container.xml`` names the package document
(``.opf``), whose ``manifest`` lists the files and whose ``spine`` gives the reading order (EPUB 3.3
§5.6–5.7). Each spine document (XHTML) is read by :mod:`dataset_gen.html_reader` (headings, lists,
tables, code; navigation left out) and the chapters follow each other in spine order. A chapter
without a heading of its own gets its title from the table of contents (the EPUB 3 navigation
document's ``toc`` nav, or the EPUB 2 ``toc.ncx``) as a ``#`` heading, so every chapter starts a
section.

The package passes :func:`dataset_gen.zip_guard.check_zip` (the same ZIP bomb limits as DOCX)
before any member is inflated. Encrypted (DRM) content is refused: it cannot be read.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from lxml import etree

from .documents import ParseCancelled, stop_if_asked
from .errors import CorruptDocumentError, UnsupportedDocumentError
from .html_reader import html_blocks, parse_html
from .zip_guard import check_zip

__all__ = ["read_epub"]

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
_EPUB = "{http://www.idpf.org/2007/ops}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
_HTML_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}


def _damaged(name: str, why: str) -> CorruptDocumentError:
    return CorruptDocumentError(name, f"is a damaged EPUB ({why}); download it again or convert it to PDF and "
                                      "upload that")


def _xml(zf: zipfile.ZipFile, member: str, name: str):
    try:
        return etree.fromstring(zf.read(member), _PARSER)
    except KeyError:
        raise _damaged(name, f"{member} is missing") from None
    except etree.XMLSyntaxError as exc:
        raise _damaged(name, f"{member} is not well-formed XML: {' '.join(str(exc).split())[:120]}") from None


def _resolve(base: str, href: str) -> str:
    """The ZIP member name of ``href`` (URL-encoded, relative to the member ``base``), without
    its fragment."""
    path = unquote(urlsplit(href).path)
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), path)).lstrip("/")


def _toc_titles(zf: zipfile.ZipFile, opf_path: str, opf, manifest: dict[str, tuple[str, str, str]],
                name: str) -> dict[str, str]:
    """Member name -> the first table-of-contents title pointing into it."""
    titles: dict[str, str] = {}
    nav = next((href for href, _, props in manifest.values() if "nav" in props.split()), None)
    if nav is not None and nav in zf.namelist():
        html = parse_html(zf.read(nav).decode("utf-8", "replace"))
        for el in html.iter("nav"):
            kind = el.get("epub:type") or el.get(_EPUB + "type") or ""
            if "toc" not in kind.split():
                continue
            for a in el.iter("a"):
                target, label = _resolve(nav, a.get("href") or ""), " ".join(a.text_content().split())
                if label:
                    titles.setdefault(target, label)
    spine = opf.find(_OPF + "spine")
    ncx_id = spine.get("toc") if spine is not None else None
    if not titles and ncx_id in manifest and manifest[ncx_id][0] in zf.namelist():
        ncx_path = manifest[ncx_id][0]
        ncx = _xml(zf, ncx_path, name)
        for point in ncx.iter(_NCX + "navPoint"):
            label = point.find(f"{_NCX}navLabel/{_NCX}text")
            content = point.find(_NCX + "content")
            if label is not None and content is not None and (label.text or "").strip():
                titles.setdefault(_resolve(ncx_path, content.get("src") or ""), " ".join(label.text.split()))
    return titles


def read_epub(data: bytes, name: str, *, max_bytes: int,
              should_stop: Callable[[], bool] | None = None) -> tuple[str, tuple[str, ...]]:
    """Extract ``(markdown, warnings)`` from EPUB bytes; the Markdown is not cleaned yet.

    ``max_bytes`` is the upload limit in bytes (it can raise the ZIP inflation limit);
    ``should_stop`` is asked between ZIP members while checking and before each chapter.
    ``warnings`` holds one line when navigation or page furniture was left out, and one naming
    spine entries that could not be found.

    Raises :class:`DocumentTooLargeError` / :class:`UnsupportedDocumentError` from
    :func:`check_zip` (a possible zip bomb, an unknown compression method);
    :class:`UnsupportedDocumentError` for DRM-encrypted content; :class:`CorruptDocumentError`
    when ``container.xml``, the package document or its spine is missing or not XML;
    :class:`ParseCancelled` when ``should_stop()`` returns true.
    """
    check_zip(data, name, max_bytes=max_bytes, should_stop=should_stop, package="epub")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _read(zf, name, should_stop)
    except (ParseCancelled, CorruptDocumentError, UnsupportedDocumentError):
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise _damaged(name, " ".join(str(exc).split())[:160] or type(exc).__name__) from None


def _read(zf: zipfile.ZipFile, name: str, should_stop: Callable[[], bool] | None) -> tuple[str, tuple[str, ...]]:
    names = set(zf.namelist())
    if "META-INF/encryption.xml" in names:
        encryption = zf.read("META-INF/encryption.xml")
        if b"EncryptedData" in encryption and b"obfuscation" not in encryption.lower():
            raise UnsupportedDocumentError(
                name, "is a DRM-protected EPUB whose chapters are encrypted and cannot be read; use a copy "
                      "without DRM or export the text from your e-book app"
            )
    container = _xml(zf, "META-INF/container.xml", name)
    rootfile = container.find(f"{_CONTAINER}rootfiles/{_CONTAINER}rootfile")
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    if not opf_path:
        raise _damaged(name, "META-INF/container.xml names no package document")
    opf = _xml(zf, opf_path, name)
    manifest: dict[str, tuple[str, str, str]] = {}
    for item in opf.iter(_OPF + "item"):
        href = item.get("href")
        if item.get("id") and href:
            manifest[item.get("id") or ""] = (_resolve(opf_path, href), item.get("media-type") or "",
                                              item.get("properties") or "")
    spine = opf.find(_OPF + "spine")
    if spine is None:
        raise _damaged(name, f"{opf_path} has no spine (reading order)")
    titles = _toc_titles(zf, opf_path, opf, manifest, name)
    parts: list[str] = []
    dropped = 0
    missing: list[str] = []
    for ref in spine.iter(_OPF + "itemref"):
        stop_if_asked(should_stop, name)
        entry = manifest.get(ref.get("idref") or "")
        if entry is None or entry[0] not in names:
            missing.append(ref.get("idref") or "?")
            continue
        member, media_type, _ = entry
        if media_type and media_type not in _HTML_TYPES:
            continue
        raw = zf.read(member)
        text = raw.decode("utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else raw.decode("utf-8", "replace")
        html = parse_html(text)
        blocks, left_out = html_blocks(html)
        dropped += left_out
        title = titles.get(member, "")
        if blocks and title and not any(b.startswith("#") for b in blocks):
            blocks.insert(0, "# " + title)
        parts.extend(blocks)
    warnings: list[str] = []
    if dropped:
        plural = "s" if dropped != 1 else ""
        warnings.append(f"left out {dropped:,} character{plural} of navigation, page headers and footers (not "
                        "the book's text)")
    if missing:
        warnings.append(f"{len(missing)} spine entries name no file in the package and were skipped: "
                        + ", ".join(missing[:5]))
    return "\n\n".join(parts), tuple(warnings)
