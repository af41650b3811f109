"""DOCX text extraction with python-docx, as Markdown, in body order.

The body XML (``word/document.xml``) is walked in document order, so paragraphs and tables come out
interleaved as they are on the page. Heading styles (``Title``, ``Heading 1``–``Heading 6`` or
any style or paragraph with an outline level, ECMA-376 Part 1 §17.3.1.20) become ``#`` lines; list
paragraphs (``w:numPr`` on the paragraph or its style, §17.9) become ``- `` or ``1. `` items
indented four spaces per level; tables become pipe tables. The page headers and footers shown are
read once each and placed under a ``# Headers and footers`` heading after the body (see
:mod:`dataset_gen.docx_headers` for which and why). Footnotes and endnotes (``word/footnotes.xml``/``endnotes.xml``) follow
the body under a ``# Footnotes`` heading, referenced in the text as ``[^1]`` (footnotes) and
``[^e1]`` (endnotes).

Text that Word does not show is left out: deleted revisions (``w:del``), moved-away text, field
instructions (``w:instrText``) and the VML fallback copy of drawings (``mc:Fallback``). Text boxes
inside a paragraph follow that paragraph.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

from lxml import etree

from .documents import ParseCancelled, clean_text, stop_if_asked
from .docx_headers import HEADING, header_footer_blocks
from .docx_strict import is_strict, to_transitional
from .markdown_table import pipe_table
from .zip_guard import check_zip, corrupt_package

__all__ = ["read_docx"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_M = "{http://schemas.openxmlformats.org/officeDocument/2006/math}"

# Elements whose content Word does not display as body text (or that we render elsewhere).
_SKIP = {
    _W + "del", _W + "moveFrom", _W + "delText", _W + "instrText", _MC + "Fallback",
    _W + "pPr", _W + "rPr", _W + "sectPr", _W + "txbxContent", _W + "footnoteRef",
    _W + "endnoteRef", _W + "annotationRef", _W + "commentReference", _W + "delInstrText",
}
_NOTE_SKIP_TYPES = {"separator", "continuationSeparator", "continuationNotice"}
_HEADING_NAME_RE = re.compile(r"^heading\s*([1-9])$", re.I)
_MONOSPACE_FONTS = {"courier new", "courier", "consolas", "menlo", "monaco", "lucida console", "source code pro",
                    "dejavu sans mono", "liberation mono", "cascadia code", "cascadia mono", "fira code",
                    "jetbrains mono", "sf mono", "ubuntu mono", "roboto mono", "noto sans mono", "andale mono"}


def _monospaced(p) -> bool:
    """``True`` when every run of the paragraph that holds text is set in a monospaced font (a code
    sample: it becomes a fenced block, so its ``# comment`` lines are not read as headings)."""
    fonts = []
    for run in p.iter(_W + "r"):
        if not "".join(t.text or "" for t in run.iter(_W + "t")).strip():
            continue
        rpr = run.find(_W + "rPr")
        face = rpr.find(_W + "rFonts") if rpr is not None else None
        fonts.append((face.get(_W + "ascii") or face.get(_W + "hAnsi") or "") if face is not None else "")
    return bool(fonts) and all(f.lower() in _MONOSPACE_FONTS for f in fonts)


def _fenced(text: str) -> str:
    """``text`` as a fenced code block, the fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


_HEADING_LIKE_RE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$))", re.M)

def read_docx(
    data: bytes, name: str, *, max_bytes: int, should_stop: Callable[[], bool] | None = None
) -> tuple[str, tuple[str, ...]]:
    """Extract ``(text, warnings)`` from DOCX bytes; ``text`` is cleaned Markdown.

    A Strict Open XML package (ISO/IEC 29500 Strict, Word's "Strict Open XML Document") is read
    through :func:`dataset_gen.docx_strict.to_transitional`. The package passes :func:`check_zip` first (``max_bytes``, the upload limit in bytes, can
    raise the total inflated limit), so python-docx never opens a ZIP bomb. ``should_stop`` is
    asked between ZIP members while checking, before python-docx opens the package, and before
    each top-level block (paragraph or table) of the body; keep it cheap (the 872-page handbook
    has about 8,000 blocks). ``warnings`` is currently always empty (kept for symmetry with PDFs).

    Raises :class:`CorruptDocumentError` when the package or its XML cannot be read (damaged or
    truncated file); :class:`DocumentTooLargeError` and :class:`UnsupportedDocumentError` from
    :func:`check_zip`; :class:`ParseCancelled` when ``should_stop()`` returns true.
    """
    from docx import Document as open_docx  # python-docx

    check_zip(data, name, max_bytes=max_bytes, should_stop=should_stop)
    stop_if_asked(should_stop, name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if is_strict(zf):
                data = to_transitional(data)
        doc = open_docx(io.BytesIO(data))
        reader = _Reader(doc)
        stop = (lambda: stop_if_asked(should_stop, name)) if should_stop is not None else None
        body = reader.blocks(doc.element.body, stop)
        notes = reader.notes(doc.part)
        margins = header_footer_blocks(doc, reader)
    except ParseCancelled:
        raise
    except Exception as exc:  # python-docx/lxml/zipfile raise many types on damaged packages
        raise corrupt_package(name, exc) from None
    parts = body + ([HEADING, *margins] if margins else []) + (["# Footnotes", "\n\n".join(notes)] if notes else [])
    return clean_text("\n\n".join(p for p in parts if p.strip())), ()


def _int(value: str | None, default: int) -> int:
    """``value`` as an integer, or ``default`` when it is missing or not a number."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _val(el, path: str) -> str | None:
    """``w:val`` of the element at ``path`` (``/``-separated ``w:`` tags under ``el``) or None."""
    for tag in path.split("/"):
        if el is None:
            return None
        el = el.find(_W + tag)
    return None if el is None else el.get(_W + "val")


class _Reader:
    """Walks one document's body; keeps style, numbering and list-counter state."""

    def __init__(self, doc):
        self.styles: dict[str, tuple[int, tuple[str, int] | None]] = {}
        self.default_style = None
        self._load_styles(doc.styles.element)
        self.formats: dict[tuple[str, int], tuple[str, int]] = {}
        self._load_numbering(doc.part)
        self.counters: dict[str, list[int]] = {}
        self.headings = True  # False while reading headers and footers: heading styles stay plain

    # --- styles and numbering ----------------------------------------------------------------

    def _load_styles(self, root) -> None:
        raw: dict[str, tuple[str, str | None, str | None, tuple[str, str] | None]] = {}
        for st in root.iter(_W + "style"):
            if st.get(_W + "type") not in (None, "paragraph"):
                continue
            sid = st.get(_W + "styleId") or ""
            name = (_val(st, "name") or "").strip().lower()
            outline = _val(st, "pPr/outlineLvl")
            num = st.find(f"{_W}pPr/{_W}numPr")
            declared = None
            if num is not None:
                declared = (_val(num, "numId") or "0", _val(num, "ilvl") or "0")
            raw[sid] = (name, outline, _val(st, "basedOn"), declared)
            if st.get(_W + "default") in ("1", "true"):
                self.default_style = sid
        for sid in raw:
            level, seen = 0, set()
            num_pr: tuple[str, int] | None = None
            cur: str | None = sid
            name = raw[sid][0]
            m = _HEADING_NAME_RE.match(name)
            if m:
                level = int(m.group(1))
            elif name == "title":
                level = 1
            while cur in raw and cur not in seen:  # inherit along w:basedOn (§17.7.4.3)
                seen.add(cur)
                _, outline, based_on, own_num = raw[cur]
                if not level and outline is not None and outline.isdigit() and int(outline) < 9:
                    level = int(outline) + 1
                if num_pr is None and own_num is not None:
                    num_pr = (own_num[0], int(own_num[1]) if own_num[1].isdigit() else 0)
                cur = based_on
            if num_pr is None and name.startswith(("list bullet", "list number")):
                digit = name[-1]
                num_pr = ("bullet" if "bullet" in name else "number",
                          int(digit) - 1 if digit.isdigit() else 0)
            self.styles[sid] = (min(level, 6), num_pr)

    def _load_numbering(self, part) -> None:
        root = None
        for rel in part.rels.values():
            if rel.reltype.endswith("/numbering") and not rel.is_external:
                root = etree.fromstring(rel.target_part.blob, _PARSER)
        if root is None:
            return
        abstract: dict[str, dict[int, tuple[str, int]]] = {}
        for an in root.iter(_W + "abstractNum"):
            levels = {}
            for lvl in an.iter(_W + "lvl"):
                ilvl = _int(lvl.get(_W + "ilvl"), 0)
                start = _val(lvl, "start")
                levels[ilvl] = (_val(lvl, "numFmt") or "decimal",
                                _int(start, 1))
            abstract[an.get(_W + "abstractNumId")] = levels
        for num in root.iter(_W + "num"):
            nid = num.get(_W + "numId")
            levels = dict(abstract.get(_val(num, "abstractNumId") or "", {}))
            for ov in num.iter(_W + "lvlOverride"):
                start = _val(ov, "startOverride")
                ilvl = _int(ov.get(_W + "ilvl"), 0)
                if start and start.isdigit():
                    levels[ilvl] = (levels.get(ilvl, ("decimal", 1))[0], int(start))
            for ilvl, fmt in levels.items():
                self.formats[nid, ilvl] = fmt

    # --- body --------------------------------------------------------------------------------

    def blocks(self, container, stop: Callable[[], None] | None = None) -> list[str]:
        """Markdown blocks of a body, cell or note container, in document order; ``stop`` (if
        given) is called before each child and may raise to end the walk."""
        out: list[str] = []
        for child in container:
            if stop is not None:
                stop()
            tag = child.tag
            if tag == _W + "p":
                self._paragraph(child, out)
            elif tag == _W + "tbl":
                out.extend(self._table(child))
            elif tag in (_W + "sdt", _W + "customXml"):
                content = child.find(_W + "sdtContent") if tag == _W + "sdt" else child
                if content is not None:
                    out.extend(self.blocks(content))
        return _merge_lists(out)

    def _paragraph(self, p, out: list[str]) -> None:
        boxes: list = []
        text = _run_text(p, boxes).strip("\n")
        ppr = p.find(_W + "pPr")
        style = _val(ppr, "pStyle") or self.default_style or ""
        level, num_pr = self.styles.get(style, (0, None))
        outline = _val(ppr, "outlineLvl")
        if outline is not None and outline.isdigit():
            level = int(outline) + 1 if int(outline) < 9 else 0
        num = ppr.find(_W + "numPr") if ppr is not None else None
        if num is not None:
            ilvl = _val(num, "ilvl")
            num_pr = (_val(num, "numId") or "0", int(ilvl) if ilvl and ilvl.isdigit() else 0)
        if text.strip():
            if level and self.headings:
                out.append("#" * min(level, 6) + " " + " ".join(text.split()))
            elif num_pr and num_pr[0] != "0":
                out.append(_LIST_MARK + self._list_item(num_pr, text))
            elif _monospaced(p):
                out.append(_fenced(text))
            else:
                out.append(_HEADING_LIKE_RE.sub(r"\1\\\2", text))
        for box in boxes:
            out.extend(self.blocks(box))

    def _list_item(self, num_pr: tuple[str, int], text: str) -> str:
        num_id, ilvl = num_pr[0], min(max(num_pr[1], 0), 8)
        fmt, start = self.formats.get((num_id, ilvl), ("bullet" if num_id == "bullet" else
                                                       "decimal", 1))
        counters = self.counters.setdefault(num_id, [0] * 9)
        for deeper in range(ilvl + 1, 9):  # a new item restarts the levels below it
            counters[deeper] = 0
        counters[ilvl] = counters[ilvl] + 1 if counters[ilvl] else start
        marker = "- " if fmt in ("bullet", "none") else f"{counters[ilvl]}. "
        indent = "    " * ilvl
        body = text.replace("\n", "\n" + indent + " " * len(marker))
        return indent + marker + _HEADING_LIKE_RE.sub(r"\1\\\2", body)

    # --- tables ------------------------------------------------------------------------------

    def _table(self, tbl) -> list[str]:
        rows: list[list[str]] = []
        for tr in _children(tbl, "tr"):
            trpr = tr.find(_W + "trPr")
            row = [""] * min(_int(_val(trpr, "gridBefore"), 0), 64)
            for tc in _children(tr, "tc"):
                span = min(_int(_val(tc.find(_W + "tcPr"), "gridSpan"), 1), 64)
                # A merged cell is one w:tc: its text goes in its first grid column only, and
                # vertical-merge continuation cells stay empty (§17.4.85), so nothing repeats.
                row.append("" if _continued(tc) else self._cell(tc))
                row.extend([""] * (max(span, 1) - 1))
            rows.append(row)
        rows = [r for r in rows if any(c.strip() for c in r)]
        if not rows:
            return []
        width = max(len(r) for r in rows)
        if width == 1 and len(rows) == 1:  # a boxed paragraph, not a table
            return self.blocks(next(_children(tbl, "tr")).find(_W + "tc"))
        return [pipe_table(rows)]

    def _cell(self, tc) -> str:
        """One cell's text on one line: paragraphs and nested-table rows joined by ``<br>``."""
        pieces: list[str] = []
        for child in tc:
            if child.tag == _W + "p":
                boxes: list = []
                pieces.append(_run_text(child, boxes))
                pieces.extend(" ".join(self.blocks(b)) for b in boxes)
            elif child.tag == _W + "tbl":  # nested table: rows as lines, cells split by "; "
                for tr in _children(child, "tr"):
                    pieces.append("; ".join(c for c in (self._cell(tc) for tc in _children(tr, "tc")
                                                        if not _continued(tc)) if c))
            elif child.tag in (_W + "sdt", _W + "customXml"):
                pieces.append(" ".join(self.blocks(child.find(_W + "sdtContent")
                                                   if child.tag == _W + "sdt" else child)))
        text = "<br>".join(" ".join(p.split("\n")).strip() for p in pieces if p.strip())
        return text.replace("|", "\\|")

    # --- notes -------------------------------------------------------------------------------

    def notes(self, part) -> list[str]:
        """``[^id]: text`` lines for footnotes, then ``[^eid]: text`` for endnotes."""
        out: list[str] = []
        for kind, prefix in (("footnotes", ""), ("endnotes", "e")):
            for rel in part.rels.values():
                if rel.is_external or not rel.reltype.endswith("/" + kind):
                    continue
                root = etree.fromstring(rel.target_part.blob, _PARSER)
                for note in root:
                    if note.get(_W + "type") in _NOTE_SKIP_TYPES:
                        continue
                    text = " ".join(" ".join(b.split()) for b in self.blocks(note))
                    if text:
                        out.append(f"[^{prefix}{note.get(_W + 'id')}]: {text}")
        return out


_LIST_MARK = "\x00list\x00"  # tags list items until _merge_lists joins consecutive ones
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _merge_lists(blocks: list[str]) -> list[str]:
    """Join consecutive list items with single newlines (one tight Markdown list)."""
    out: list[str] = []
    in_list = False
    for block in blocks:
        if block.startswith(_LIST_MARK):
            item = block[len(_LIST_MARK):]
            if in_list:
                out[-1] += "\n" + item
            else:
                out.append(item)
            in_list = True
        else:
            out.append(block)
            in_list = False
    return out


def _continued(tc) -> bool:
    """``True`` for a merge continuation cell (``w:vMerge`` without ``restart``, §17.4.85, or
    ``w:hMerge="continue"``): Word shows the first cell's text there and hides its own."""
    tcpr = tc.find(_W + "tcPr")
    if tcpr is None:
        return False
    vmerge = tcpr.find(_W + "vMerge")
    return (vmerge is not None and vmerge.get(_W + "val") in (None, "continue")) or _val(tcpr, "hMerge") == "continue"


def _children(el, tag: str):
    """Direct ``w:tag`` children of ``el``, looking through content controls and custom XML."""
    for child in el:
        if child.tag == _W + tag:
            yield child
        elif child.tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                yield from _children(content, tag)
        elif child.tag == _W + "customXml":
            yield from _children(child, tag)


def _run_text(el, boxes: list) -> str:
    """Visible text under ``el``; text-box contents are appended to ``boxes`` instead."""
    out: list[str] = []
    _collect(el, out, boxes)
    return "".join(out)


def _collect(el, out: list[str], boxes: list) -> None:
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        if tag == _W + "t" or tag == _M + "t":
            out.append(child.text or "")
        elif tag == _W + "tab" or tag == _W + "ptab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        elif tag == _W + "sym":
            code = child.get(_W + "char") or ""
            try:
                out.append(chr(int(code, 16)))
            except ValueError:
                pass
        elif tag == _W + "footnoteReference":
            out.append(f"[^{child.get(_W + 'id')}]")
        elif tag == _W + "endnoteReference":
            out.append(f"[^e{child.get(_W + 'id')}]")
        elif tag == _W + "txbxContent":
            boxes.append(child)
        elif tag == _W + "p":  # a paragraph nested inside runs (rare): keep it on its own line
            out.append("\n")
            _collect(child, out, boxes)
        elif tag not in _SKIP:
            _collect(child, out, boxes)
