"""The PDF reader against ground truth: identifiers wrapped in table cells, chunk parity of the
notes' three renderings, and a two-level table header."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from dataset_gen.chunking import split_document
from dataset_gen.config import ChunkSettings
from dataset_gen.documents import parse_file
from dataset_gen.markdown_structure import display_width, scan
from dataset_gen.models import Document
from dataset_gen.pdf_text import block_text
from dataset_gen.table_context import table_header_before, with_table_header

CORPUS = Path(__file__).parent / "data" / "corpus"
NOTES = "ollama-notes-zh-TW"


def _lines(*texts: str) -> list:
    return [SimpleNamespace(text=t) for t in texts]


# --- identifiers wrapped inside a table cell -------------------------------------------------


def test_code_span_broken_at_its_hyphen_is_one_span():
    assert block_text(_lines("| `qwen2:7b-`", "`instruct-q4_K_M` | Qwen2 |")) == (
        "| `qwen2:7b-instruct-q4_K_M` | Qwen2 |")
    # a code span followed by another one on the next line without a hyphen stays two lines
    assert block_text(_lines("`ollama`", "`list`")) == "`ollama`\n`list`"
    # prose ending in a dash before code stays as it is
    assert block_text(_lines("a -`", "`b`")) == "a -`\n`b`"


def test_wrapped_model_names_in_the_notes_tables_are_one_code_span():
    text = parse_file(CORPUS / f"{NOTES}.pdf").text
    truth = (CORPUS / f"{NOTES}.md").read_text(encoding="utf-8")
    for row in ("| `llama3.1:8b-instruct-q4_K_M` | 8B 指令版 4-bit K_M 量化 |",
                "| `qwen2:7b-instruct-q4_K_M` | Qwen2 7B 指令版 4-bit K_M |"):
        assert row in truth
        assert row in text
    assert "`qwen2:7b-`" not in text and "`llama3.1:8b-instruct-`" not in text


# --- the same chunks from the Markdown, the PDF and the DOCX ---------------------------------


def test_notes_md_pdf_docx_give_the_same_chunks_by_heading():
    paths = {}
    for ext in ("md", "pdf", "docx"):
        chunks = split_document(parse_file(CORPUS / f"{NOTES}.{ext}"), ChunkSettings())
        paths[ext] = [c.heading_path for c in chunks]
    assert len(paths["md"]) == 27
    assert paths["pdf"] == paths["md"]
    assert paths["docx"] == paths["md"]
    assert paths["md"][-2:] == [("Ollama 學習筆記", "LLaMA-Factory（微調訓練工具）", "支援的微調方法"),
                                ("Ollama 學習筆記", "LLaMA-Factory（微調訓練工具）", "快速開始")]


def test_delimiter_rows_count_as_wide_as_their_header():
    header = "| 方法 | VRAM 需求 | 說明 |"
    assert (len(header), display_width(header)) == (21, 27)  # six CJK characters count two
    typed, written = "|------|-----------|------|", "| --- | --- | --- |"
    for delimiter in (typed, written):
        text = f"{header}\n{delimiter}\n| a | b | c |\n"
        structure = scan(text, 2000)
        assert structure.markup_chars(0, len(text)) == len(delimiter) - 27
        # the same size for the min_chars rule, however the row was typed
        assert len(text) - structure.markup_chars(0, len(text)) == len(text) - len(delimiter) + 27
    assert scan("a | b\nno table\n", 2000).markup_chars(0, 16) == 0


def test_min_chars_merge_does_not_depend_on_delimiter_dashes():
    body = "x" * 330
    for delimiter in ("|---|---|", "|" + "-" * 40 + "|" + "-" * 40 + "|"):
        text = f"# A\n\n{body}\n\n| 1 | 2 |\n{delimiter}\n| 3 | 4 |\n\n# B\n\n{'y' * 500}\n"
        chunks = split_document(Document(name="t.md", text=text, kind="markdown", sha256=""),
                                ChunkSettings(min_chars=400))
        # section A is under 400 characters with either row: merged with B both times
        assert [c.heading_path for c in chunks] == [("A",)]


# --- a two-level table header -----------------------------------------------------------------

NICS_HEADER = (
    "| State / Territory | Permit | Handgun | Long Gun | *Other | **Multiple | Admin "
    "| Pre-Pawn / Handgun | Pre-Pawn / Long Gun | Pre-Pawn / *Other "
    "| Redemption / Handgun | Redemption / Long Gun | Redemption / *Other "
    "| Returned/Disposition / Handgun | Returned/Disposition / Long Gun "
    "| Returned/Disposition / *Other | Rentals / Handgun | Rentals / Long Gun "
    "| Private Sale / Handgun | Private Sale / Long Gun | Private Sale / *Other "
    "| Return to Seller - Private Sale / Handgun | Return to Seller - Private Sale / Long Gun "
    "| Return to Seller - Private Sale / *Other | Totals |"
)


def test_two_level_header_labels_each_column_below_it():
    text = parse_file(CORPUS / "pdf_table_nics_ruled_grid.pdf").text
    assert text.startswith(f"NICS Firearm Background Checks November - 2015\n\n{NICS_HEADER}\n"
                           + "| --- " * 25 + "|\n| Alabama | 18,870 | 23,022 | 22,650 | 859 |")
    assert NICS_HEADER.count("|") - 1 == 25  # one name per column
    # the data rows keep their 25 cells, the empty Rentals cells included
    assert ("| Alabama | 18,870 | 23,022 | 22,650 | 859 | 1,178 | 0 | 14 | 15 | 0 | 2,179 | 2,307 "
            "| 11 | 0 | 0 | 0 |  |  | 13 | 14 | 0 | 3 | 2 | 0 | 71,137 |") in text


def test_two_level_header_is_repeated_in_every_chunk_of_the_table():
    document = parse_file(CORPUS / "pdf_table_nics_ruled_grid.pdf")
    chunks = split_document(document)
    assert len(chunks) == 5
    header = NICS_HEADER + "\n" + "| --- " * 25 + "|"
    assert [table_header_before(document.text, c.start) for c in chunks[1:]] == [header] * 4
    for chunk in chunks[1:]:
        assert with_table_header(document.text, chunk.start, chunk.text).startswith(header + "\n|")
