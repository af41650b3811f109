"""Pages of a PDF read by worker processes give the same result as read in one process."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from dataset_gen.documents import ParseCancelled
from dataset_gen.errors import NoTextLayerError
from dataset_gen.pdf import read_pdf

CORPUS = Path(__file__).parent / "data" / "corpus"


def _read(name: str, workers: int | None) -> tuple:
    return read_pdf((CORPUS / name).read_bytes(), name, workers=workers)


def test_long_pdf_read_by_workers_is_byte_identical():
    alone = _read("pdf_long_117p_de_math.pdf", 0)
    for workers in (None, 1, 2, 3):
        assert _read("pdf_long_117p_de_math.pdf", workers) == alone
    text, page_starts, _, left_out = alone
    assert (len(page_starts), len(left_out)) == (117, 102)
    assert page_starts[58] < page_starts[59] <= len(text)


@pytest.mark.parametrize("name", [
    "ollama-notes-zh-TW.pdf",  # code fences and tables running across page breaks
    "pdf_federal_register_3col_15p.pdf",  # running headers, columns, footnotes
    "pdf_cjk_zh_fake_bold_dupchars.pdf",
    "pdf_multicolumn_latex_2col.pdf",
])
def test_short_pdfs_cut_into_worker_ranges_read_the_same(name):
    alone = _read(name, 0)
    assert _read(name, 2) == alone
    assert _read(name, 1) == alone


def test_mupdf_warnings_of_a_worker_are_kept():
    # one page: the worker reads it, this process only opens the file
    alone = _read("pdf_corrupted_zlib_stream.pdf", 0)
    assert _read("pdf_corrupted_zlib_stream.pdf", 1) == alone
    assert any(w.startswith("MuPDF reported problems while reading") for w in alone[2])


def test_repeated_mupdf_warnings_are_counted_alike_in_every_split():
    # six copies of the damaged page: the same zlib warning again and again across page ranges
    source = pymupdf.open(CORPUS / "pdf_corrupted_zlib_stream.pdf")
    copies = pymupdf.open()
    for _ in range(6):
        copies.insert_pdf(source)
    data = copies.tobytes()
    results = [read_pdf(data, "copies.pdf", workers=w) for w in (0, 1, 2, 3)]
    assert results[1:] == [results[0]] * 3
    assert results[0][2] == ("MuPDF reported problems while reading (some text may be missing): "
                             "ignoring zlib error: incorrect data check (×18)",)


def test_unreadable_text_layer_is_refused_with_workers_too():
    with pytest.raises(NoTextLayerError) as alone:
        _read("pdf_nonunicode_cmap_garbage.pdf", 0)
    with pytest.raises(NoTextLayerError) as split:
        _read("pdf_nonunicode_cmap_garbage.pdf", 1)
    assert str(split.value) == str(alone.value)


def test_stop_is_asked_while_workers_read():
    data = (CORPUS / "pdf_long_117p_de_math.pdf").read_bytes()
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 58  # asked before each of this process's 58 pages, then once more

    with pytest.raises(ParseCancelled):  # once the worker's range (pages 59-117) is in
        read_pdf(data, "long.pdf", should_stop=stop, workers=1)
    assert len(asked) == 59


def test_workers_started_beside_other_threads_read_the_same():
    """With another thread running, the workers come from a fork server, not a plain fork."""
    script = (
        "import hashlib, threading, sys\n"
        "from dataset_gen.pdf import read_pdf\n"
        "from dataset_gen import pdf_pages\n"
        "gate = threading.Event()\n"
        "threading.Thread(target=gate.wait, daemon=True).start()\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "split = read_pdf(data, 'long.pdf', workers=1)\n"
        "method = pdf_pages.worker_start_method()\n"
        "alone = read_pdf(data, 'long.pdf', workers=0)\n"
        "gate.set()\n"
        "print(method, split == alone, hashlib.sha256(split[0].encode()).hexdigest()[:12])\n"
    )
    path = CORPUS / "pdf_long_117p_de_math.pdf"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parents[1], check=True)
    expected = hashlib.sha256(_read(path.name, 0)[0].encode()).hexdigest()[:12]
    assert done.stdout == f"forkserver True {expected}\n"


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_workers_die_with_a_reader_killed_with_sigkill():
    """A reader killed with ``kill -9`` while its workers read must not leave them running: they
    would hold the project's lock and the database they inherited."""
    import signal
    import time

    script = (f"import sys; from pathlib import Path; from dataset_gen.pdf import read_pdf\n"
              f"data = Path({str(CORPUS / 'pdf_long_117p_de_math.pdf')!r}).read_bytes()\n"
              "print('reading', flush=True)\n"
              "while True:\n    read_pdf(data, 'long.pdf', workers=1)\n")
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[1])
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "reading\n"
        deadline = time.monotonic() + 30
        workers: set[int] = set()
        while not workers and time.monotonic() < deadline:
            workers = _children(reader.pid)
            time.sleep(0.05)
        assert workers, "no worker process was started"
        reader.send_signal(signal.SIGKILL)
        reader.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if _alive(w)] == []
    finally:
        if reader.poll() is None:
            reader.kill()
