"""OCR of image-only and garbage-layer PDF pages (dataset_gen.pdf_ocr), in the core, the CLI and the
app. Needs Tesseract with eng and chi_tra data (scripts/test.sh installs it)."""

import os
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.config import ProjectConfig, Settings
from dataset_gen.documents import parse_bytes, parse_file
from dataset_gen.errors import NoTextLayerError
from dataset_gen.pdf_ocr import OcrUnavailableError, tesseract_languages
from dataset_gen.store import Store
from ui.safe import md_escape

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
SCANNED = CORPUS / "pdf_scanned_image_only.pdf"
GARBAGE = CORPUS / "pdf_nonunicode_cmap_garbage.pdf"
# The words on the scanned page, as its image shows them (rendered and read by eye).
SCANNED_TEXT = "Docling bundles PDF document conversion to\nJSON and Markdown in an easy self contained\npackage\n\n"
OCR_NOTE = "page(s) {pages} were read by OCR (Tesseract, {langs}, 300 dpi); OCR can misread characters, check their text"
ZH_LINES = ["資料集產生器把文件轉成問答", "掃描的頁面沒有文字層", "臺灣的天氣很好", "這份手冊說明如何安裝軟體"]
OCR_LABEL = "Read scanned PDF pages by OCR (Tesseract)"


def image_page(doc: pymupdf.Document, lines: list[str]) -> None:
    """Append to ``doc`` a page that is only a picture of ``lines`` (Traditional Chinese drawn with
    PyMuPDF's built-in CJK font, rendered at 300 dpi): no text layer."""
    with pymupdf.open() as src:
        page = src.new_page(width=595, height=842)
        for i, line in enumerate(lines):
            page.insert_text((72, 100 + 30 * i), line, fontname="china-t", fontsize=20)
        png = page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY).tobytes("png")
    target = doc.new_page(width=595, height=842)
    target.insert_image(target.rect, stream=png)


def mixed_pdf() -> bytes:
    """Three pages: English with a text layer, a scanned-like Chinese image, English again."""
    with pymupdf.open() as doc:
        doc.new_page(width=595, height=842).insert_text((72, 100), "An English page with a text layer.", fontsize=12)
        image_page(doc, ZH_LINES)
        doc.new_page(width=595, height=842).insert_text((72, 100), "The last page.", fontsize=12)
        return doc.tobytes()


def test_scanned_pdf_is_read_by_ocr_when_asked():
    document = parse_file(SCANNED, ocr_language="en")
    assert document.text == SCANNED_TEXT
    assert document.page_starts == (0,)
    assert document.warnings == (OCR_NOTE.format(pages="1", langs="eng"),)


def test_garbage_text_layer_is_replaced_by_ocr():
    # The page shows the Czech "Peněžní prostředky na účtech" in a ruled table; its text layer maps
    # every glyph to U+FFFD. English OCR reads the words without some of their accents.
    document = parse_file(GARBAGE, ocr_language="en")
    assert document.text == "Penézni prostredky na uctech\n\n"
    assert document.warnings == (OCR_NOTE.format(pages="1", langs="eng"),)


def test_traditional_chinese_image_page_among_text_pages_keeps_page_provenance():
    document = parse_bytes(mixed_pdf(), "mixed.pdf", ocr_language="zh-TW")
    first, second, third = "An English page with a text layer.\n\n", "\n".join(ZH_LINES) + "\n\n", "The last page.\n\n"
    assert document.text == first + second + third
    assert document.page_starts == (0, len(first), len(first) + len(second))
    assert document.warnings == (OCR_NOTE.format(pages="2", langs="chi_tra+eng"),)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_scan_shown_rotated_is_read_as_the_reader_sees_it(rotation):
    # The picture is stored turned and the page's /Rotate turns it upright, as scanners do.
    with pymupdf.open(SCANNED) as src:
        png = src[0].get_pixmap(dpi=150).tobytes("png")
    with pymupdf.open() as doc:
        page = doc.new_page(width=842, height=595) if rotation != 180 else doc.new_page(width=595, height=842)
        page.insert_image(page.rect, stream=png, rotate=rotation)
        page.set_rotation(rotation)
        data = doc.tobytes()
    assert parse_bytes(data, "turned.pdf", ocr_language="en").text == SCANNED_TEXT


def test_without_ocr_the_refusal_and_the_text_pages_stay_as_they_were():
    with pytest.raises(NoTextLayerError, match="no text layer"):
        parse_file(SCANNED)
    mixed = parse_bytes(mixed_pdf(), "mixed.pdf")
    assert mixed.text == "An English page with a text layer.\n\nThe last page.\n\n"
    assert mixed.warnings == ("page(s) 2 are images without a text layer; their content is missing (run OCR first "
                              "(e.g. `ocrmypdf in.pdf out.pdf`) and upload the result)",)
    # A PDF with a good text layer reads the same with OCR on: no page needs it.
    notes = CORPUS / "ollama-notes-zh-TW.pdf"
    assert parse_file(notes, ocr_language="zh-TW") == parse_file(notes)


def test_missing_language_data_is_one_line_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # a folder without any *.traineddata
    with pytest.raises(OcrUnavailableError) as caught:
        parse_file(SCANNED, ocr_language="zh-TW")
    assert str(caught.value) == (
        "pdf_scanned_image_only.pdf: OCR needs Tesseract's chi_tra+eng language data: install it with "
        "`sudo apt install tesseract-ocr tesseract-ocr-chi-tra tesseract-ocr-eng` (macOS: `brew install tesseract "
        "tesseract-lang`), or start the app with `DATASET_GEN_OCR=1 bash scripts/run.sh`, which installs it"
    )
    # Nothing to OCR: Tesseract is not needed.
    assert parse_file(CORPUS / "ollama-notes-zh-TW.pdf", ocr_language="zh-TW").text


def test_ocr_languages_follow_the_project_language():
    everything = {"eng", "chi_tra", "chi_sim", "jpn", "kor", "osd"}
    assert [tesseract_languages(lang, everything) for lang in ("zh-TW", "zh-CN", "ja", "ko", "en", "auto", "fr")] == [
        "chi_tra+eng", "chi_sim+eng", "jpn+eng", "kor+eng", "eng", "eng+chi_tra+chi_sim+jpn+kor", "eng"]
    assert tesseract_languages("auto", {"eng", "kor"}) == "eng+kor"
    with pytest.raises(LookupError) as caught:
        tesseract_languages("ja", {"eng"})
    assert caught.value.args[0] == ["jpn"]


def test_ocr_setting_is_off_by_default_and_reaches_the_parser():
    assert (Settings().ocr, Settings().ocr_language, ProjectConfig().ocr) == (False, None, False)
    config = ProjectConfig.load({"ocr": True, "language": "zh-TW"})
    assert (config.ocr_language(), config.apply(Settings()).ocr_language) == ("zh-TW", "zh-TW")


def cli(*args, data_dir):
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-m", "dataset_gen", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


def test_cli_generate_offers_ocr_and_reads_the_scan_with_it(tmp_path, fake_ollama):
    base = ("generate", SCANNED, "--model", "qwen2.5:7b", "--host", fake_ollama.url, "--project", "scans",
            "--language", "en")
    code, err = cli(*base, data_dir=tmp_path)
    assert code == 2
    assert err.strip().endswith("; or run again with --ocr to read it by OCR here")
    code, err = cli(*base, "--ocr", data_dir=tmp_path)
    assert code == 0, err
    assert "pdf_scanned_image_only.pdf: 1 chunk (new)" in err
    assert f"warning: pdf_scanned_image_only.pdf: {OCR_NOTE.format(pages='1', langs='eng')}" in err
    with Store.open(tmp_path) as store:
        project_id = store.project_id("scans")
        [document] = store.list_documents(project_id)
        assert store.get_document(document.id).text == SCANNED_TEXT


def test_documents_page_offers_ocr_and_reads_the_scan_when_ticked(app_data_dir):
    with Store.open(app_data_dir) as store:
        project_id = store.create_project("scans")
        store.set_settings(project_id, ProjectConfig(language="en").model_dump())
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/documents.py")
    at.run()
    upload = [("pdf_scanned_image_only.pdf", SCANNED.read_bytes(), "application/pdf")]
    at.file_uploader[0].set_value(upload)
    at.run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith(md_escape("pdf_scanned_image_only.pdf: has 1 page(s) but no text layer"))
    assert error.value.endswith(md_escape(f"; or tick “{OCR_LABEL}” above and upload it again"))
    box = next(c for c in at.checkbox if c.label == OCR_LABEL)
    assert box.value is False
    box.check().run()
    with Store.open(app_data_dir) as store:
        assert store.get_settings(project_id)["ocr"] is True
    at.file_uploader[0].set_value(upload)
    at.run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [md_escape("pdf_scanned_image_only.pdf: added, 1 chunk")]
    assert [w.value for w in at.warning] == [md_escape(f"pdf_scanned_image_only.pdf: {OCR_NOTE.format(pages='1', langs='eng')}")]
    with Store.open(app_data_dir) as store:
        [document] = store.list_documents(project_id)
        assert store.get_document(document.id).text == SCANNED_TEXT
