"""EPUB and HTML inputs: files built here (zipfile for EPUB), read to exact Markdown."""

from __future__ import annotations

import io
import zipfile

import pytest

from dataset_gen.chunking import split_document
from dataset_gen.config import ChunkSettings
from dataset_gen.documents import detect_kind, parse_bytes
from dataset_gen.errors import CorruptDocumentError, DocumentTooLargeError, UnsupportedDocumentError

CONTAINER = b"""<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""


def _xhtml(body: str, title: str = "Book title") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
            f"<head><title>{title}</title></head><body>{body}</body></html>").encode()


def _epub(files: dict[str, bytes], opf: str, *, mimetype: bool = True, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        if mimetype:
            zf.writestr("mimetype", b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER, compress_type=compress)
        zf.writestr("OEBPS/content.opf", opf.encode(), compress_type=compress)
        for member, content in files.items():
            zf.writestr(member, content, compress_type=compress)
    return buffer.getvalue()


EPUB3_OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Book title</dc:title></metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="c1" href="text/ch%201.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
    <item id="c3" href="text/ch3.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="nav" linear="no"/><itemref idref="c3"/><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""

NAV = _xhtml('<nav epub:type="toc"><h1>Contents</h1><ol>'
             '<li><a href="text/ch3.xhtml">Preface</a></li>'
             '<li><a href="text/ch%201.xhtml#start">One: Fees</a></li>'
             '<li><a href="text/ch2.xhtml">Two: Tables</a></li></ol></nav>')

EPUB3_FILES = {
    "OEBPS/nav.xhtml": NAV,
    "OEBPS/style.css": b"p { color: red }",
    # The preface has no heading: its title comes from the table of contents.
    "OEBPS/text/ch3.xhtml": _xhtml("<p>This book explains fees.</p>"),
    "OEBPS/text/ch 1.xhtml": _xhtml('<section><h1 id="start">Chapter 1</h1><h2>Due   dates</h2>'
                                    "<p>Fees are due on <em>1 May</em>.</p>"
                                    "<ul><li>Filing</li><li>Copies<ol><li>paper</li></ol></li></ul></section>"),
    "OEBPS/text/ch2.xhtml": _xhtml("<h1>Chapter 2</h1><table><tr><th>Item</th><th>Fee</th></tr>"
                                   "<tr><td>Filing</td><td>10</td></tr></table>"
                                   '<pre><code class="language-sh"># not a heading\necho ok</code></pre>'),
}

EPUB3_TEXT = (
    "# Preface\n\nThis book explains fees.\n\n"
    "# Chapter 1\n\n## Due dates\n\nFees are due on 1 May.\n\n- Filing\n- Copies\n    1. paper\n\n"
    "# Chapter 2\n\n| Item | Fee |\n| --- | --- |\n| Filing | 10 |\n\n```sh\n# not a heading\necho ok\n```"
)


def test_epub3_chapters_in_spine_order_with_toc_titles():
    data = _epub(EPUB3_FILES, EPUB3_OPF)
    assert detect_kind(data, "book.epub") == "epub"
    document = parse_bytes(data, "book.epub")
    assert (document.kind, document.text) == ("epub", EPUB3_TEXT)
    # The navigation document is in the spine (non-linear): its table of contents is not book text.
    assert document.warnings == (
        "left out 35 characters of navigation, page headers and footers (not the book's text)",)


def test_epub2_with_ncx_and_no_nav_document():
    opf = """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0">
  <manifest><item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
    <item id="a" href="a.html" media-type="application/xhtml+xml"/>
    <item id="b" href="b.html" media-type="application/xhtml+xml"/></manifest>
  <spine toc="ncx"><itemref idref="b"/><itemref idref="a"/></spine>
</package>"""
    ncx = b"""<?xml version="1.0"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
  <navPoint id="p1"><navLabel><text>Second part</text></navLabel><content src="b.html"/></navPoint>
  <navPoint id="p2"><navLabel><text>First part</text></navLabel><content src="a.html#x"/></navPoint>
</navMap></ncx>"""
    files = {"OEBPS/toc.ncx": ncx, "OEBPS/a.html": _xhtml("<p>Alpha text.</p>"),
             "OEBPS/b.html": _xhtml("<div><p>Beta text.</p></div>")}
    document = parse_bytes(_epub(files, opf), "old.epub")
    assert document.text == "# Second part\n\nBeta text.\n\n# First part\n\nAlpha text."


def test_epub_chunks_are_exact_spans_and_lose_nothing():
    document = parse_bytes(_epub(EPUB3_FILES, EPUB3_OPF), "book.epub")
    for strategy in ("markdown", "recursive", "separator"):
        chunks = split_document(document, ChunkSettings(strategy=strategy, max_chars=60, min_chars=10, overlap=10))
        assert all(c.text == document.text[c.start:c.end] for c in chunks)
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        assert all(i in covered for i, ch in enumerate(document.text) if not ch.isspace())
    chunks = split_document(document, ChunkSettings(strategy="markdown", max_chars=60, min_chars=0, overlap=0))
    assert [c.heading_path for c in chunks][:3] == [("Preface",), ("Chapter 1",), ("Chapter 1", "Due dates")]


def test_epub_bomb_is_refused_before_reading():
    files = dict(EPUB3_FILES)
    files["OEBPS/text/ch2.xhtml"] = _xhtml("<p>" + "a" * (6 * 2**20) + "</p>")
    with pytest.raises(DocumentTooLargeError) as caught:
        parse_bytes(_epub(files, EPUB3_OPF), "bomb.epub")
    message = str(caught.value)
    assert message.startswith("bomb.epub: OEBPS/text/ch2.xhtml inflates ")
    assert message.endswith("refused as a possible zip bomb")


def test_epub_with_an_unknown_compression_method_names_epub():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", b"application/epub+zip")
        zf.writestr("META-INF/container.xml", CONTAINER, compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(UnsupportedDocumentError) as caught:
        parse_bytes(buffer.getvalue(), "bz.epub")
    assert str(caught.value) == (
        "bz.epub: stores META-INF/container.xml with ZIP compression method 12; EPUB books (OCF, EPUB 3.3 §4.2) "
        "use only stored or deflated parts: open it in an EPUB editor such as Calibre, save it again and "
        "upload that, or convert it to PDF")


def test_epub_without_package_document_is_damaged():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", b"application/epub+zip")
        zf.writestr("META-INF/container.xml", CONTAINER)
    with pytest.raises(CorruptDocumentError) as caught:
        parse_bytes(buffer.getvalue(), "empty.epub")
    assert str(caught.value) == ("empty.epub: is a damaged EPUB (OEBPS/content.opf is missing); download it "
                                 "again or convert it to PDF and upload that")


def test_drm_epub_is_refused_by_name():
    files = dict(EPUB3_FILES)
    files["META-INF/encryption.xml"] = (b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                                        b'<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"/></encryption>')
    with pytest.raises(UnsupportedDocumentError) as caught:
        parse_bytes(_epub(files, EPUB3_OPF), "drm.epub")
    assert "DRM-protected EPUB" in str(caught.value)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Fee schedule</title>
<style>body { font: 12px }</style><script>track("x < y");</script></head>
<body>
<header class="site"><a href="/">Home</a> City clerk</header>
<nav><ul><li><a href="/a">About</a></li><li><a href="/b">Contact</a></li></ul></nav>
<main>
<article>
<header><h1>Fees   for 2024</h1><p>Updated in May.</p></header>
<p>Fees are due on <strong>1 May</strong>.<br>Late fees apply.</p>
<p># 5 is the form number, not a heading.</p>
<ol start="3"><li>Filing: <code>$10</code><ul><li>online</li><li>paper</li></ul></li><li>Copies</li></ol>
<table>
<thead><tr><th>Item</th><th>Fee | EUR</th></tr></thead>
<tbody><tr><td rowspan="2">Copy</td><td>1</td></tr><tr><td>2</td></tr>
<tr><td colspan="2">Total on request</td></tr></tbody>
</table>
<pre># shell comment
echo "fee"</pre>
<blockquote><p>Quoted rule.</p></blockquote>
<hr>
<p>Last paragraph.</p>
</article>
</main>
<footer>Copyright 2024 City</footer>
</body></html>
"""

PAGE_TEXT = (
    "# Fees for 2024\n\nUpdated in May.\n\nFees are due on 1 May.\nLate fees apply.\n\n"
    "\\# 5 is the form number, not a heading.\n\n"
    "3. Filing: `$10`\n    - online\n    - paper\n4. Copies\n\n"
    "| Item | Fee \\| EUR |\n| --- | --- |\n| Copy | 1 |\n|  | 2 |\n| Total on request |  |\n\n"
    "```\n# shell comment\necho \"fee\"\n```\n\n> Quoted rule.\n\n---\n\nLast paragraph."
)


@pytest.mark.parametrize("name", ["fees.html", "fees.htm", "fees.txt"])
def test_html_page_becomes_markdown_without_boilerplate(name):
    data = PAGE.encode()
    assert detect_kind(data, name) == "html"
    document = parse_bytes(data, name)
    assert (document.kind, document.encoding) == ("html", "utf-8")
    assert document.text == PAGE_TEXT
    assert document.warnings == (
        "left out 49 characters of navigation, page header and footer (not the page's main content)",)


def test_html_fragment_named_html_without_main_uses_title_when_no_h1():
    data = b"<title>Notes</title><div><h2>Part</h2><p>Body text.</p></div><footer>f</footer>"
    assert detect_kind(data, "notes.htm") == "html"
    document = parse_bytes(data, "notes.htm")
    assert document.text == "# Notes\n\n## Part\n\nBody text."
    assert document.warnings == (
        "left out 1 character of navigation, page header and footer (not the page's main content)",)


def test_markdown_with_inline_html_stays_markdown():
    data = b"# Title\n\n<div align=\"center\">\n<b>x</b>\n</div>\n"
    assert detect_kind(data, "README.md") == "markdown"
    assert detect_kind(b"plain words <b>bold</b>\n", "notes.txt") == "text"
