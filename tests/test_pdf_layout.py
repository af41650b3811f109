"""PDF layout: reading order, running headers, footnotes, headings, word spaces, fake bold,
hyphenation and code blocks (dataset_gen.pdf with pdf_layout, pdf_text, pdf_headings).

Real corpus files where one shows the problem; otherwise the test writes the PDF with PyMuPDF.
"""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf

from dataset_gen.chunking import split_document
from dataset_gen.config import ChunkSettings
from dataset_gen.documents import parse_bytes, parse_file

CORPUS = Path(__file__).parent / "data" / "corpus"
FEDERAL = CORPUS / "pdf_federal_register_3col_15p.pdf"


def _pdf(draw) -> bytes:
    doc = pymupdf.open()
    draw(doc)
    data = doc.tobytes()
    doc.close()
    return data


# --- reading order ---------------------------------------------------------------------------


def test_right_column_drawn_first_reads_after_the_left_column():
    left = ["Left column one.", "Left column two.", "Left column three."]
    right = ["Right column one.", "Right column two.", "Right column three."]

    def draw(doc):
        page = doc.new_page()
        page.insert_text((72, 60), "A Title Across Both Columns", fontsize=11)
        for k, line in enumerate(right):  # the right column is drawn first
            page.insert_text((320, 100 + 14 * k), line, fontsize=11)
        for k, line in enumerate(left):
            page.insert_text((72, 100 + 14 * k), line, fontsize=11)

    text = parse_bytes(_pdf(draw), "cols.pdf").text
    assert text == ("A Title Across Both Columns\n\n" + "\n".join(left) + "\n\n"
                    + "\n".join(right) + "\n\n")


def test_federal_register_running_headers_are_left_out_per_page():
    doc = parse_file(FEDERAL)
    assert "Federal Register / Vol. 85" not in doc.text
    assert "VerDate Sep<11>2014" not in doc.text and "jbell on DSKJLSW7X2PROD" not in doc.text
    assert len(doc.left_out) == 15
    assert doc.left_out[1] == (2, "47699\nFederal Register / Vol. 85, No. 152 / Thursday, August 6,"
                                  " 2020 / Proposed Rules\nVerDate Sep<11>2014 16:21 Aug 05, 2020 Jkt "
                                  "250001 PO 00000 Frm 00002 Fmt 4702 Sfmt 4702 E:\\FR\\FM\\06AUP1.SGM "
                                  "06AUP1\njbell on DSKJLSW7X2PROD with PROPOSALS")
    chunks = split_document(doc, ChunkSettings())
    assert not any("Federal Register / Vol. 85" in doc.text[c.start:c.end] for c in chunks)
    assert "".join(doc.text[c.start:c.end] for c in chunks if c.start >= 0) or chunks


def test_federal_register_page_2_footnotes_follow_the_body():
    doc = parse_file(FEDERAL)
    page2 = doc.text[doc.page_starts[1]:doc.page_starts[2]]
    assert page2.startswith("Hatta International Airport in Jakarta,\nIndonesia, resulting in "
                            "189 fatalities.")
    body_end = page2.index("In addition to these four design\nchanges, the FAA also proposes to")
    note = page2.index("[^1]: Preliminary KNKT.18.10.35.04 Aircraft\nAccident Investigation Report")
    assert body_end < note
    assert "operator. Reports[^1] from the accident" in page2
    assert "altitude disagree alert,[^5] and may affect" in page2
    assert "alert,5" not in doc.text


# --- headings --------------------------------------------------------------------------------


def test_larger_chinese_sentences_and_ocr_noise_are_not_headings():
    body = "本公司主要從事電子零件之製造與銷售業務，產品廣泛應用於各類消費性電子產品。"
    lines = [
        (18, "第一章 公司概況"),
        (10, body), (10, body), (10, body),
        (11.5, "本公司最近三年度之營業收入均呈現穩定成長，獲利能力良好。"),  # a sentence
        (10, body), (10, body),
        (11.5, "風險事項"),
        (10, body), (10, body), (10, body),
        (11.5, "~~ ;i' ,, lI :: ^^"),  # a bad OCR layer's noise
        (10, body), (10, body),
    ]

    def draw(doc):
        page = doc.new_page()
        y = 60.0
        for size, text in lines:
            page.insert_text((50, y), text, fontname="china-t", fontsize=size)
            y += size * 2.2

    text = parse_bytes(_pdf(draw), "prospectus.pdf").text
    assert re.findall(r"(?m)^#+ .*$", text) == ["# 第一章 公司概況", "## 風險事項"]
    assert "本公司最近三年度之營業收入均呈現穩定成長，獲利能力良好。" in text


# --- characters ------------------------------------------------------------------------------


def _fake_bold_pdf() -> bytes:
    """Times-Roman drawn twice per glyph, 0.35 pt apart; \\256 and \\257 are the fi and fl
    ligature glyphs of StandardEncoding."""
    font = pymupdf.Font("tiro")
    glyphs = [("P", "P"), ("\ufb01", "\\256"), ("z", "z"), ("e", "e"), ("r", "r"), (" ", " "),
              ("\ufb02", "\\257"), ("o", "o"), ("w", "w")]
    ops = ["BT /F1 14 Tf"]
    x = 72.0
    for ch, code in glyphs:
        for dx in (0.0, 0.35):
            ops.append(f"1 0 0 1 {x + dx:.2f} 700 Tm ({code}) Tj")
        x += 14 * 0.556 if ch in "\ufb01\ufb02" else font.text_length(ch, fontsize=14)
    ops.append("ET")
    doc = pymupdf.open()
    page = doc.new_page()
    font_xref = doc.get_new_xref()
    doc.update_object(font_xref, "<</Type/Font/Subtype/Type1/BaseFont/Times-Roman>>")
    contents = doc.get_new_xref()
    doc.update_object(contents, "<<>>")
    doc.update_stream(contents, "\n".join(ops).encode())
    doc.xref_set_key(page.xref, "Contents", f"{contents} 0 R")
    doc.xref_set_key(page.xref, "Resources", f"<</Font<</F1 {font_xref} 0 R>>>>")
    data = doc.tobytes()
    doc.close()
    return data


def test_fake_bold_duplicates_are_removed_without_breaking_ligatures():
    assert parse_bytes(_fake_bold_pdf(), "bold.pdf").text == "Pfizer flow\n\n"


def test_fake_bold_corpus_pdf_has_no_doubled_characters():
    text = parse_file(CORPUS / "pdf_cjk_zh_fake_bold_dupchars.pdf").text
    assert "负责四川省甘孜州丹巴磨子电站引水隧洞爆破方案优化设计" in text
    assert "负负" not in text and "责责" not in text


def test_korean_words_placed_apart_get_spaces():
    words = ["2023년", "중", "세계", "경제는", "둔화될", "전망이다."]

    def draw(doc):
        page = doc.new_page()
        x = 72.0
        for word in words:  # the built-in Korean font sets every glyph 1 em (12 pt) wide
            page.insert_text((x, 100), word, fontname="korea", fontsize=12)
            x += 12 * len(word) + 4

    assert parse_bytes(_pdf(draw), "ko.pdf").text == "2023년 중 세계 경제는 둔화될 전망이다.\n\n"


def test_latex_hyphenation_is_joined():
    text = parse_file(CORPUS / "pdf_multicolumn_latex_2col.pdf").text
    assert not re.search(r"[a-z]-\n[a-z]", text)
    for word in ("adipiscing", "consectetuer", "tristique", "rhoncus", "Curabitur", "sollicitudin"):
        assert word in text
    assert "adip-" not in text and "Vestibu-" not in text


def test_hyphen_rules_keep_identifiers_and_capitals_and_join_cjk():
    lines = ["Lorem ipsum dolor adip-", "iscing elit and Jean-", "Paul with llama3.1:8b-",
             "instruct here", "中文的換行不應", "出現空格。"]

    def draw(doc):
        page = doc.new_page()
        for k, line in enumerate(lines):
            page.insert_text((72, 100 + 14 * k), line, fontname="china-t", fontsize=11)

    assert parse_bytes(_pdf(draw), "h.pdf").text == (
        "Lorem ipsum dolor adipiscing elit and Jean-\nPaul with llama3.1:8b-instruct here\n"
        "中文的換行不應出現空格。\n\n")


# --- code blocks -----------------------------------------------------------------------------


def test_notes_pdf_code_blocks_are_fenced_like_the_markdown():
    text = parse_file(CORPUS / "ollama-notes-zh-TW.pdf").text
    fences = re.findall(r"(?m)^```\n", text)
    assert len(fences) == 60  # 30 code blocks, each opened and closed
    assert "```\n模型大小 = 參數量(B) × 每參數位元組數\n```" in text
    # monospaced words in a line of prose are inline code, as the Markdown has them
    assert "模型名稱中的 `7b`、`8b`、`13b`、`70b` 代表參數量（十億）。" in text
    assert "## Ollama API：`/api/generate` vs `/api/chat`" in text.splitlines()
    assert "### `/api/chat` 範例" in text.splitlines()


# --- tables ----------------------------------------------------------------------------------


def test_notes_pdf_table_cells_keep_their_order():
    text = parse_file(CORPUS / "ollama-notes-zh-TW.pdf").text
    # MuPDF glued "整數" and "4-bit" into one word across the cell border
    assert "| INT4 | 整數 | 4-bit 整數 | 範圍固定，簡單 |" in text
    assert "| `lora_target` | 插在哪些模組 | q_proj,v_proj |" in text  # monospaced cell: inline code
    # a framed table whose cells are one MuPDF line each (no tight block geometry)
    assert ("| 版本 | 說明 |\n| --- | --- |\n| K_S | Small，體積最小，品質稍差 |\n"
            "| K_M | Medium，官方推薦，平衡首選 |") in text


# --- tables cut by a page break ----------------------------------------------------------------


def test_table_rows_at_the_top_of_a_page_continue_the_table_of_the_page_before():
    # ollama-notes-zh-TW.pdf: pages 6, 10 and 13 start with the rest of a ruled table whose top
    # rule is on the page before; those rows lie in the top 10 % of the page (where running
    # headers are looked for) and have no rule above them. They are body rows of the table begun
    # on the page before (one pipe table, header once), not a table headed by a data row.
    doc = parse_file(CORPUS / "ollama-notes-zh-TW.pdf")
    text = doc.text
    assert ("| 模型 | 總參數 | 激活參數 | 說明 |\n| --- | --- | --- | --- |\n"
            "| Mixtral 8x7B | 46.7B | ~12.9B | 每次激活 2/8 專家 |\n"
            "| Mixtral 8x22B | 141B | ~39B | 每次激活 2/8 專家 |\n") in text
    assert ("| 最小 | Q, V | 最常見，通常夠用 |\n| 標準 | Q, K, V, O | 效果更好 |\n"
            "| 完整 | Q, K, V, O + FFN | 參數較多 |\n\n") in text
    assert ("| 多種微調方式 | Full、Freeze、LoRA、QLoRA（2/3/4/5/6/8-bit） |\n"
            "| 有 Web UI | LlamaBoard 圖形介面，不用寫程式 |\n") in text
    assert [doc.page_at(text.index(row)) for row in
            ("| Mixtral 8x7B", "| 標準 |", "| 有 Web UI")] == [6, 10, 13]
    assert sum(1 for ln in text.split("\n") if ln.startswith("| ---")) == 34  # as the DOCX


def _ruled_grid(page, y0: float, rows: list[list[str]], xs=(72, 200, 330), h: float = 20,
                title: bool = False) -> None:
    writer = pymupdf.TextWriter(page.rect)  # one text object: a row's cells are one block
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            writer.append((xs[c] + 4, y0 + r * h + 14), cell, fontsize=10)
    writer.write_text(page)
    for r in range(len(rows) + 1):
        page.draw_line((xs[0], y0 + r * h), (xs[-1], y0 + r * h), width=0.5)
    for x in xs:  # a title row has no inner column rules
        top = y0 + h if title and x not in (xs[0], xs[-1]) else y0
        page.draw_line((x, top), (x, y0 + len(rows) * h), width=0.5)


def _header_alone_at_the_foot(xs_next) -> bytes:
    def draw(doc):
        page = doc.new_page()
        page.insert_text((72, 100), "Prices of fruit, in the table below.", fontsize=10)
        _ruled_grid(page, 770, [["Fruit", "Price"]])
        page = doc.new_page()
        _ruled_grid(page, 40, [["Apple", "1.20"], ["Pear", "0.90"], ["Plum", "2.10"]], xs=xs_next)
        page.insert_text((72, 200), "After the table.", fontsize=10)
    return _pdf(draw)


def test_header_row_alone_at_a_page_foot_heads_the_rows_on_the_next_page():
    doc = parse_bytes(_header_alone_at_the_foot((72, 200, 330)), "fruit.pdf")
    assert doc.text == ("Prices of fruit, in the table below.\n\n| Fruit | Price |\n| --- | --- |\n"
                        "| Apple | 1.20 |\n| Pear | 0.90 |\n| Plum | 2.10 |\n\nAfter the table.\n\n")
    assert doc.page_starts == (0, 70)
    assert doc.text[70:].startswith("| Apple | 1.20 |")  # the page break falls inside the table


def test_one_row_grid_with_other_columns_than_the_next_table_stays_text():
    doc = parse_bytes(_header_alone_at_the_foot((72, 250, 330)), "fruit.pdf")
    assert doc.text == ("Prices of fruit, in the table below.\n\nFruit\nPrice\n\n| Apple | 1.20 |\n"
                        "| --- | --- |\n| Pear | 0.90 |\n| Plum | 2.10 |\n\nAfter the table.\n\n")


# --- Markdown tables printed as text ---------------------------------------------------------


def _one_paragraph(lines: list[str]) -> bytes:
    def draw(doc):
        page = doc.new_page()
        for k, line in enumerate(lines):
            page.insert_text((72, 100 + 13 * k), line, fontsize=10)
    return _pdf(draw)


def test_markdown_table_printed_in_a_paragraph_with_a_short_row_stays_text():
    lines = ["Common names: | Name | Meaning | |------|:---:| | llama3.1:8b | default |",
             "| qwen2:7b | small | | phi3 |"]  # the last row has one cell, not two
    assert parse_bytes(_one_paragraph(lines), "t.pdf").text == "\n".join(lines) + "\n\n"


def test_markdown_table_rows_of_exactly_n_cells_become_a_pipe_table():
    text = parse_bytes(_one_paragraph([
        "Common names: | Name | Meaning | |------|:---:| | llama3.1:8b | default |",
        "| qwen2:7b | small model |"]), "t.pdf").text
    assert text == ("Common names:\n\n| Name | Meaning |\n| --- | --- |\n| llama3.1:8b | default |\n"
                    "| qwen2:7b | small model |\n\n")


def test_prose_with_a_stray_pipe_or_dashes_is_untouched():
    lines = ["Use a | b to pipe output -- or |---| as a rule.", "Choose left | right here."]
    assert parse_bytes(_one_paragraph(lines), "t.pdf").text == "\n".join(lines) + "\n\n"


def _titled_grid(title: bool) -> str:
    def draw(doc):
        _ruled_grid(doc.new_page(), 100, [["Fruit prices 2015", ""], ["Fruit", "Price"],
                                          ["Apple", "1.20"], ["Pear", "0.90"]], title=title)
    return parse_bytes(_pdf(draw), "t.pdf").text


def test_title_row_spanning_a_grid_is_a_caption_above_the_table():
    assert _titled_grid(True) == ("Fruit prices 2015\n\n| Fruit | Price |\n| --- | --- |\n"
                                  "| Apple | 1.20 |\n| Pear | 0.90 |\n\n")


def test_first_row_with_column_rules_and_one_filled_cell_stays_the_header():
    assert _titled_grid(False) == ("| Fruit prices 2015 |  |\n| --- | --- |\n| Fruit | Price |\n"
                                   "| Apple | 1.20 |\n| Pear | 0.90 |\n\n")


# --- characters above U+FFFF written as bare numbers in ToUnicode ------------------------------


def test_emoji_a_tounicode_cmap_writes_as_bare_numbers_come_out_right():
    # MuPDF wrote this PDF's emoji font CMap as <1f680> instead of UTF-16 <d83dde80>; read as
    # four hex digits that is U+1F68 "Ὠ"
    text = parse_file(CORPUS / "ollama-notes-zh-TW.pdf").text
    assert "Ὠ" not in text and "Ὄ" not in text
    assert "| 全 GPU | 🚀🚀🚀 最快 | 模型完全載入 VRAM |" in text
    assert "| GPU + CPU 混用 | 🚀 中等 | 部分層在 CPU，會拖慢整體速度 |" in text
    assert "| 全 CPU | 🐢 最慢 | 沒有 GPU 或 VRAM 完全不足 |" in text
    assert text.count("🚀") == 5 and text.count("🐢") == 2


def test_a_correct_tounicode_cmap_is_left_alone():
    def draw(doc):
        doc.new_page().insert_text((72, 72), "Ω αβγ → 名 ─", fontname="china-t")

    text = parse_bytes(_pdf(draw), "greek.pdf").text
    assert text == "Ω αβγ → 名 ─\n\n"  # U+2192, U+2500 look like misread numbers; they are not
