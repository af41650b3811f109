"""Fidelity of the PDF reader against ground truth, and its ingest rate.

    python bench/bench_fidelity.py [--repeat 3] [--pymupdf4llm]

The user's note (``ollama-notes-zh-TW``) exists as Markdown (the ground truth), as a PDF and as a
DOCX with the same text. For the PDF and the DOCX this prints: table rows right (every Markdown
table row, header rows included, whose cells come out equal and in order; a multiset match),
whether the heading sequence is the Markdown's, code blocks fenced (Markdown code blocks whose
content comes out inside a fence, compared without whitespace), and a text similarity
(``rapidfuzz.fuzz.ratio`` / 100 on the texts with Markdown markup and all whitespace removed and
NFKC applied). For the Federal Register PDF (15 pages, 3 columns): how often its running header
``Federal Register / Vol. 85`` is left in the text, and whether page 2's footnotes come after
page 2's body. Then the ingest rate in pages per second on the 117-page PDF: raw PyMuPDF
``page.get_text()``, :func:`dataset_gen.pdf.read_pdf` without layout analysis
(``layout=False``: stream order, no header/footnote/column analysis), with it (the default; long
documents are read by worker processes too) and with it in one process (``workers=0``),
and with ``--pymupdf4llm`` also ``pymupdf4llm.to_markdown`` (slow: about 3 pages per second).

Targets: every row, heading and code block right, similarity >= 0.98, read_pdf with layout
analysis at least half raw PyMuPDF's rate.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pymupdf
from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset_gen.documents import parse_file  # noqa: E402
from dataset_gen.pdf import read_pdf  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"
NOTE = "ollama-notes-zh-TW"
FEDERAL = CORPUS / "pdf_federal_register_3col_15p.pdf"
LONG = CORPUS / "pdf_long_117p_de_math.pdf"

_FENCE_RE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_SEPARATOR_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE_RE = re.compile(r"\*\*|__|`|\\(?=[#|*_`\\-])")
_MARKUP_RE = re.compile(r"(?m)^\s*(#{1,6}\s|>\s?|[-*+]\s|\d+\.\s|-{3,}\s*$)|\||:?-{3,}:?|`{3,}\w*")


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def table_rows(text: str) -> Counter[tuple[str, ...]]:
    """Every pipe-table row outside code fences as a tuple of normalised cells (separators out)."""
    rows: Counter[tuple[str, ...]] = Counter()
    for line in _FENCE_RE.sub("", text).split("\n"):
        line = line.strip()
        if not line.startswith("|") or _SEPARATOR_RE.match(line):
            continue
        cells = re.split(r"(?<!\\)\|", line.strip("|"))
        rows[tuple(_norm(_INLINE_RE.sub("", c)) for c in cells)] += 1
    return rows


def headings(text: str) -> list[str]:
    body = _FENCE_RE.sub("", text)
    return [_norm(_INLINE_RE.sub("", m.group(0))) for m in re.finditer(r"(?m)^#{1,6} .*$", body)]


def code_blocks(text: str) -> list[str]:
    return [_norm(m.group(2)) for m in _FENCE_RE.finditer(text)]


def plain(text: str) -> str:
    """Text without Markdown markup and whitespace, NFKC-normalised."""
    text = _FENCE_RE.sub(lambda m: m.group(2), text)
    return _norm(_MARKUP_RE.sub("", _INLINE_RE.sub("", text)))


def compare(truth: str, text: str) -> dict[str, object]:
    want, got = table_rows(truth), table_rows(text)
    fenced = Counter(code_blocks(text))
    code_right = sum((Counter(code_blocks(truth)) & fenced).values())
    return {
        "rows": f"{sum((want & got).values())}/{sum(want.values())}",
        "headings": headings(truth) == headings(text),
        "code": f"{code_right}/{len(code_blocks(truth))}",
        "similarity": round(fuzz.ratio(plain(truth), plain(text)) / 100, 4),
    }


def federal_register() -> dict[str, object]:
    doc = parse_file(FEDERAL)
    text = doc.text
    page2 = text[doc.page_starts[1]:doc.page_starts[2]]
    # footnote 1 of page 2, and the last paragraph of page 2's body (end of column 3)
    note, last_body = page2.find("Preliminary KNKT.18.10.35.04"), page2.find("In addition to these")
    return {
        "running header left in text": text.count("Federal Register / Vol. 85"),
        "pages with left_out text": len(doc.left_out),
        "page 2 footnote 1 after its body": note > last_body >= 0,
        "footnote markers glued (alert,5)": text.count("alert,5"),
    }


def rate(fn, pages: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return pages / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pymupdf4llm", action="store_true")
    args = parser.parse_args()
    truth = (CORPUS / f"{NOTE}.md").read_text(encoding="utf-8")
    for ext in ("pdf", "docx"):
        print(f"{NOTE}.{ext}: {compare(truth, parse_file(CORPUS / f'{NOTE}.{ext}').text)}")
    print(f"{FEDERAL.name}: {federal_register()}")
    data = LONG.read_bytes()
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        pages = doc.page_count

    def raw() -> None:
        with pymupdf.open(stream=data, filetype="pdf") as doc:
            for page in doc:
                page.get_text()

    raw_rate = rate(raw, pages, args.repeat)
    plain_rate = rate(lambda: read_pdf(data, LONG.name, layout=False), pages, args.repeat)
    layout_rate = rate(lambda: read_pdf(data, LONG.name), pages, args.repeat)
    alone_rate = rate(lambda: read_pdf(data, LONG.name, workers=0), pages, args.repeat)
    print(f"{LONG.name} ({pages} pages), pages/s: raw get_text {raw_rate:.0f}; read_pdf without "
          f"layout {plain_rate:.0f} ({plain_rate / raw_rate:.2f}); with layout {layout_rate:.0f} "
          f"({layout_rate / raw_rate:.2f}, target >= 0.50); with layout in one process "
          f"{alone_rate:.0f} ({alone_rate / raw_rate:.2f})")
    if args.pymupdf4llm:
        import pymupdf4llm

        def llm() -> None:
            with pymupdf.open(stream=data, filetype="pdf") as doc:
                pymupdf4llm.to_markdown(doc, show_progress=False)

        llm_rate = rate(llm, pages, 1)
        print(f"pymupdf4llm.to_markdown: {llm_rate:.1f} pages/s ({llm_rate / raw_rate:.3f})")
        with pymupdf.open(CORPUS / f"{NOTE}.pdf") as doc:
            md = pymupdf4llm.to_markdown(doc, show_progress=False)
        print(f"pymupdf4llm on {NOTE}.pdf: {compare(truth, md)}")


if __name__ == "__main__":
    main()
