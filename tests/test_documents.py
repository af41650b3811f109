"""Tests for dataset_gen.documents (with dataset_gen.pdf and dataset_gen.docx_reader).

The real files of tests/data/corpus (see its README.md and SOURCES.tsv) are parsed as they are; the
expected strings were read from the files themselves. Small synthetic inputs (ZIP packages, images,
encodings) are built in the tests.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from dataset_gen.documents import clean_text, detect_kind, parse_bytes, parse_file
from dataset_gen.errors import (
    CorruptDocumentError,
    DocumentError,
    DocumentTooLargeError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextLayerError,
    UnsupportedDocumentError,
)

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
HEADING = re.compile(r" {0,3}#{1,6}[ \t]")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


@functools.cache
def parsed(name: str):
    """Parse a corpus file once per test run."""
    return parse_file(CORPUS / name)


def heading_lines(text: str) -> list[str]:
    """ATX heading lines outside fenced code, inline-code backticks removed."""
    out, fence = [], ""
    for line in text.split("\n"):
        marker = FENCE.match(line)
        if marker:
            if not fence:
                fence = marker.group(1)
            elif marker.group(1)[0] == fence[0] and line.strip() == marker.group(1):
                fence = ""
            continue
        if not fence and HEADING.match(line):
            out.append(line.replace("`", "").strip())
    return out


# --- hostile and broken files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "hint"),
    [
        ("pdf_encrypted_user_password.pdf", EncryptedDocumentError, "password-protected"),
        ("pdf_scanned_image_only.pdf", NoTextLayerError, "ocrmypdf"),
        ("pdf_nonunicode_cmap_garbage.pdf", NoTextLayerError, "--force-ocr"),
        ("pdf_empty_0_bytes.pdf", EmptyDocumentError, "0 bytes"),
        ("pdf_corrupted_0_pages.pdf", CorruptDocumentError, "0 pages"),
        ("doc_legacy_word97_revisions.doc", UnsupportedDocumentError, "save it as .docx"),
    ],
)
def test_hostile_files_raise_one_line_errors_naming_the_file(name, error, hint):
    with pytest.raises(error) as caught:
        parse_file(CORPUS / name)
    message = str(caught.value)
    assert type(caught.value) is error
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    assert hint in message
    assert caught.value.filename == name


def test_legacy_doc_is_named_as_word_97():
    with pytest.raises(UnsupportedDocumentError, match=r"legacy Word 97-2003 document \(\.doc\)"):
        detect_kind((CORPUS / "doc_legacy_word97_revisions.doc").read_bytes(), "x.doc")


def test_zlib_damage_becomes_a_warning_and_prints_nothing(capfd):
    doc = parse_file(CORPUS / "pdf_corrupted_zlib_stream.pdf")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert doc.kind == "pdf" and doc.page_count == 1
    # the print header at the top of the page now reads first, as on the page
    assert doc.text.startswith("## Printed by\n\n")
    assert "Beautiful is better than ugly.\n\nExplicit is better than" in doc.text
    assert doc.warnings == (
        "MuPDF reported problems while reading (some text may be missing): "
        "ignoring zlib error: incorrect data check (×3)",
    )


def test_truncated_docx_is_corrupt():
    data = (CORPUS / "docx_tables_merged_cells.docx").read_bytes()
    with pytest.raises(CorruptDocumentError, match=r"^cut\.docx: is a damaged or truncated"):
        parse_bytes(data[: len(data) // 2], "cut.docx")
    with pytest.raises(CorruptDocumentError):  # found by its "word/" parts, whatever the name
        parse_bytes(data[: len(data) // 2], "upload.bin")


def test_size_limit_names_sizes_in_mb():
    with pytest.raises(DocumentTooLargeError) as caught:
        parse_file(CORPUS / "pdf_long_117p_de_math.pdf", max_bytes=1024 * 1024)
    assert str(caught.value) == (
        "pdf_long_117p_de_math.pdf: is 1.7 MB, above the 1.0 MB limit; split it into smaller "
        "files or raise the limit"
    )
    with pytest.raises(DocumentTooLargeError):
        parse_bytes(b"x" * 11, "a.txt", max_bytes=10)


def test_whitespace_only_text_is_empty():
    with pytest.raises(EmptyDocumentError, match="^blank.txt: holds no text"):
        parse_bytes(b" \r\n\t\n  ", "blank.txt")


# --- type detection --------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for member, content in members.items():
            zf.writestr(member, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}), "a.xlsx",
         "Excel workbook"),
        (_zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"}), "a.pptx",
         "PowerPoint presentation"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.text"}), "a.odt",
         "OpenDocument text file"),
        (_zip({"notes.txt": b"hello"}), "a.zip", "ZIP archive"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "scan.png", "OCR"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "scan.jpg", "OCR"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "scan.webp", "OCR"),
        (b"Hello, this is text.\n", "report.pdf", "not really a PDF"),
        (bytes(range(256)) * 8, "blob.dat", "binary data"),
    ],
    ids=["xlsx", "pptx", "odt", "zip", "png", "jpeg", "webp", "fake-pdf", "binary"],
)
def test_unsupported_types_are_named(data, name, words):
    with pytest.raises(UnsupportedDocumentError) as caught:
        detect_kind(data, name)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{name}: ")


def test_kind_comes_from_bytes_not_name():
    pdf = (CORPUS / "pdf_corrupted_zlib_stream.pdf").read_bytes()
    docx = (CORPUS / "docx_footnotes_endnotes.docx").read_bytes()
    assert detect_kind(pdf, "renamed.txt") == "pdf"
    assert detect_kind(docx, "renamed.zip") == "docx"
    assert detect_kind(b"plain words\n", "a.txt") == "text"
    assert detect_kind(b"plain words\n", "a.md") == "markdown"
    assert detect_kind(b"intro\n\n## Usage\n", "a.txt") == "markdown"
    assert detect_kind(b"```\n# not a heading\n```\n", "a.txt") == "text"
    with pytest.raises(EmptyDocumentError):
        detect_kind(b"", "a.txt")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("md_commonmark_spec_frontmatter.txt", "markdown"),
        ("md_codeblocks_sniffed_as_html.md", "markdown"),
        ("md_frontmatter_mkdocs_admonitions.md", "markdown"),
        ("md_zh_html_tables_longlines.md", "markdown"),
        ("pdf_multicolumn_latex_2col.SOURCE.tex", "text"),
        ("ollama-notes-zh-TW.pdf", "pdf"),
        ("ollama-notes-zh-TW.docx", "docx"),
    ],
)
def test_corpus_kinds(name, kind):
    assert detect_kind((CORPUS / name).read_bytes(), name) == kind


# --- text decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec", "encoding", "phrase"),
    [
        ("txt_big5_zh_hant.txt", "big5", "big5",
         "維基大典（Wikipedia）者，網路為礎；集天下知、四海言、眾人志，書百科焉。"),
        ("txt_gbk_zh_hans_mixed_hant.txt", "gbk", "gb18030",
         "Python（派森）语言是一种功能强大而完善的通用型计算机程序设计语言，"),
        ("txt_cp949_ko.txt", "cp949", "cp949",
         "역사적 예수 연구자들은 복음서나 사도들의 서신서 속의 교리적 예수가 아닌,"),
        ("md_latin1_not_utf8.md", "latin-1", "iso-8859-1", "## können\n\nkönnen\n\näöüß\n"),
    ],
)
def test_legacy_encodings_decode_exactly(name, codec, encoding, phrase):
    doc = parsed(name)
    assert doc.encoding == encoding
    assert doc.text.startswith(phrase)
    assert doc.text == clean_text((CORPUS / name).read_bytes().decode(codec))


def test_traditional_text_in_gbk_file_is_not_converted():
    text = parsed("txt_gbk_zh_hans_mixed_hant.txt").text
    assert "在資訊科技快速發展的今天, 開發及測試軟體的速度是不容忽視的" in text


def test_full_width_punctuation_stays():
    text = parsed("txt_big5_zh_hant.txt").text
    assert "《墨子閒詁》曰︰「維，繫也」" in text


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("\ufeff# 標題\r\n內文（全形）".encode("utf-8"), "utf-8-sig"),
        ("\ufeff# 標題\r\n內文（全形）".encode("utf-16-le"), "utf-16"),
        ("\ufeff# 標題\r\n內文（全形）".encode("utf-16-be"), "utf-16"),
        ("# 標題\r\n內文（全形）".encode(), "utf-8"),
    ],
)
def test_unicode_encodings_and_boms(data, encoding):
    doc = parse_bytes(data, "note.txt")
    assert (doc.kind, doc.encoding, doc.text) == ("markdown", encoding, "# 標題\n內文（全形）")


def test_document_fields():
    data = b"hello\n"
    doc = parse_bytes(data, "C:\\Users\\me\\notes.txt")
    assert doc.name == "notes.txt"
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert (doc.kind, doc.page_starts, doc.page_count, doc.warnings) == ("text", (), None, ())
    assert parse_bytes(data, "some/dir/notes.txt").name == "notes.txt"


# --- cleaning --------------------------------------------------------------------------------


def test_clean_text_rules():
    raw = "a\r\nb\rc\x0cd\x07e\x03\ufb01le \ufb00 \ufb03\ue000x\x00\u3000「全形」\tend"
    assert clean_text(raw) == "a\nb\nc\ndefile ff ffix\u3000「全形」\tend"
    assert clean_text("序\nわ\nた\nく\nし\n\n二行\n目") == "序わたくし\n\n二行\n目"
    assert clean_text("甲\n乙") == "甲\n乙"  # two single-character lines stay
    assert clean_text("ＡＢＣ１２３") == "ＡＢＣ１２３"  # no NFKC


# --- PDF -------------------------------------------------------------------------------------


def test_notes_pdf_pages_and_page_at():
    doc = parsed("ollama-notes-zh-TW.pdf")
    assert doc.kind == "pdf" and doc.encoding is None
    assert len(doc.page_starts) == 13 and doc.page_starts[0] == 0
    assert list(doc.page_starts) == sorted(doc.page_starts)
    assert doc.page_at(doc.text.index("# Ollama 學習筆記")) == 1
    assert doc.page_at(doc.text.index("## MoE（Mixture of Experts）")) == 5
    assert doc.page_at(doc.text.index("## LLaMA-Factory（微調訓練工具）")) == 12


def test_notes_headings_match_across_md_pdf_docx():
    md = heading_lines(parsed("ollama-notes-zh-TW.md").text)
    assert len(md) == 70
    assert md[:4] == ["# Ollama 學習筆記", "## 常用指令", "### 對話中指令",
                      "## Modelfile（模型設定檔）"]
    assert "## Ollama API：/api/generate vs /api/chat" in md  # inline code unmarked
    assert heading_lines(parsed("ollama-notes-zh-TW.docx").text) == md
    # PDF levels come from font sizes (20/15/11.7 pt over a 10 pt body); the inline-code spans of
    # the /api headings are set at body size and monospaced, so they do not decide the size.
    assert heading_lines(parsed("ollama-notes-zh-TW.pdf").text) == md


def test_notes_pdf_tables_and_code_comments():
    text = parsed("ollama-notes-zh-TW.pdf").text
    assert "| 指令 | 說明 |\n| --- | --- |\n| `ollama list` | 列出本機所有模型 |" in text
    assert "| `temperature` | 創意度（越高越隨機） | 0.8 |" in text  # cells glued by MuPDF, cut
    # tables cut by a page break are one table: header alone at the foot of page 5, last row
    # alone at the top of page 12
    assert ("| 模型 | 總參數 | 激活參數 | 說明 |\n| --- | --- | --- | --- |\n"
            "| Mixtral 8x7B | 46.7B | ~12.9B | 每次激活 2/8 專家 |") in text
    assert "| 適用場景 | 指令遵循、任務完成 | 聊天、對話機器人 |\n| 複雜度 | 簡單 | 較複雜 |\n\n" in text
    # the PDF prints three Markdown tables as text, pipes and all, run into a paragraph
    assert ("常用方式：\n\n| 方法 | 說明 |\n| --- | --- |\n"
            "| Google Custom Search API | 官方 API，需申請 API Key |\n"
            "| SerpAPI | 第三方封裝，較方便 |\n| DuckDuckGo API | 免費替代方案 |\n\n") in text
    assert "```\n# 指定基底模型\nFROM llama3" in text  # a code comment is not a heading
    assert "Modelfile（模型設定檔）" in text and "\ufb01" not in text


def test_two_column_latex_reads_column_by_column():
    text = parsed("pdf_multicolumn_latex_2col.pdf").text
    left_end = text.index("Vivamus viverra fermentum felis. Donec nonummy")
    right_start = text.index("pellentesque ante. Phasellus adipiscing semper elit.")
    assert left_end < right_start
    # lipsum paragraphs 1, 2, 3 then 4 (the right column), as in the LaTeX source
    order = ["Lorem ipsum dolor sit amet", "Nam dui ligula, fringilla a", "Nulla malesuada",
             "pellentesque ante.", "Quisque ullamcorper placerat ipsum"]
    positions = [text.index(p) for p in order]
    assert positions == sorted(positions)
    assert "This is a sample document with two columns filled" in text  # ligature expanded


def test_korean_pdf_has_no_control_characters():
    text = parsed("pdf_cjk_ko_tables_ctrlchars.pdf").text
    assert "\x07" not in text
    assert "* 적립 혜택은 매출전표 접수 시점 기준으로 적용" in text
    assert "| 할인점 | 이마트, 이마트 트레이더스, 롯데마트, 홈플러스 |" in text


def test_german_math_pdf_outline_headings_and_no_ligatures():
    doc = parsed("pdf_long_117p_de_math.pdf")
    assert doc.page_count == 117
    assert not re.search("[\ufb00-\ufb06\ue000-\uf8ff\x00-\x08\x0b-\x1f]", doc.text)
    assert "0. Auflage, 31. Dezember 2016" in doc.text
    heads = [(doc.page_at(m.start()), m.group(0))
             for m in re.finditer(r"(?m)^#{1,6} .*$", doc.text)]
    assert heads[:3] == [(6, "# 1 Topologische Grundbegriffe"),
                         (6, "## 1.1 Topologische Räume"), (10, "## 1.2 Metrische Räume")]
    assert (78, "### 4.2.1 Flächeninhalt") in heads
    assert len(heads) == 34  # of 35 outline entries; one title is not printed as such


def test_vertical_japanese_is_joined_into_lines():
    text = parsed("pdf_cjk_ja_vertical_nonembedded.pdf").text
    assert "わたくしといふ現象は\n\n假定された有機交流電燈の\n\nひとつの青い照明です" in text
    assert max(len(line) for line in text.split("\n")) > 10


def test_ruled_table_grid_pdf_becomes_a_pipe_table():
    text = parsed("pdf_table_nics_ruled_grid.pdf").text
    assert "| Alabama | 18,870 | 23,022 | 22,650 | 859 | 1,178 |" in text
    # the title row spanning the grid is a caption line; the column names are the header
    assert text.startswith("NICS Firearm Background Checks November - 2015\n\n"
                           "| State / Territory | Permit | Handgun | Long Gun | *Other |")
    assert sum(1 for line in text.split("\n") if line.startswith("| ---")) == 1


def test_running_headers_are_not_headings():
    heads = heading_lines(parsed("pdf_federal_register_3col_15p.pdf").text)
    # the continued table caption on pages 6-15 is no heading either
    assert heads == ["# Proposed Rules"]


# --- DOCX ------------------------------------------------------------------------------------


def test_docx_merged_cells_are_not_repeated():
    text = parsed("docx_tables_merged_cells.docx").text
    assert "| Cell 1.0 | Merged Cell 1.1 1.2 |  |" in text  # horizontal span
    assert ("| Cell 1.0 | Merged Cell 1.1 2.1 | Cell 1.2 |\n"
            "| Cell 2.0 |  | Cell 2.2 |") in text  # vertical span: continuation cell empty
    assert text.count("Merged Cell 4.4 5.4") == 1


def test_docx_body_order_interleaves_paragraphs_and_tables():
    text = parsed("docx_tables_merged_cells.docx").text
    first = text.index("A uniform table")
    table = text.index("| Header 0.0 | Header 0.1 | Header 0.2 |")
    after = text.index("A non-uniform table with horizontal spans")
    assert first < table < after
    assert text.startswith("# Test with tables\n\nA uniform table\n\n| Header 0.0 |")


def test_docx_headers_and_footers_are_read_once_at_the_end():
    # Tables inside the header and the footer are read; the footer's nested table has a vMerge
    # continuation cell ("I should not be included") that Word hides.
    assert parsed("docx_headers_footers_with_tables.docx").text == (
        "Main document\n\n# Headers and footers\n\n"
        "First header para\n\n| Table cell1 | Table cell2 |\n| --- | --- |\n\nLast header para\n\n"
        "para1\n\n| cell1 | a<br>b; c<br>d; e<br>f |\n| --- | --- |\n\npara2"
    )


def test_docx_headers_linked_to_previous_section_are_not_repeated():
    # Section 2 links every header to section 1 and turns on its first-page header.
    assert parsed("docx_first_page_header_2sections.docx").text == (
        "First page.\n\nSecond (even) page.\n\nThird (odd) page.\n\n"
        "Page 4, First Page of second section.\n\nPage 6, Third page of section 2.\n\n"
        "# Headers and footers\n\nDefault (odd, primary) Header\n\nFirst Page Header (section 2)"
    )


def _strict(data: bytes) -> bytes:
    """``data`` rewritten the way Word saves "Strict Open XML Document": every Transitional
    namespace and relationship type under http://purl.oclc.org/ooxml/, w:conformance="strict"."""
    from dataset_gen.docx_strict import STRICT_TO_TRANSITIONAL

    pairs = sorted(STRICT_TO_TRANSITIONAL.items(), key=lambda kv: -len(kv[1]))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            for strict, transitional in pairs:
                content = content.replace(transitional.encode(), strict.encode())
            if info.filename == "word/document.xml":
                content = content.replace(b"<w:document ", b'<w:document w:conformance="strict" ', 1)
            dst.writestr(info.filename, content)
    return out.getvalue()


@pytest.mark.parametrize("name", ["docx_tables_merged_cells.docx", "docx_headers_footers_with_tables.docx",
                                  "docx_footnotes_endnotes.docx"])
def test_strict_open_xml_docx_reads_like_transitional(name):
    data = (CORPUS / name).read_bytes()
    strict = _strict(data)
    assert b"http://schemas.openxmlformats.org/wordprocessingml" not in zipfile.ZipFile(io.BytesIO(strict)).read(
        "word/document.xml")
    document = parse_bytes(strict, "strict.docx")
    assert document.kind == "docx"
    assert document.text == parse_bytes(data, name).text


def test_docx_footnotes_and_endnotes_follow_the_body():
    assert parsed("docx_footnotes_endnotes.docx").text == (
        "Endnotes and footnotes test\n\nParagraph 1[^1]\n\nParagraph 2[^e1]\n\n# Footnotes\n\n"
        "[^1]: This is a footnote\n\n[^e1]: This is an endnote"
    )


def test_docx_nested_lists_keep_markers_and_levels():
    text = parsed("docx_nested_lists.docx").text
    assert "### Test 3:\n\n- List item 1\n- List item 2\n    - List item 1.1\n" in text
    assert "### Test 2:\n\n1. List item a\n2. List item b\n3. List item c" in text
    assert "- List item 1\n    - List item 1.1\n        - List item 1.1.1\n- List item 3" in text


def test_docx_form_keeps_table_cell_text():
    text = parsed("docx_form_layout_tables_footnote.docx").text
    assert "| 1.Dr J Malins | Gray's School of Art | PRINCIPAL INVESTIGATOR |" in text
    assert "| Proposal Type[^1]: |" in text
    assert text.endswith("# Footnotes\n\n[^1]: EOI – Refers to Expression of Interest or Stage 1 "
                         "applications (FP6) without financial commitment")


def test_docx_notes_tables_and_code():
    text = parsed("ollama-notes-zh-TW.docx").text
    assert "| 指令 | 說明 |\n| --- | --- |\n| ollama list | 列出本機所有模型 |" in text
    assert "```\n# 指定基底模型\nFROM llama3" in text
    assert sum(1 for line in text.split("\n") if line.startswith("| ---")) == 34


def test_every_readable_corpus_file_parses_to_text():
    for path in sorted(CORPUS.iterdir()):
        if path.name in ("README.md", "SOURCES.tsv"):
            continue
        try:
            doc = parsed(path.name)
        except DocumentError:
            continue
        assert doc.text.strip() and doc.name == path.name
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff]", doc.text), path.name


def test_pdf_table_cells_keep_the_word_order_of_mixed_chinese_and_latin():
    text = parse_file(CORPUS / "ollama-notes-zh-TW.pdf").text
    assert "| 從 Modelfile 建立模型 |" in text
    assert "| 支援 PDF、Word、Markdown 等格式 |" in text
    assert "省 API 費用" in text


@pytest.mark.parametrize("name", ["ollama-notes-zh-TW.pdf", "ollama-notes-zh-TW.docx"])
def test_code_samples_become_fenced_blocks_without_escapes(name):
    text = parse_file(CORPUS / name).text
    assert "\\#" not in text
    start = text.index("# 指定基底模型")
    assert text.rfind("```", 0, start) > text.rfind("### 基本結構", 0, start) > 0
    assert "PARAMETER num_ctx 4096\n```" in text


# --- UTF-16 without a byte-order mark ---------------------------------------------------------

_LATIN = "Quarterly report\n\nRevenue rose 12 % in Zürich; costs fell.\n"
_CJK = "季度報告\n\n營收成長 12%，成本下降。\n第二段：東京と서울。\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [_LATIN, _CJK], ids=["latin", "cjk"])
def test_utf16_without_bom_is_decoded(text, codec):
    data = (text * 3).encode(codec)
    assert not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    document = parse_bytes(data, "report.txt")
    assert document.encoding == codec
    assert document.kind == "text"
    assert document.text == text * 3


def test_utf16_without_bom_markdown_heading_is_markdown():
    document = parse_bytes("# 標題\n\n內容 text\n".encode("utf-16-be"), "notes.txt")
    assert (document.kind, document.encoding, document.text) == ("markdown", "utf-16-be", "# 標題\n\n內容 text\n")


def test_binary_with_nuls_at_both_parities_is_still_binary():
    with pytest.raises(UnsupportedDocumentError) as caught:
        detect_kind(bytes(range(256)) * 8, "blob.dat")
    assert "binary data" in str(caught.value)
