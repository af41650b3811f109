"""Ingest speed: pages per second for parse + split + store of a PDF, against raw PyMuPDF text
extraction (``page.get_text()`` on every page) of the same file. Target: ratio ≥ 0.7.

    python bench/bench_ingest.py [PDF] [--repeat 3]

Default PDF: the longest in the corpus (``pdf_long_117p_de_math.pdf``). Each figure is the best of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset_gen.config import ChunkSettings  # noqa: E402
from dataset_gen.ingest import ingest_bytes  # noqa: E402
from dataset_gen.store import Store  # noqa: E402

DEFAULT_PDF = ROOT / "tests" / "data" / "corpus" / "pdf_long_117p_de_math.pdf"


def raw_extract(data: bytes) -> int:
    """Raw PyMuPDF: open and ``get_text()`` every page; returns the page count."""
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for page in doc:
            page.get_text()
        return doc.page_count


def ours(data: bytes, name: str, folder: Path, run: int) -> int:
    """Parse, split and store into a fresh project; returns the chunk count."""
    with Store.open(folder) as store:
        project_id = store.create_project(f"bench-{run}")
        return ingest_bytes(store, project_id, data, name, ChunkSettings(), max_bytes=1 << 30).chunks


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for i in range(repeat):
        start = time.perf_counter()
        result = fn(i)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = args.pdf.read_bytes()
    raw_s, pages = best(lambda i: raw_extract(data), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        ours_s, chunks = best(lambda i: ours(data, args.pdf.name, Path(tmp), i), args.repeat)
    print(f"{args.pdf.name}: {pages} pages, {chunks} chunks")
    print(f"raw PyMuPDF get_text: {raw_s:.3f} s = {pages / raw_s:.1f} pages/s")
    print(f"parse + split + store: {ours_s:.3f} s = {pages / ours_s:.1f} pages/s")
    print(f"ratio: {raw_s / ours_s:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
