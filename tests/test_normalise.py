"""Compatibility characters that look like letters are mapped the same way in every format."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pymupdf

from dataset_gen.chunking import split_document
from dataset_gen.documents import parse_bytes, parse_file
from dataset_gen.grounding import is_grounded, locate
from dataset_gen.normalise import normalise_compat

CORPUS = Path(__file__).parent / "data" / "corpus"

# Kangxi radicals for 一 广 貝, a CJK compatibility ideograph (U+F900 for 豈, U+2F800 for 丽), a
# supplement radical that decomposes (U+2E9F for 母) and one that does not (U+2E80), ligatures.
RAW = "\u2f00\u2f34\u2f99 \uf900\U0002f800 \u2e9f\u2e80 \ufb01le \ufb02ow \ufb00 \ufb03 \ufb04 \ufb05\ufb06"
MAPPED = "一广貝 豈丽 母\u2e80 file flow ff ffi ffl stst"
# What NFKC would change but the writer meant: it all stays.
KEPT = "（全形）、；「引號」 ① ² ₂ ™ ℃ ½ Ⅲ ＡＢＣ１２３ ｶﾀｶﾅ ㄱ \u3000 \ufa0e\ufa0f"


def test_normalise_compat_maps_exactly_the_documented_characters():
    assert normalise_compat(RAW) == MAPPED
    assert normalise_compat(KEPT) == KEPT
    assert normalise_compat(MAPPED) == MAPPED  # idempotent
    assert normalise_compat("") == ""
    assert normalise_compat("plain ASCII") == "plain ASCII"


def test_every_text_format_is_normalised_the_same_way():
    text = f"# 標題\n\n{RAW}\n\n{KEPT}\n"
    expected = f"# 標題\n\n{MAPPED}\n\n{KEPT}\n"
    assert parse_bytes(text.encode(), "notes.md").text == expected
    assert parse_bytes(text.encode(), "notes.txt").text == expected
    assert parse_bytes(text.encode("utf-16"), "notes-utf16.txt").text == expected

    document = docx.Document()
    document.add_paragraph(RAW)
    document.add_paragraph(KEPT)
    buffer = io.BytesIO()
    document.save(buffer)
    assert parse_bytes(buffer.getvalue(), "notes.docx").text == f"{MAPPED}\n\n{KEPT}"


def _kangxi_pdf() -> bytes:
    """A PDF whose font's ToUnicode maps the glyphs of 一 and 广 to the Kangxi radicals U+2F00 and
    U+2F34 (what some CJK fonts do): a reader sees 一广, the text layer holds ⼀⼴."""
    doc = pymupdf.open()
    page = doc.new_page()
    shown = "\u2f00\u2f34 「①」 ™"
    page.insert_text((72, 72), shown, fontname="china-t")
    codes = sorted(set(shown))
    pairs = " ".join(f"<{ord(c):04x}> <{ord(c):04x}>" for c in codes)
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /K def "
            "1 begincodespacerange <0000> <FFFF> endcodespacerange "
            f"{len(codes)} beginbfchar {pairs} endbfchar endcmap CMapName currentdict "
            "/CMap defineresource pop end end")
    xref = doc.get_new_xref()
    doc.update_object(xref, "<<>>")
    doc.update_stream(xref, cmap.encode())
    font = next(x for x in range(1, doc.xref_length()) if "/Type0" in doc.xref_object(x))
    doc.xref_set_key(font, "ToUnicode", f"{xref} 0 R")
    return doc.tobytes()


def test_pdf_text_layer_with_kangxi_radicals_is_normalised():
    data = _kangxi_pdf()
    with pymupdf.open(stream=data, filetype="pdf") as raw:
        assert raw[0].get_text() == "\u2f00\u2f34 「①」 ™\n"
    assert parse_bytes(data, "kangxi.pdf").text == "一广 「①」 ™\n\n"


def test_ligatures_of_the_german_lecture_notes_are_expanded():
    with pymupdf.open(CORPUS / "pdf_long_117p_de_math.pdf") as raw:
        layer = "".join(page.get_text() for page in raw)
    assert sum(layer.count(c) for c in "\ufb00\ufb01\ufb02\ufb03") == 381
    assert layer.count("Au\ufb02age") == 2

    text = parse_file(CORPUS / "pdf_long_117p_de_math.pdf").text
    assert sum(text.count(chr(c)) for c in range(0xFB00, 0xFB07)) == 0
    assert text.count("Auflage") == 2


def test_grounding_finds_a_quote_the_model_copied_with_compatibility_characters():
    document = parse_bytes("Der ⼀ Eintrag: die Au\ufb02age ist vergriffen.\n".encode(), "n.txt")
    chunk = split_document(document)[0]
    assert chunk.text == "Der 一 Eintrag: die Auflage ist vergriffen."
    for quote in ("die Au\ufb02age ist vergri\ufb00en", "Der ⼀ Eintrag", "die Auflage ist vergriffen"):
        assert is_grounded(quote, chunk.text)
    assert locate("die Au\ufb02age ist vergri\ufb00en", chunk.text) == (15, 41)
    assert locate("Der ⼀ Eintrag", chunk.text) == (0, 13)
