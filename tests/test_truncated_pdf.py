"""A PDF cut short (a broken download) is refused in one line naming it as damaged, not as a
scan, and the other files of the same command are still read and generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataset_gen.cli import main
from dataset_gen.documents import parse_bytes
from dataset_gen.errors import CorruptDocumentError

NOTES_PDF = Path(__file__).parent / "data" / "corpus" / "ollama-notes-zh-TW.pdf"
DAMAGED = ("trunc.pdf: cannot be read as a PDF (code=7: Invalid number of pages); it is damaged or truncated: "
           "download or export it again")


@pytest.mark.parametrize(("size", "message"), [
    (1_000, DAMAGED),
    (50_000, DAMAGED),
    (100_000, "trunc.pdf: is damaged or truncated (MuPDF: format error: cannot find startxref); none of its 13 "
              "page(s) could be read: download or export it again"),
])
def test_a_truncated_pdf_is_damaged_not_scanned(size, message):
    with pytest.raises(CorruptDocumentError) as caught:
        parse_bytes(NOTES_PDF.read_bytes()[:size], "trunc.pdf")
    assert str(caught.value) == message


def test_a_truncated_pdf_among_other_files_is_one_line_and_the_others_are_generated(tmp_path, fake_ollama, capsys):
    good = tmp_path / "ok.md"
    good.write_text("# Ports\n\nOllama listens on port 11434 by default.\n", encoding="utf-8")
    bad = tmp_path / "trunc.pdf"
    bad.write_bytes(NOTES_PDF.read_bytes()[:50_000])
    code = main(["--data-dir", str(tmp_path / "data"), "generate", str(good), str(bad), "--model", "qwen2.5:7b",
                 "--host", fake_ollama.url, "--pairs-per-chunk", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert [ln for ln in err.splitlines() if "trunc.pdf" in ln] == [f"error: {DAMAGED}"]
    assert "1 pair from 1 chunk, in" in err
