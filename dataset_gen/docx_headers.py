"""Page headers and footers of a DOCX, each read once.

A Word section names up to three headers and three footers (``w:headerReference`` /
``w:footerReference`` of type ``default``, ``first`` and ``even``, ECMA-376 Part 1 §17.10); a type
it does not name is inherited from the previous section ("linked to previous", §17.10.5). A
``first`` header is shown only in a section with ``w:titlePg`` (§17.10.6), an ``even`` one only
when the settings hold ``w:evenAndOddHeaders`` (§17.15.1.35). The headers and footers actually
shown are read in the order they first appear (headers before footers within a section), each
part once, and a part whose text repeats one already read is left out, so a header linked through
ten sections appears once.

Why they are kept rather than dropped: in real documents they carry what a reader uses to place the
page (document title, version, owner, confidentiality, a revision table), and read once they cost a
few lines. They are set apart under a ``# Headers and footers`` heading at the end of the text (like
the footnotes), so no body chunk is interrupted by them; headings inside them become plain lines.
The cached results of page-number fields (``PAGE``, ``NUMPAGES``, ``SECTIONPAGES``) are left out:
they name one page only.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["HEADING", "header_footer_blocks"]

HEADING = "# Headers and footers"
"""The heading the header and footer text is placed under, at the end of the document text."""

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_KINDS = ("first", "default", "even")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _shown_parts(body, even_and_odd: bool) -> list[str]:
    """Relationship ids of the headers and footers shown, in order of first appearance."""
    inherited: dict[tuple[str, str], str] = {}
    order: list[str] = []
    for sect in body.iter(_W + "sectPr"):
        if sect.getparent() is not None and sect.getparent().tag == _W + "sectPrChange":
            continue  # the section properties before a tracked change, not shown
        for what in ("header", "footer"):
            for ref in sect.findall(f"{_W}{what}Reference"):
                inherited[what, ref.get(_W + "type") or "default"] = ref.get(_R_ID) or ""
        title_page = sect.find(_W + "titlePg")
        first_shown = title_page is not None and title_page.get(_W + "val") not in ("0", "false", "off")
        for what in ("header", "footer"):
            for kind in _KINDS:
                shown = kind == "default" or (kind == "first" and first_shown) or (kind == "even" and even_and_odd)
                rid = inherited.get((what, kind))
                if shown and rid and rid not in order:
                    order.append(rid)
    return order


_PAGE_FIELDS = ("PAGE", "NUMPAGES", "SECTIONPAGES")


def _drop_page_numbers(root) -> None:
    """Remove the cached results of page-number fields under ``root``, simple (``w:fldSimple``)
    and complex (the runs between ``w:fldChar`` ``separate`` and ``end``, §17.16.18)."""
    for simple in list(root.iter(_W + "fldSimple")):
        instr = (simple.get(_W + "instr") or "").split()
        if instr and instr[0].upper() in _PAGE_FIELDS and simple.getparent() is not None:
            simple.getparent().remove(simple)
    stack: list[list] = []  # per open field: [instruction text, in result part]
    for el in list(root.iter(_W + "fldChar", _W + "instrText", _W + "t")):
        if el.tag == _W + "fldChar":
            kind = el.get(_W + "fldCharType")
            if kind == "begin":
                stack.append(["", False])
            elif kind == "separate" and stack:
                stack[-1][1] = True
            elif kind == "end" and stack:
                stack.pop()
        elif el.tag == _W + "instrText":
            if stack and not stack[-1][1]:
                stack[-1][0] += el.text or ""
        elif any(result and instr.split()[:1] and instr.split()[0].upper() in _PAGE_FIELDS
                 for instr, result in stack):
            el.text = ""


def header_footer_blocks(doc, reader) -> list[str]:
    """Markdown blocks of the headers and footers shown in ``doc`` (a python-docx ``Document``),
    each distinct text once, read with ``reader`` (the body's ``_Reader``, for styles, numbering and
    tables). Empty when the document shows none or they hold no text."""
    settings = doc.settings.element
    flag = settings.find(_W + "evenAndOddHeaders")
    even_and_odd = flag is not None and flag.get(_W + "val") not in ("0", "false", "off")
    rels = doc.part.rels
    seen: set[str] = set()
    out: list[str] = []
    for rid in _shown_parts(doc.element.body, even_and_odd):
        rel = rels.get(rid)
        if rel is None or rel.is_external:
            continue
        root = etree.fromstring(rel.target_part.blob, _PARSER)
        _drop_page_numbers(root)
        reader.headings = False
        try:
            blocks = [b for b in reader.blocks(root) if b.strip()]
        finally:
            reader.headings = True
        text = "\n\n".join(blocks)
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out
