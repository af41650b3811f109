"""Strict Open XML Word files (ISO/IEC 29500 Strict) read as Transitional ones.

Word's "Strict Open XML Document (*.docx)" format keeps the parts, the part names and the content
types of an ordinary .docx but writes every WordprocessingML, DrawingML and relationship namespace
under ``http://purl.oclc.org/ooxml/`` instead of ``http://schemas.openxmlformats.org/…/2006/…``
(ISO/IEC 29500-1:2016 Annex A; Part 2 packaging namespaces are the same in both), and marks the
document ``w:conformance="strict"``. python-docx knows only the Transitional names, finds no main
document and fails, so such a package is rewritten in memory with the Transitional names first.
The elements this reader uses (paragraphs, runs, tables, styles, numbering, notes, headers) have
the same names and attributes in both conformance classes.
"""

from __future__ import annotations

import io
import zipfile

__all__ = ["STRICT_MARK", "is_strict", "to_transitional"]

STRICT_MARK = b"http://purl.oclc.org/ooxml/"
"""Every Strict namespace starts with this; a Transitional package never holds it."""

_T = "http://schemas.openxmlformats.org/"
# Strict name -> Transitional name, longest first so a prefix never hides a longer match.
_NAMES = sorted({
    "http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties":
        _T + "officeDocument/2006/relationships/extended-properties",
    "http://purl.oclc.org/ooxml/officeDocument/relationships/customProperties":
        _T + "officeDocument/2006/relationships/custom-properties",
    "http://purl.oclc.org/ooxml/officeDocument/relationships": _T + "officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/wordprocessingml/main": _T + "wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/officeDocument/math": _T + "officeDocument/2006/math",
    "http://purl.oclc.org/ooxml/officeDocument/extendedProperties": _T + "officeDocument/2006/extended-properties",
    "http://purl.oclc.org/ooxml/officeDocument/customProperties": _T + "officeDocument/2006/custom-properties",
    "http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes": _T + "officeDocument/2006/docPropsVTypes",
    "http://purl.oclc.org/ooxml/officeDocument/sharedTypes": _T + "officeDocument/2006/sharedTypes",
    "http://purl.oclc.org/ooxml/officeDocument/customXml": _T + "officeDocument/2006/customXml",
    "http://purl.oclc.org/ooxml/officeDocument/bibliography": _T + "officeDocument/2006/bibliography",
    "http://purl.oclc.org/ooxml/drawingml/main": _T + "drawingml/2006/main",
    "http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing": _T + "drawingml/2006/wordprocessingDrawing",
    "http://purl.oclc.org/ooxml/drawingml/picture": _T + "drawingml/2006/picture",
    "http://purl.oclc.org/ooxml/drawingml/chart": _T + "drawingml/2006/chart",
    "http://purl.oclc.org/ooxml/drawingml/diagram": _T + "drawingml/2006/diagram",
    "http://purl.oclc.org/ooxml/drawingml/lockedCanvas": _T + "drawingml/2006/lockedCanvas",
    "http://purl.oclc.org/ooxml/schemaLibrary/main": _T + "schemaLibrary/2006/main",
}.items(), key=lambda kv: -len(kv[0]))
STRICT_TO_TRANSITIONAL: dict[str, str] = dict(_NAMES)
"""The namespace and relationship-type names rewritten, Strict -> Transitional."""


def is_strict(zf: zipfile.ZipFile) -> bool:
    """``True`` when the package relationships (``_rels/.rels``, at most 1 MB read) use Strict names."""
    try:
        with zf.open("_rels/.rels") as member:
            return STRICT_MARK in member.read(2**20)
    except KeyError:
        return False


def to_transitional(data: bytes) -> bytes:
    """The package ``data`` with every Strict name in its XML parts (``.xml``, ``.rels``) replaced by
    the Transitional one; other members are copied unchanged. ``data`` must already have passed
    :func:`dataset_gen.zip_guard.check_zip` (the parts are inflated whole, in memory)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.lower().endswith((".xml", ".rels")) and STRICT_MARK in content:
                for strict, transitional in _NAMES:
                    content = content.replace(strict.encode(), transitional.encode())
            dst.writestr(info.filename, content)
    return out.getvalue()
