"""Tests for dataset_gen.chunking: exact spans, nothing lost, sizes, headings, strategies.

Unit cases build Documents from strings; the corpus cases run every readable file of
tests/data/corpus through all three strategies and check the invariants on the real text.
"""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

import pytest

from dataset_gen.chunking import STRATEGIES, split_document
from dataset_gen.config import ChunkSettings
from dataset_gen.documents import parse_file
from dataset_gen.errors import DocumentError
from dataset_gen.markdown_structure import scan
from dataset_gen.models import Document
from dataset_gen.table_context import table_header_before, with_table_header

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
NOTES = CORPUS / "ollama-notes-zh-TW.md"
HEADING_LINE = re.compile(r" {0,3}#{1,6}[ \t]+\S")


def make(text: str, name: str = "t.md", page_starts: tuple[int, ...] = ()) -> Document:
    return Document(name=name, text=text, kind="markdown", sha256="0" * 64, page_starts=page_starts)


def heading_lines(text: str) -> dict[int, int]:
    """Line start -> line end of every ATX heading outside ``` / ~~~ fences (a plain test oracle)."""
    found, fence = {}, ""
    front_matter = re.match(r"---[ \t]*\n[\w-]+:.*?\n(?:---|\.\.\.)[ \t]*(?:\n|$)", text, re.S)
    pos = front_matter.end() if front_matter else 0
    for line in text[pos:].split("\n"):
        marker = re.match(r" {0,3}(`{3,}|~{3,})", line)
        if fence:
            if marker and marker[1].startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
        elif marker and not (marker[1][0] == "`" and "`" in line[marker.end():]):
            fence = marker[1]
        elif HEADING_LINE.match(line):
            found[pos] = pos + len(line)
        pos += len(line) + 1
    return found


def heading_only(text: str, headings: dict[int, int], start: int, end: int, max_chars: int) -> bool:
    """Whether ``text[start:end]`` holds nothing but heading lines although the headings and the
    first character of their body (or, for headings at the very end, the character before
    them) would have fit in ``max_chars``."""
    first = line_start = text.rfind("\n", 0, start) + 1
    while True:
        line_end = text.find("\n", line_start)
        line_end = len(text) if line_end < 0 else line_end
        line = text[line_start:line_end]
        if line.strip() and line_start not in headings:
            if line_start < end:
                return False  # the chunk holds a body line
            body = line_start + len(line) - len(line.lstrip())
            return body + 1 - first <= max_chars
        if line_end >= len(text):  # headings at the very end: they belong with the text before
            before = first
            while before > 0:
                previous = text.rfind("\n", 0, before - 1) + 1
                if text[previous:before - 1].strip() and previous not in headings:
                    break
                before = previous
            before = len(text[:before].rstrip())
            return before > 0 and end - (before - 1) <= max_chars
        line_start = line_end + 1


def check(document: Document, chunks, settings: ChunkSettings = ChunkSettings()) -> None:
    """Every invariant of split_document's result."""
    text = document.text
    headings = heading_lines(text)
    covered = 0
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert chunk.document == document.name
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert chunk.text == text[chunk.start:chunk.end]
        assert chunk.text == chunk.text.strip(), "chunks must not start or end with whitespace"
        assert len(chunk.text) <= settings.max_chars
        assert chunk.page_start == document.page_at(chunk.start)
        assert chunk.page_end == document.page_at(chunk.end - 1)
        assert chunk.start >= (chunks[i - 1].start + 1 if i else 0), "chunks in document order"
        gap = text[covered:chunk.start]
        assert gap.strip() == "", f"text lost before chunk {i}: {gap.strip()[:80]!r}"
        covered = max(covered, chunk.end)
        if len(chunks) > 1:
            assert not heading_only(text, headings, chunk.start, chunk.end, settings.max_chars), \
                f"heading-only chunk {chunk.text!r}"
    assert text[covered:].strip() == "", f"text lost at the end: {text[covered:].strip()[:80]!r}"


def split_checked(text: str, **options):
    options.setdefault("overlap", 0)  # the default 200 is not below the small max_chars used here
    settings = ChunkSettings(**options)
    document = make(text)
    chunks = split_document(document, settings)
    check(document, chunks, settings)
    return chunks


# --- settings and trivial input ------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \u3000\n"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_or_whitespace_text_gives_no_chunks(text, strategy):
    assert split_document(make(text), ChunkSettings(strategy=strategy)) == []


@pytest.mark.parametrize("options, words", [
    ({"strategy": "semantic"}, "markdown, recursive, separator"),
    ({"max_chars": 0}, "max_chars"),
    ({"max_chars": 100, "min_chars": 101}, "min_chars"),
    ({"min_chars": -1}, "min_chars"),
    ({"max_chars": 100, "min_chars": 10, "overlap": 100}, "overlap"),
    ({"overlap": -5}, "overlap"),
    ({"strategy": "separator", "separator": ""}, "separator"),
])
def test_bad_settings_raise_value_error_naming_the_setting(options, words):
    with pytest.raises(ValueError, match=words):
        split_document(make("# A\n\nbody"), ChunkSettings(**options))


def test_defaults_are_the_documented_ones():
    settings = ChunkSettings()
    assert (settings.strategy, settings.max_chars, settings.min_chars) == ("markdown", 2000, 400)


# --- markdown structure ---------------------------------------------------------------------


def test_heading_paths_follow_the_heading_levels():
    text = "# A\n\none\n\n## B\n\ntwo\n\n### C\n\nthree\n\n## D\n\nfour\n\n# E\n\nfive"
    chunks = split_checked(text, min_chars=0)
    assert [c.heading_path for c in chunks] == [
        ("A",), ("A", "B"), ("A", "B", "C"), ("A", "D"), ("E",)]
    assert chunks[2].text == "### C\n\nthree"


def test_heading_text_drops_closing_hashes_and_needs_a_space():
    chunks = split_checked("## Title ##\n\nbody\n\n#hashtag is not a heading\n\n####### seven", min_chars=0)
    assert len(chunks) == 1
    assert chunks[0].heading_path == ("Title",)


def test_hash_lines_inside_fences_are_not_headings():
    text = (
        "# Real\n\nintro\n\n"
        "```bash\n# comment one\necho hi\n```\n\n"
        "~~~~\n# comment two\n~~~\n# still inside: a shorter fence does not close\n~~~~\n\n"
        "``````markdown\n```\n# inside six backticks\n```\n``````\n\n"
        + "`" * 32 + " example\n# foo\n" + "`" * 32 + "\n\n"
        "## Next\n\nbody"
    )
    chunks = split_checked(text, min_chars=0, max_chars=400)
    assert [c.heading_path for c in chunks] == [("Real",), ("Real", "Next")]
    assert chunks[1].text == "## Next\n\nbody"


def test_backtick_fence_with_backtick_in_info_is_not_a_fence():
    chunks = split_checked("``` not `a` fence\n\n# Heading\n\nbody")
    assert chunks[0].heading_path == ()
    assert split_checked("intro\n\n# Heading\n\nbody", min_chars=0)[1].heading_path == ("Heading",)


def test_unclosed_fence_runs_to_the_end():
    chunks = split_checked("# A\n\ntext\n\n```\n# not a heading\n\nmore", min_chars=0)
    assert [c.heading_path for c in chunks] == [("A",)]


@pytest.mark.parametrize("closer", ["---", "..."])
def test_front_matter_is_kept_but_not_scanned_for_headings(closer):
    text = f"---\ntitle: Notes\n# a YAML comment, not a heading\n{closer}\n\n# Intro\n\nbody text"
    chunks = split_checked(text, min_chars=0)
    assert chunks[0].text.startswith("---\ntitle: Notes")
    assert all("a YAML comment, not a heading" not in c.heading_path for c in chunks)
    assert chunks[-1].heading_path == ("Intro",)


def test_rule_later_in_the_text_is_not_front_matter():
    chunks = split_checked("intro\n\n---\n\n# A\n\nbody\n\n---\n\n# B\n\nend", min_chars=0)
    assert [c.heading_path for c in chunks] == [(), ("A",), ("B",)]


def test_text_opening_with_a_rule_is_not_front_matter():
    chunks = split_checked("---\n\n# A\n\nbody\n\n---\n\n# B\n\nend", min_chars=0)
    assert [c.heading_path for c in chunks] == [("A",), ("B",)]


def test_tiny_sections_are_merged_up_to_min_chars():
    text = "# A\n\nshort a\n\n## B\n\nshort b\n\n## C\n\n" + "c " * 300
    chunks = split_checked(text)  # min 400: A and B merge into C's chunk while it fits
    assert len(chunks) == 1 and chunks[0].heading_path == ("A",)
    chunks = split_checked(text, max_chars=300, min_chars=100)
    assert chunks[0].text.startswith("# A") and "## B" in chunks[0].text
    assert chunks[1].heading_path == ("A", "C")


def test_small_last_section_joins_the_previous_one():
    text = "# A\n\n" + "a " * 200 + "\n\n# B\n\nend"
    chunks = split_checked(text, max_chars=600, min_chars=100)
    assert len(chunks) == 1 and chunks[0].text.endswith("# B\n\nend")


def test_heading_stays_with_its_body_even_with_min_chars_zero():
    chunks = split_checked("# Title\n\n## Sub\n\nbody one\n\n## Other\n\nbody two", min_chars=0)
    assert [c.text for c in chunks] == ["# Title\n\n## Sub\n\nbody one", "## Other\n\nbody two"]


def test_heading_stays_with_an_oversized_body():
    text = "intro paragraph\n\n# Big\n\n" + "x" * 2500 + "\n\n" + "y" * 100
    chunks = split_checked(text, max_chars=1000, min_chars=0)
    big = [c for c in chunks if "# Big" in c.text]
    assert len(big) == 1 and big[0].text.startswith("# Big\n\nxxx")


def test_trailing_heading_without_body_joins_the_text_before_it():
    chunks = split_checked("# A\n\nbody\n\n## Empty at the end", min_chars=0)
    assert [c.text for c in chunks] == ["# A\n\nbody\n\n## Empty at the end"]


def test_oversized_paragraph_without_any_separator_is_fully_covered():
    text = "# Long\n\n" + "字" * 4500 + "tail-end"
    chunks = split_checked(text, max_chars=1000, min_chars=200)
    assert chunks[-1].text.endswith("tail-end")
    assert len(chunks) == 5
    assert min(len(c.text) for c in chunks) > 800, "pieces are balanced, not 1000 x 4 + a scrap"


def test_cjk_sentences_are_cut_after_sentence_marks():
    sentences = [f"這是第{i}句話，內容用來測試中文斷句是否正確{'！' if i % 3 else '。'}" for i in range(60)]
    text = "".join(sentences)  # one paragraph, one line
    chunks = split_checked(text, max_chars=200, min_chars=50)
    assert len(chunks) > 5
    assert all(c.text[-1] in "。！" for c in chunks)


def test_english_sentences_are_cut_after_the_full_stop():
    text = " ".join(f"Sentence number {i} says something useful; or not?" for i in range(80))
    chunks = split_checked(text, max_chars=300, min_chars=60)
    assert all(c.text[-1] in ";?" for c in chunks[:-1])


def test_paragraphs_are_preferred_over_lines():
    paragraph = "\n".join(["a line of text"] * 20)  # 299 characters
    chunks = split_checked("\n\n".join([paragraph] * 6), max_chars=700, min_chars=100)
    assert all(c.text == "\n\n".join([paragraph] * 2) for c in chunks)


def test_code_block_and_table_that_fit_are_not_cut():
    fence = "```python\n" + "\n\n".join(f"x{i} = {i}" for i in range(60)) + "\n```"
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(40))
    prose = "\n\n".join(f"Paragraph {i} of plain prose." for i in range(30))
    text = f"# Doc\n\n{prose}\n\n{fence}\n\n{prose}\n\n{table}\n\n{prose}"
    chunks = split_checked(text, max_chars=900, min_chars=100)
    assert any(fence in c.text for c in chunks)
    assert any(table in c.text for c in chunks)


def test_code_block_longer_than_max_is_cut_at_lines():
    fence = "```\n" + "\n".join(f"line {i:03d}" for i in range(300)) + "\n```"
    chunks = split_checked("# Code\n\n" + fence, max_chars=500, min_chars=100)
    assert len(chunks) >= 6
    assert all(c.text.endswith(("```",)) or re.search(r"line \d{3}$", c.text) for c in chunks)


def test_offsets_are_exact_on_repeated_text():
    text = "same paragraph again\n\n" * 400 + "# Same\n\nsame\n\n" * 50
    for strategy in STRATEGIES:
        split_checked(text, strategy=strategy, max_chars=250, min_chars=40, overlap=60)


def test_pages_come_from_the_page_map():
    pages = ["page one text. " * 20, "page two text. " * 20, "page three text. " * 20]
    text = "".join(pages)
    starts = (0, len(pages[0]), len(pages[0]) + len(pages[1]))
    document = make(text, name="p.pdf", page_starts=starts)
    settings = ChunkSettings(max_chars=400, min_chars=100)
    chunks = split_document(document, settings)
    check(document, chunks, settings)
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 3
    assert any(c.page_start != c.page_end for c in chunks)


def test_documents_without_pages_have_no_page_numbers():
    chunk = split_document(make("# A\n\nbody"))[0]
    assert (chunk.page_start, chunk.page_end) == (None, None)
    assert (chunk.document, chunk.start, chunk.end) == ("t.md", 0, 9)


# --- recursive and separator ----------------------------------------------------------------


def test_recursive_chunks_overlap_by_at_most_overlap_characters():
    text = " ".join(f"Fact {i} is stated here." for i in range(200))
    chunks = split_checked(text, strategy="recursive", max_chars=300, min_chars=50, overlap=80)
    assert len(chunks) > 10
    for before, after in zip(chunks, chunks[1:]):
        assert 0 < before.end - after.start <= 80
        assert after.text.startswith("Fact"), "overlap starts at a sentence"


def test_recursive_without_overlap_does_not_repeat_text():
    text = " ".join(f"Fact {i} is stated here." for i in range(200))
    chunks = split_checked(text, strategy="recursive", max_chars=300, min_chars=50, overlap=0)
    assert all(after.start >= before.end for before, after in zip(chunks, chunks[1:]))


def test_recursive_keeps_heading_paths_and_prefers_heading_cuts():
    text = "# A\n\n" + "alpha. " * 60 + "\n\n## B\n\n" + "beta. " * 60
    chunks = split_checked(text, strategy="recursive", max_chars=500, min_chars=100, overlap=50)
    assert [c.heading_path for c in chunks] == [("A",), ("A", "B")]
    assert chunks[1].text.startswith("## B")


def test_separator_cuts_exactly_and_keeps_the_separator_text():
    text = "first part\n---\nsecond part\n---\nthird part"
    chunks = split_checked(text, strategy="separator", separator="\n---\n", max_chars=20, min_chars=0)
    assert [c.text for c in chunks] == ["first part", "---\nsecond part", "---\nthird part"]


def test_separator_joins_small_pieces_up_to_max_chars():
    text = "first part\n---\nsecond part\n---\nthird part"
    chunks = split_checked(text, strategy="separator", separator="\n---\n", max_chars=30, min_chars=0)
    assert [c.text for c in chunks] == ["first part\n---\nsecond part", "---\nthird part"]
    assert [c.text for c in split_checked(text, strategy="separator", separator="\n---\n")] == [text]


def test_separator_of_hashes_starts_each_piece():
    text = "### one\nbody 1\n### two\nbody 2"
    chunks = split_checked(text, strategy="separator", separator="###", max_chars=20, min_chars=0)
    assert [c.text for c in chunks] == ["### one\nbody 1", "### two\nbody 2"]
    assert [c.heading_path for c in chunks] == [("one",), ("two",)]


def test_separator_pieces_above_max_are_split_without_overlap():
    text = "small\n\n" + "word " * 400 + "\n\nsmall again"
    chunks = split_checked(text, strategy="separator", separator="\n\n", max_chars=500, min_chars=100, overlap=100)
    assert chunks[0].text == "small" and chunks[-1].text == "small again"
    assert all(after.start >= before.end for before, after in zip(chunks, chunks[1:]))


def test_separator_never_leaves_a_heading_or_a_bare_rule_alone():
    text = "# Title\n\nIntro.\n\n---\n\n## Part\n\nBody."
    chunks = split_checked(text, strategy="separator", separator="\n\n", max_chars=30, min_chars=0)
    assert [c.text for c in chunks] == ["# Title\n\nIntro.\n\n---", "## Part\n\nBody."]


# --- random documents --------------------------------------------------------------------

LINES = ["# Title", "## Sub", "### deep ###", "####### seven", "#tag", "    # indented", "   # three",
         "```", "````", "~~~", "```py", "| a | b |", "|---|---|", "| 1 | 2 |", "---", "...", "###",
         "", "", "", "   ", "\t", "\u3000", "這是一句話。", "第二句！", "Hello world. Next one? ",
         "x" * 50, "字" * 120, "word " * 30, "a,b, c: d"]


@pytest.mark.parametrize("seed", range(4))
def test_random_markdown_keeps_every_invariant(seed):
    rng = random.Random(seed)
    for _ in range(250):
        lines = [rng.choice(LINES) for _ in range(rng.randint(0, 80))]
        if rng.random() < 0.2:
            lines = ["---", "key: value", rng.choice(["---", "..."])] + lines
        text = "\n".join(lines) + rng.choice(["", "\n", "  "])
        max_chars = rng.choice([1, 5, 20, 60, 200, 1000])
        settings = ChunkSettings(strategy=rng.choice(STRATEGIES), max_chars=max_chars,
                                 min_chars=rng.randint(0, max_chars), overlap=rng.randint(0, max_chars - 1),
                                 separator=rng.choice(["\n\n", "###", "\n---\n", "。", "x"]))
        document = make(text)
        check(document, split_document(document, settings), settings)


# --- the corpus -----------------------------------------------------------------------------


UNREADABLE = {
    "doc_legacy_word97_revisions.doc", "pdf_corrupted_0_pages.pdf", "pdf_empty_0_bytes.pdf",
    "pdf_encrypted_user_password.pdf", "pdf_nonunicode_cmap_garbage.pdf", "pdf_scanned_image_only.pdf",
}
"""Corpus files that are refused with a DocumentError (tests/test_documents.py checks each reason)."""


def _corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir()
                  if p.is_file() and p.name not in ("README.md", "SOURCES.tsv") and p.name not in UNREADABLE)


@functools.cache
def _parse(path: Path) -> Document | str:
    """The parsed document, or the DocumentError message when the file cannot be read."""
    try:
        return parse_file(path)
    except DocumentError as error:
        return str(error)


CORPUS_SETTINGS = [ChunkSettings(strategy=s) for s in STRATEGIES] + [
    ChunkSettings(strategy=s, max_chars=300, min_chars=60, overlap=80) for s in STRATEGIES]


@pytest.mark.parametrize("path", _corpus_files() , ids=lambda p: p.name)
def test_corpus_documents_keep_every_invariant(path):
    document = _parse(path)
    assert not isinstance(document, str), document
    for settings in CORPUS_SETTINGS:
        chunks = split_document(document, settings)
        assert chunks or not document.text.strip()
        check(document, chunks, settings)


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_corpus_files_are_refused(name):
    assert isinstance(_parse(CORPUS / name), str)


def test_zh_tw_notes_chunks():
    chunks = split_document(make(NOTES.read_text(encoding="utf-8"), name=NOTES.name))
    check(make(NOTES.read_text(encoding="utf-8"), name=NOTES.name), chunks)
    assert len(chunks) == 27
    assert chunks[0].heading_path == ("Ollama 學習筆記",)
    assert chunks[0].text.startswith("# Ollama 學習筆記\n\n## 常用指令")
    by_heading = {c.text.splitlines()[0]: c for c in chunks}
    assert by_heading["### 建立自訂模型"].heading_path == ("Ollama 學習筆記", "Modelfile（模型設定檔）", "建立自訂模型")
    assert by_heading["### 快速開始"].heading_path == ("Ollama 學習筆記", "LLaMA-Factory（微調訓練工具）", "快速開始")
    # "# 指定基底模型" and friends are comments inside ```dockerfile / ```bash fences
    assert not any("指定基底模型" in c.heading_path or "驗證" in c.heading_path for c in chunks)
    assert all(400 <= len(c.text) <= 2000 for c in chunks)


def test_zh_tw_notes_parsed_like_read():
    """The parsed Markdown file gives the same chunks as its text read directly."""
    parsed = _parse(NOTES)
    direct = split_document(make(NOTES.read_text(encoding="utf-8"), name=NOTES.name))
    assert [(c.heading_path, c.text) for c in split_document(parsed)] == [(c.heading_path, c.text) for c in direct]


def test_long_handbook_chunk_count():
    document = _parse(CORPUS / "docx_long_872p_handbook.docx")
    assert not isinstance(document, str), document
    chunks = split_document(document)
    assert (len(document.text), len(chunks)) == (824_779, 565)
    assert max(len(c.text) for c in chunks) == 1_998


# --- overlap at blank lines, separator merging, HTML blocks -------------------------------------


def test_recursive_overlap_survives_cuts_at_blank_lines():
    # Paragraphs are single long lines: the nearest boundaries before a paragraph cut are the
    # line breaks of the blank line itself, which once stripped left no overlap at all.
    paragraph = " ".join(f"Clause {i} says the fee is due." for i in range(8))  # 239 characters
    text = "\n\n".join(paragraph for _ in range(12))
    chunks = split_checked(text, strategy="recursive", max_chars=600, min_chars=100, overlap=120)
    assert [len(c.text) for c in chunks] == [480, 571, 571, 571, 571, 571]
    overlaps = [before.end - after.start for before, after in zip(chunks, chunks[1:])]
    assert overlaps == [89] * 5  # the last three sentences of the paragraph before the cut
    assert all(c.text.startswith("Clause 5 says") for c in chunks[1:])


def test_recursive_overlap_on_the_handbook_except_where_a_section_starts():
    document = _parse(CORPUS / "docx_long_872p_handbook.docx")
    assert not isinstance(document, str), document
    chunks = split_document(document, ChunkSettings(strategy="recursive"))
    starts = set(scan(document.text, 2000).heading_starts)
    plain = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.start >= a.end]
    assert (len(chunks), len(chunks) - 1 - len(plain)) == (520, 343)
    assert [b.start in starts for _, b in plain] == [True] * 176  # no overlap only at a heading


def test_separator_merges_small_pieces_of_the_117_page_pdf():
    document = _parse(CORPUS / "pdf_long_117p_de_math.pdf")
    assert not isinstance(document, str), document
    chunks = split_document(document, ChunkSettings(strategy="separator"))
    assert len(chunks) == 74  # 3,413 before pieces were merged, one per paragraph
    assert min(len(c.text) for c in chunks[:-1]) >= 400


def test_hash_lines_inside_html_pre_and_block_tags_are_not_headings():
    text = ("# Real\n\ntext\n<pre>\n# not a heading\n</pre>\n\n## Two\n\n<div>\n# also not\n\n"
            "# Three\n\n<code>\n# no\n</code>\n\n#### Four\n<pre># x</pre>\n# Five\nend\n")
    structure = scan(text, 2000)
    assert [text[a:b] for a, b in zip(structure.heading_starts, structure.heading_ends)] == [
        "# Real", "## Two", "# Three", "#### Four", "# Five"]
    chunks = split_checked(text, strategy="markdown", max_chars=200, min_chars=0)
    assert [c.heading_path for c in chunks] == [("Real",), ("Real", "Two"), ("Three",), ("Three", "Four"), ("Five",)]


@pytest.mark.parametrize(("name", "headings"), [("md_commonmark_spec_frontmatter.txt", 45),
                                                 ("md_zh_html_tables_longlines.md", 35)])
def test_corpus_markdown_with_html_keeps_its_headings(name, headings):
    document = _parse(CORPUS / name)
    assert not isinstance(document, str), document
    assert len(scan(document.text, 2000).heading_starts) == headings


# --- table headers for chunks that continue a table ---------------------------------------------


def test_chunks_continuing_a_table_get_its_header_as_context():
    header = "| State | Permits | Checks |\n| --- | ---: | ---: |"
    rows = "\n".join(f"| State {i:02d} | {i * 1000:,} | {i * 7:,} |" for i in range(60))
    text = f"# Checks\n\nIntro line.\n\n{header}\n{rows}\n\nAfter the table."
    chunks = split_checked(text, strategy="markdown", max_chars=600, min_chars=0)
    assert [c.text[:12] for c in chunks] == ["# Checks\n\nIn", "| State | Pe", "| State 20 |", "| State 40 |"]
    assert [table_header_before(text, c.start) for c in chunks] == ["", "", header, header]
    assert chunks[2].text == text[chunks[2].start:chunks[2].end]  # the span holds the bare rows only
    assert with_table_header(text, chunks[2].start, chunks[2].text) == f"{header}\n{chunks[2].text}"
    assert with_table_header(text, chunks[1].start, chunks[1].text) == chunks[1].text


def test_table_header_of_a_title_row_adds_the_column_names():
    document = _parse(CORPUS / "pdf_table_nics_ruled_grid.pdf")
    assert not isinstance(document, str), document
    chunks = split_document(document)
    headers = [table_header_before(document.text, c.start) for c in chunks]
    # The PDF reader writes the title row spanning the grid as a caption line above the table, so
    # the column names are the header (one row and the delimiter row).
    assert [h.count("\n") for h in headers] == [0, 1, 1, 1, 1]  # 4 of 5 chunks are bare state rows
    assert headers[1].startswith("| State / Territory | Permit | Handgun | Long Gun |")
    assert len(set(headers[1:])) == 1


def test_table_header_is_empty_outside_tables():
    text = "a | b\n\nplain | text\nmore"
    assert [table_header_before(text, i) for i in (0, 7, 20, len(text))] == ["", "", "", ""]
