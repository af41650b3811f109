"""Junk guards: which chunks are held back from the model, on the real corpus and on generated files."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import pymupdf
import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.chunking import split_document
from dataset_gen.config import ChunkSettings, Settings
from dataset_gen.documents import clean_text, parse_bytes, parse_file
from dataset_gen.errors import DocumentError
from dataset_gen.generation import run_generation
from dataset_gen.ingest import ingest_bytes
from dataset_gen.junk import (
    BASE64,
    GARBAGE,
    HEX,
    INDEX,
    MIN_CJK_CHARACTERS,
    MIN_GARBAGE_LETTERS,
    SMALL_SAMPLE_LETTERS,
    TOC,
    common_cjk_share,
    junk_reason,
    screen_document,
)
from dataset_gen.quality import coverage
from dataset_gen.store import Store
from tests.test_app import app_env, open_app  # noqa: F401  (app_env is a fixture)

CORPUS = Path(__file__).parent / "data" / "corpus"

PROSE = (
    "The standing trustee shall keep the records of every case for at least six years after the case "
    "is closed, and shall make them available to the United States Trustee on request. Records kept "
    "electronically must be backed up every week and stored away from the office. When a debtor asks "
    "for a copy of the payment history, the trustee sends it within fourteen days, free of charge. "
)


def shifted(text: str, by: int = -29) -> str:
    """``text`` as a font without a usable ToUnicode map extracts it: glyph ids shifted by a
    constant (pdf_nonunicode_cmap_garbage.pdf is shifted by 29); spaces and characters that would
    become control characters stay."""
    return "".join(c if c.isspace() or ord(c) + by <= 32 else chr(ord(c) + by) for c in text)


def _readable_corpus():
    for path in sorted(CORPUS.iterdir()):
        if path.name in ("SOURCES.tsv", "README.md"):
            continue
        try:
            document = parse_file(path)
        except DocumentError:
            continue
        yield path.name, document, split_document(document)


@pytest.fixture(scope="module")
def corpus():
    return list(_readable_corpus())


# Chunks of the handbook's four copies of its table of contents ("A. PURPOSE1-1" lines) and the
# lecture notes' index ("Zusammenhang, 11–14"): nothing else in the corpus is junk.
HANDBOOK_TOC = [0, 1, 2, 3, 166, 167, 168, 331, 332, 333, 447, 448, 449, 450]


def test_every_chunk_of_the_corpus_is_screened_and_only_the_junk_is_marked(corpus):
    marked, warnings = {}, {}
    for name, document, chunks in corpus:
        screening = screen_document(document, chunks)
        found = [(i, r) for i, r in enumerate(screening.reasons) if r is not None]
        if found:
            marked[name] = found
        if screening.warnings:
            warnings[name] = screening.warnings
        assert screening.garbage_pages == ()
    assert len(corpus) == 28
    assert marked == {
        "docx_long_872p_handbook.docx": [(i, TOC) for i in HANDBOOK_TOC],
        "pdf_long_117p_de_math.pdf": [(85, INDEX), (86, INDEX)],
    }
    assert warnings == {
        "docx_long_872p_handbook.docx": (
            "docx_long_872p_handbook.docx: 14 chunks were not sent to the model (table of contents: "
            "14); the Chunks page can send them anyway",),
        "pdf_long_117p_de_math.pdf": (
            "pdf_long_117p_de_math.pdf: 2 chunks were not sent to the model (index of page "
            "references: 2); the Chunks page can send them anyway",),
    }
    handbook = dict((n, c) for n, _, c in corpus)["docx_long_872p_handbook.docx"]
    assert "A. PURPOSE1-1" in handbook[0].text.splitlines()
    assert handbook[4].text.startswith("# CHAPTER 1 – INTRODUCTION\n\n## A. PURPOSE\n\nThe United States Trustee")


def test_the_corpus_shifted_as_a_broken_cmap_shifts_it_reads_as_garbage(corpus):
    """The measurement behind MAX_GARBAGE_VOWELS: every chunk of the Latin-script files whose text,
    shifted by 29 glyph ids, still has 100+ letters in words of four or more (capitals become
    digits and symbols) reads as garbage; the lecture notes' index stays an index."""
    checked, missed = 0, []
    for name, _, chunks in corpus:
        if re.search(r"zh|ko|ja|ollama-notes", name):
            continue
        for chunk in chunks:
            garbled = shifted(chunk.text)
            if sum(len(w) for w in re.findall(r"[A-Za-z]{4,}", garbled)) < SMALL_SAMPLE_LETTERS:
                continue
            checked += 1
            if junk_reason(garbled) != GARBAGE:
                missed.append((name, chunk.ordinal, junk_reason(garbled)))
    assert checked == 818
    assert missed == [("pdf_long_117p_de_math.pdf", 85, INDEX), ("pdf_long_117p_de_math.pdf", 86, INDEX)]


CJK_FILES = re.compile(r"zh|ko|ja|ollama-notes")


def scrambled(text: str, seed: int = 8) -> str:
    """``text`` with its ideographs (U+4E00–U+9FFF) and Hangul syllables (U+AC00–U+D7A3) mapped
    through a fixed random permutation of their blocks, as a wrong cmap maps glyphs: the same
    repetitions, other characters."""
    han, hangul = list(range(0x4E00, 0xA000)), list(range(0xAC00, 0xD7A4))
    random.Random(seed).shuffle(han)
    random.Random(seed).shuffle(hangul)

    def one(c: str) -> str:
        o = ord(c)
        if 0x4E00 <= o <= 0x9FFF:
            return chr(han[o - 0x4E00])
        return chr(hangul[o - 0xAC00]) if 0xAC00 <= o <= 0xD7A3 else c

    return "".join(map(one, text))


def test_cjk_text_reads_as_common_characters_and_scrambled_cjk_as_garbage(corpus):
    """The measurement behind MIN_COMMON_CJK_SHARE, on every chunk of the CJK files with 30 or more
    CJK-like characters: real text is common characters, the same text scrambled is not."""
    real, garbled, names = [], [], set()
    for name, _, chunks in corpus:
        if not CJK_FILES.search(name):
            continue
        for chunk in chunks:
            n, share = common_cjk_share(chunk.text)
            if n < MIN_CJK_CHARACTERS:
                continue
            names.add(name)
            real.append((share, junk_reason(chunk.text)))
            garbled.append((common_cjk_share(scrambled(chunk.text))[1], junk_reason(scrambled(chunk.text))))
    assert sorted(names) == [
        "md_zh_html_tables_longlines.md", "ollama-notes-zh-TW.docx", "ollama-notes-zh-TW.md",
        "ollama-notes-zh-TW.pdf", "pdf_cjk_ja_vertical_nonembedded.pdf", "pdf_cjk_ko_tables_ctrlchars.pdf",
        "pdf_cjk_zh_fake_bold_dupchars.pdf", "txt_big5_zh_hant.txt", "txt_cp949_ko.txt",
        "txt_gbk_zh_hans_mixed_hant.txt"]
    assert len(real) == len(garbled) == 114
    assert round(min(share for share, _ in real), 4) == 0.9935
    assert round(max(share for share, _ in garbled), 4) == 0.587
    assert [reason for _, reason in real] == [None] * 114
    assert [reason for _, reason in garbled] == [GARBAGE] * 114


def test_cjk_garbage_of_radicals_private_use_and_rare_ideographs():
    common_zh = "模型檔案會存放在使用者目錄下，可以隨時刪除。設定檔中的每一個參數都有預設值。"
    assert (junk_reason(common_zh), common_cjk_share(common_zh)) == (None, (35, 1.0))
    radicals = "".join(chr(0x2F00 + i * 7) for i in range(20)) + "".join(chr(0xE000 + i) for i in range(20))
    assert junk_reason(radicals) == GARBAGE
    rare = "".join(chr(0x9F00 + i * 3) for i in range(40))  # the block's last ideographs: rare
    assert (junk_reason(rare), common_cjk_share(rare)[1] < 0.2) == (GARBAGE, True)
    assert junk_reason(rare[:MIN_CJK_CHARACTERS - 1]) is None  # too few to judge
    assert junk_reason(scrambled(common_zh)) == GARBAGE


def test_the_corpus_garbage_text_layer_is_unreadable_text():
    with pymupdf.open(CORPUS / "pdf_nonunicode_cmap_garbage.pdf") as doc:
        layer = doc[0].get_text()
    assert layer == "3HQČåQt\x03SURVWĜHGN\\\x03QD\x03~þWHFK\n"
    assert junk_reason(layer) == GARBAGE
    assert junk_reason(clean_text(layer)) == GARBAGE
    # shifted back by 29 it is Czech ("Peněžní prostředky na účtech", money in accounts) and reads
    assert junk_reason(shifted(clean_text(layer.replace("\x03", " ")), 29)) is None


def _garbled_pdf() -> bytes:
    """Four pages: 1–3 carry a shifted (garbage) text layer with no control characters, so the PDF
    reader's own check lets them through; page 4 is real prose."""
    doc = pymupdf.open()
    for number in range(1, 5):
        page = doc.new_page()
        # Each page opens differently: a line repeated at the top of most pages is a running header.
        text = f"{('First', 'Second', 'Third', 'Fourth')[number - 1]} section. " + PROSE * 2
        page.insert_textbox(pymupdf.Rect(72, 72, 520, 770), shifted(text) if number < 4 else text, fontname="helv")
    return doc.tobytes()


def test_a_garbage_text_layer_is_reported_at_upload_and_not_generated(tmp_path, fake_ollama):
    store = Store.open(tmp_path)
    project_id = store.create_project("letters")
    result = ingest_bytes(store, project_id, _garbled_pdf(), "letter.pdf", ChunkSettings(max_chars=700, min_chars=200),
                          max_bytes=10**7)
    assert result.document.warnings == (
        "letter.pdf: pages 1–3 have an unreadable text layer; they were not sent to the model (OCR can "
        "read them: see the OCR option)",)
    assert store.get_document(result.document_id).warnings == result.document.warnings
    chunks = store.list_chunks(project_id)
    assert [(c.page_start, c.page_end, c.skip_reason) for c in chunks] == [
        (1, 1, GARBAGE), (1, 2, GARBAGE), (2, 2, GARBAGE), (3, 3, GARBAGE), (3, 3, GARBAGE), (4, 4, None),
        (4, 4, None)]
    assert chunks[0].text.startswith(")LUVW VHFWLRQ. 7KH VWDQGLQJ WUXVWHH")
    assert (result.chunks, result.skipped) == (7, 5)

    backend = OllamaBackend(fake_ollama.url, backoff_s=0.01, max_retries=1)
    summary = run_generation(store, project_id, backend, "qwen2.5:7b", Settings(concurrency=1, pairs_per_chunk=1))
    assert (summary.total, summary.done) == (2, 2)
    sent = [str(r["messages"]) for r in fake_ollama.chat_requests()]
    assert len(sent) == 2 and all("standing trustee" in body for body in sent)
    assert not any("6HFWLRQ" in body or "VWDQGLQJ" in body for body in sent)
    _, uncovered = coverage(store, project_id)
    assert [u.reason for u in uncovered] == [f"skipped: {GARBAGE}"] * 5

    store.set_send_anyway(chunks[1].id, True)
    assert store.get_chunk(chunks[1].id).skipped is False
    summary = run_generation(store, project_id, backend, "qwen2.5:7b", Settings(concurrency=1, pairs_per_chunk=1))
    assert (summary.total, summary.done) == (1, 1)
    assert store.get_chunk(chunks[1].id).gen_status == "done"
    store.set_send_anyway(chunks[1].id, False)
    assert store.get_chunk(chunks[1].id).skipped is True
    store.close()


def _api_doc() -> str:
    data = base64.b64encode(random.Random(7).randbytes(3000)).decode()
    lines = "\n".join(data[i:i + 76] for i in range(0, len(data), 76))
    return (f"# Image API\n\nSend the picture as base64 in the `image` field.\n\n## Example\n\n```json\n"
            f'{{"image": "\n{lines}\n"}}\n```\n\n## Errors\n\nA picture above 5 MB is refused with 413.\n')


def test_a_markdown_api_doc_with_a_base64_example_holds_back_only_the_data():
    document = parse_bytes(_api_doc().encode(), "api.md")
    chunks = split_document(document)
    reasons = screen_document(document, chunks).reasons
    assert [(len(c.text), r) for c, r in zip(chunks, reasons, strict=True)] == [
        (61, None), (1340, BASE64), (1385, BASE64), (1364, BASE64), (52, None)]
    assert junk_reason(chunks[1].text.replace("\n", "")) == BASE64


def test_hex_dumps_dot_leaders_and_short_or_ordinary_text():
    dump = "\n".join(" ".join(f"{b:02x}" for b in random.Random(i).randbytes(16)) for i in range(20))
    assert junk_reason("Firmware header:\n\n" + dump) == HEX
    assert junk_reason("key = 0x" + "3f9a" * 40) == HEX
    toc = "Contents\n\n" + "\n".join(f"{i}. Chapter {name} ........ {i * 7}" for i, name in
                                     enumerate(["One", "Two", "Three", "Four", "Five", "Six"], 1))
    assert junk_reason(toc) == TOC
    assert junk_reason("Introduction\t1\nInstallation\t3\nConfiguration\t9\nTroubleshooting\t14\nIndex\t20") == TOC
    # too short to judge, and ordinary text with some capitals, code and numbers
    assert junk_reason("WKH DQG") is None
    assert len("WKHDQG") < MIN_GARBAGE_LETTERS
    assert junk_reason("") is None
    assert junk_reason("See RFC 9110, HTTP/1.1 and HTTPS: `curl -X POST localhost:11434/api/chat`.") is None
    assert junk_reason("Check the download against its SHA-256 checksum before you install it, and "
                       "download it again from the release page when the two differ: "
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") is None


def test_store_skip_reason_override_and_rescreen_on_edit(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    result = ingest_bytes(store, project_id, _api_doc().encode(), "api.md", ChunkSettings(), max_bytes=10**6)
    chunks = store.list_chunks(project_id)
    assert [c.skip_reason for c in chunks] == [None, BASE64, BASE64, BASE64, None]
    assert result.skipped == 3
    first = chunks[0].id
    store.set_skip(first, "hand-picked")
    assert (store.get_chunk(first).skip_reason, store.get_chunk(first).skipped) == ("hand-picked", True)
    store.set_send_anyway(first, True)
    assert (store.get_chunk(first).send_anyway, store.get_chunk(first).skipped) == (True, False)
    store.set_skip(first, None)
    assert store.get_chunk(first).skip_reason is None
    # a person replaces the data with a sentence: the chunk is screened again and sent
    store.edit_chunk(chunks[1].id, "The example image is a 3000-byte PNG.")
    assert store.get_chunk(chunks[1].id).skip_reason is None
    store.merge_chunks(chunks[2].id, chunks[3].id)
    assert store.get_chunk(chunks[2].id).skip_reason == BASE64
    _, uncovered = coverage(store, project_id)
    assert [(u.ordinal, u.reason) for u in uncovered] == [
        (0, "not generated yet"), (1, "not generated yet"), (2, "skipped: base64 data"), (3, "not generated yet")]
    store.close()


def test_chunks_page_shows_the_reason_and_sends_a_chunk_anyway(app_env):  # noqa: F811 (the fixture)
    data_dir, _ = app_env
    with Store.open(data_dir) as store:
        project_id = store.create_project("api")
        ingest_bytes(store, project_id, _api_doc().encode(), "api.md", ChunkSettings(), max_bytes=10**6)
        ids = [c.id for c in store.list_chunks(project_id)]
    at = open_app("chunks", project_id)
    assert [e.label.rsplit(" · ", 1)[-1] for e in at.expander] == [
        "0 pairs", "skipped: base64 data", "skipped: base64 data", "skipped: base64 data", "0 pairs"]
    assert [w.value for w in at.warning] == ["Not sent to the model: base64 data."] * 3
    at.button(key=f"chunk_send_{ids[1]}").click().run()
    assert not at.exception
    with Store.open(data_dir) as store:
        assert store.get_chunk(ids[1]).send_anyway is True
    assert at.expander[1].label.endswith("sent anyway: base64 data")
    at.button(key=f"chunk_skip_{ids[1]}").click().run()
    with Store.open(data_dir) as store:
        assert store.get_chunk(ids[1]).skipped is True
