"""Ingest speed: pages per second of reading a PDF with layout analysis
(:func:`dataset_gen.pdf.read_pdf`) and of parse + split + store, against raw PyMuPDF text
extraction (``page.get_text()`` on every page) of the same file. Targets: read_pdf ratio ≥ 0.50,
ingest ratio ≥ 0.7.

    python bench/bench_ingest.py [PDF] [--repeat 5]

Default PDF: the longest in the corpus (``pdf_long_117p_de_math.pdf``). The measurements take
turns (raw, read_pdf in worker processes, read_pdf in one process, ingest) ``--repeat`` times, so
that load from other programs hits them alike; each figure is the best of its runs. The first
read_pdf call, which starts the worker processes, is printed apart.
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
from dataset_gen.pdf import read_pdf  # noqa: E402
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


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = args.pdf.read_bytes()
    first_s, _ = timed(lambda: read_pdf(data, args.pdf.name))
    times: dict[str, list[float]] = {"raw": [], "read": [], "alone": [], "ingest": []}
    pages = chunks = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            seconds, pages = timed(lambda: raw_extract(data))
            times["raw"].append(seconds)
            times["read"].append(timed(lambda: read_pdf(data, args.pdf.name))[0])
            times["alone"].append(timed(lambda: read_pdf(data, args.pdf.name, workers=0))[0])
            seconds, chunks = timed(lambda i=i: ours(data, args.pdf.name, Path(tmp), i))
            times["ingest"].append(seconds)
    raw_s, read_s, alone_s, ingest_s = (min(times[k]) for k in ("raw", "read", "alone", "ingest"))
    print(f"{args.pdf.name}: {pages} pages, {chunks} chunks")
    print(f"raw PyMuPDF get_text: {raw_s:.3f} s = {pages / raw_s:.1f} pages/s")
    print(f"read_pdf (layout): {read_s:.3f} s = {pages / read_s:.1f} pages/s; "
          f"ratio {raw_s / read_s:.2f} (target >= 0.50); first call {first_s:.3f} s")
    print(f"read_pdf in one process (workers=0): {alone_s:.3f} s = {pages / alone_s:.1f} pages/s; "
          f"ratio {raw_s / alone_s:.2f}")
    print(f"parse + split + store: {ingest_s:.3f} s = {pages / ingest_s:.1f} pages/s; "
          f"ratio {raw_s / ingest_s:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
