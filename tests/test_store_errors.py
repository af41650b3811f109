"""Storage failures of the store, provoked for real: each becomes one StoreError line.

Disk full comes from ``PRAGMA max_page_count``, "too big" from SQLite's length limit, "locked" from a
second connection holding the write lock, read-only folders and files from chmod. Root ignores
permission bits through the capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so as root the
read-only cases run in a child process started without them (``setpriv --bounding-set``); as any
other user the child runs as it is. Each child first checks that it really cannot write.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dataset_gen.errors import StoreError
from dataset_gen.migrations import MIGRATIONS, migrate
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.store import DB_FILENAME, Store
from tests.fake_ollama import FakeOllama

ROOT = Path(__file__).resolve().parent.parent
ELSEWHERE = "set DATASET_GEN_DATA_DIR / --data-dir to another folder"
NOTHING_SAVED = "nothing was saved from the step that failed"


def document(name: str = "notes.md", text: str = "Run ollama serve first.\n\nThen pull a model.\n",
             sha: str = "a" * 64) -> Document:
    return Document(name=name, text=text, kind="markdown", sha256=sha)


def fill(store: Store) -> tuple[int, int, list[int]]:
    """Project "notes": one document, two chunks, two pairs of which one is accepted."""
    project = store.create_project("notes")
    doc = document()
    doc_id = store.add_document(project, doc)
    chunk_ids = store.replace_chunks(doc_id, [Chunk(doc.name, 0, 0, 24, doc.text[:24]),
                                              Chunk(doc.name, 1, 25, len(doc.text), doc.text[25:])])
    run = store.start_run(project, "m", {}, "qa_generate", "1", 2)
    ids = store.save_chunk_pairs(chunk_ids[0], run, [QAPair("What runs first?", "ollama serve", "Run", True),
                                                     QAPair("Then?", "Pull a model", "pull", True)])
    store.set_status([ids[0]], "accepted")
    return project, doc_id, chunk_ids


def chunks_of(store: Store, project: int) -> list[tuple[int, int, str]]:
    return [(c.id, c.ordinal, c.text) for c in store.list_chunks(project)]


# --- disk full ---------------------------------------------------------------------------------


def fill_the_disk(store: Store, spare_pages: int = 2) -> None:
    """Let the database file grow by only ``spare_pages`` pages (SQLite then reports SQLITE_FULL)."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")


def test_disk_full_while_replacing_chunks_keeps_the_old_chunks(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data) as store:
        project, doc_id, _ = fill(store)
        before = chunks_of(store, project)
        fill_the_disk(store)
        many = [Chunk("notes.md", n, 0, 24, f"chunk {n} " + "y" * 3000) for n in range(40)]
        with pytest.raises(StoreError) as caught:
            store.replace_chunks(doc_id, many)
        assert str(caught.value) == f"{data}: the disk is full: free some space and run again; {NOTHING_SAVED}"
        assert caught.value.reason == "full"
        assert chunks_of(store, project) == before
        assert store.count_pairs(project) == 2
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        assert len(store.replace_chunks(doc_id, many)) == 40
    with Store.open(data) as store:
        assert [c.ordinal for c in store.list_chunks(project)] == list(range(40))


def test_disk_full_while_adding_a_document_stores_nothing(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data) as store:
        project, _, _ = fill(store)
        fill_the_disk(store, spare_pages=1)
        big = document("big.md", "z" * 20_000, "b" * 64)
        with pytest.raises(StoreError) as caught:
            store.add_document(project, big)
        assert str(caught.value) == f"{data}: the disk is full: free some space and run again; {NOTHING_SAVED}"
        assert caught.value.reason == "full"
        assert [d.name for d in store.list_documents(project)] == ["notes.md"]
        assert store.create_project("still usable") > project


# --- too big -----------------------------------------------------------------------------------


def test_document_text_above_the_limit_names_the_document(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data) as store:
        project, _, _ = fill(store)
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)
        bomb = Document(name="bomb.docx", text="炸" * 40_000, kind="docx", sha256="c" * 64)
        with pytest.raises(StoreError) as caught:
            store.add_document(project, bomb)
        assert str(caught.value) == (
            f"{data / DB_FILENAME}: the text of document 'bomb.docx' (40,000 characters) is too big to "
            f"store (SQLite takes at most 100,000 bytes per value): split it or leave it out; {NOTHING_SAVED}"
        )
        assert caught.value.reason == "too_big"
        assert [d.name for d in store.list_documents(project)] == ["notes.md"]
        small = store.add_document(project, document("small.md", "fits", "d" * 64))
        assert [d.id for d in store.list_documents(project)][-1] == small


def test_too_big_inside_a_joined_transaction_rolls_back_the_outer_one(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data) as store:
        project, _, _ = fill(store)
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000)
        with pytest.raises(StoreError) as caught, store._write():
            store.create_project("made inside")
            store.add_document(project, document("long.md", "w" * 2_000, "e" * 64))
        assert str(caught.value) == (
            f"{data / DB_FILENAME}: the text of document 'long.md' (2,000 characters) is too big to "
            f"store (SQLite takes at most 1,000 bytes per value): split it or leave it out; {NOTHING_SAVED}"
        )
        assert caught.value.reason == "too_big"
        assert [p.name for p in store.list_projects()] == ["notes"]


# --- locked ------------------------------------------------------------------------------------


@contextmanager
def write_lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection holding the database's write lock until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield other
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_write_lock_held_past_the_busy_timeout_is_locked(tmp_path: Path):
    data = tmp_path / "data"
    with Store.open(data, busy_timeout_ms=50) as store:
        fill(store)
        with write_lock_held(data / DB_FILENAME):
            assert [p.name for p in store.list_projects()] == ["notes"]  # WAL: reading still works
            with pytest.raises(StoreError) as caught:
                store.create_project("second")
        assert str(caught.value) == (
            f"{data / DB_FILENAME} is locked by another program (waited 0.05 s): close the other program "
            f"that has it open (another dataset-gen, a database browser) and run again; {NOTHING_SAVED}"
        )
        assert caught.value.reason == "locked"
        store.create_project("second")
        assert [p.name for p in store.list_projects()] == ["notes", "second"]


def old_schema(path: Path, versions: int = 3) -> None:
    """A WAL database file at schema version ``versions``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, MIGRATIONS[:versions])
    conn.close()


def test_write_lock_held_while_an_upgrade_waits_is_locked(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    old_schema(path)
    with write_lock_held(path), pytest.raises(StoreError) as caught:
        Store(path, busy_timeout_ms=50)
    assert str(caught.value) == (
        f"{path} is locked by another program (waited 0.05 s): close the other program that has it "
        "open (another dataset-gen, a database browser) and run again"
    )
    assert caught.value.reason == "locked"
    with Store(path) as store:
        assert store.read_only is False
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
    assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))


# --- cannot open -------------------------------------------------------------------------------


def test_a_folder_where_the_database_file_should_be(tmp_path: Path):
    data = tmp_path / "data"
    (data / DB_FILENAME).mkdir(parents=True)
    with pytest.raises(StoreError) as caught:
        Store.open(data)
    assert str(caught.value) == (
        f"{data / DB_FILENAME}: cannot open the database file (unable to open database file): check "
        f"that it is a file in a folder dataset-gen may write to, or {ELSEWHERE}"
    )
    assert caught.value.reason == "cannot_open"


def test_a_file_where_the_data_folder_should_be(tmp_path: Path):
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "data" / "inner")
    assert str(caught.value) == (
        f"{tmp_path / 'data' / 'inner'}: cannot create the data folder (Not a directory): make the "
        f"folder above it writable or {ELSEWHERE}"
    )
    assert caught.value.reason == "cannot_open"


# --- read-only folders and files ---------------------------------------------------------------

CHILD = r"""
import json, sys
from pathlib import Path
from dataset_gen.errors import StoreError
from dataset_gen.export import export_pairs
from dataset_gen.store import Store

data_dir, out_dir, probe = (Path(arg) for arg in sys.argv[1:4])
result = {}
try:
    with open(probe / "probe" if probe.is_dir() else probe, "ab"):
        result["probe"] = "writable"
except OSError as error:
    result["probe"] = type(error).__name__
try:
    store = Store.open(data_dir)
except StoreError as error:
    result["open"] = [getattr(error, "reason", None), str(error)]
else:
    with store:
        result["read_only"] = store.read_only
        result["projects"] = [[p.name, p.documents, p.chunks, p.pairs] for p in store.list_projects()]
        if "notes" in [p[0] for p in result["projects"]]:
            pairs = store.list_pairs(store.ensure_project("notes"), statuses=["accepted"])
            report = export_pairs(pairs, "alpaca", out_dir / "train.json")
            result["exported"] = [r["instruction"] for r in json.loads(report.path.read_text("utf-8"))]
        try:
            store.create_project("new")
            result["write"] = "saved"
        except StoreError as error:
            result["write"] = [getattr(error, "reason", None), str(error)]
print(json.dumps(result))
"""


def run_bound_by_permissions(data_dir: Path, out_dir: Path, probe: Path) -> dict:
    """Run :data:`CHILD` in a process that file permission bits bind, and return what it printed.

    As root that is a child without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: a capability dropped
    from the bounding set is gone from root's permitted set after ``exec``.
    """
    command = [sys.executable, "-c", CHILD, str(data_dir), str(out_dir), str(probe)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def chmodded(path: Path, mode: int) -> Iterator[None]:
    """``path`` with permission bits ``mode`` inside the block, its old ones after."""
    old = path.stat().st_mode & 0o7777
    path.chmod(mode)
    try:
        yield
    finally:
        path.chmod(old)


def read_only_refusal(target: Path) -> list[str]:
    """What the child prints for a write refused because ``target`` is read-only."""
    return ["read_only", f"{target} is read-only: nothing can be saved there (its projects can still be "
                         f"read); make it writable or {ELSEWHERE}"]


def test_read_only_folder_opens_read_only(tmp_path: Path):
    data, out = tmp_path / "data", tmp_path / "out"
    with Store.open(data) as store:
        fill(store)
    assert sorted(os.listdir(data)) == [DB_FILENAME]
    with chmodded(data, 0o555):
        result = run_bound_by_permissions(data, out, data)
    assert result == {
        "probe": "PermissionError",
        "read_only": True,
        "projects": [["notes", 1, 2, 2]],
        "exported": ["What runs first?"],
        "write": read_only_refusal(data),
    }
    assert sorted(os.listdir(data)) == [DB_FILENAME]
    assert sorted(os.listdir(out)) == ["dataset_info.json", "train.json"]
    with Store.open(data) as store:
        assert store.read_only is False
        assert [p.name for p in store.list_projects()] == ["notes"]


def test_read_only_folder_reads_what_a_writer_still_holds_in_its_wal(tmp_path: Path):
    data, out = tmp_path / "data", tmp_path / "out"
    with Store.open(data) as writer:
        fill(writer)
        writer.create_project("live")  # committed to the WAL; the file itself lacks it until closed
        assert (data / f"{DB_FILENAME}-wal").stat().st_size > 0
        with chmodded(data, 0o555):
            result = run_bound_by_permissions(data, out, data)
    assert result["probe"] == "PermissionError"
    assert result["read_only"] is True
    assert result["projects"] == [["live", 0, 0, 0], ["notes", 1, 2, 2]]
    assert result["write"] == read_only_refusal(data)


def test_read_only_database_file_opens_read_only(tmp_path: Path):
    data, out = tmp_path / "data", tmp_path / "out"
    with Store.open(data) as store:
        fill(store)
    with chmodded(data / DB_FILENAME, 0o444):
        result = run_bound_by_permissions(data, out, data / DB_FILENAME)
    assert result == {
        "probe": "PermissionError",
        "read_only": True,
        "projects": [["notes", 1, 2, 2]],
        "exported": ["What runs first?"],
        "write": read_only_refusal(data / DB_FILENAME),
    }


def test_read_only_folder_with_a_database_to_upgrade(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    old_schema(data / DB_FILENAME)
    with chmodded(data, 0o555):
        result = run_bound_by_permissions(data, tmp_path / "out", data)
    assert result == {
        "probe": "PermissionError",
        "open": ["read_only", f"{data / DB_FILENAME} needs a schema upgrade (version 3 to {len(MIGRATIONS)}) "
                 f"but {data} is read-only: make it writable once so dataset-gen can upgrade it, or {ELSEWHERE}"],
    }
    versions = sqlite3.connect(data / DB_FILENAME).execute("SELECT version FROM schema_migrations").fetchall()
    assert [v[0] for v in versions] == [1, 2, 3]


def test_read_only_folder_without_a_database(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    with chmodded(data, 0o555):
        result = run_bound_by_permissions(data, tmp_path / "out", data)
    assert result == {
        "probe": "PermissionError",
        "open": ["read_only", f"{data} is read-only and holds no dataset-gen database yet: make it writable "
                              f"or {ELSEWHERE}"],
    }
    assert os.listdir(data) == []


def test_data_folder_inside_a_read_only_folder(tmp_path: Path):
    parent = tmp_path / "locked"
    parent.mkdir()
    with chmodded(parent, 0o555):
        result = run_bound_by_permissions(parent / "data", tmp_path / "out", parent)
    assert result == {
        "probe": "PermissionError",
        "open": ["read_only", f"{parent / 'data'}: cannot create the data folder (Permission denied): make "
                              f"the folder above it writable or {ELSEWHERE}"],
    }


def test_damaged_file_in_a_read_only_folder_is_still_not_usable(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_FILENAME).write_bytes(b"this is not sqlite" * 100)
    with chmodded(data, 0o555):
        result = run_bound_by_permissions(data, tmp_path / "out", data)
    assert result == {
        "probe": "PermissionError",
        "open": [None, f"{data / DB_FILENAME}: not a usable dataset-gen database (file is not a database): "
                       "move it away or pick another data directory"],
    }


def test_read_only_folder_with_changes_left_in_the_wal_is_refused(tmp_path: Path):
    live, data = tmp_path / "live", tmp_path / "data"
    data.mkdir()
    with Store.open(live) as writer:
        fill(writer)
        writer.create_project("after the crash")  # committed to the WAL only
        for name in (DB_FILENAME, f"{DB_FILENAME}-wal"):  # what a power cut leaves, minus the -shm index
            (data / name).write_bytes((live / name).read_bytes())
    with chmodded(data, 0o555):
        result = run_bound_by_permissions(data, tmp_path / "out", data)
    assert result == {
        "probe": "PermissionError",
        "open": ["read_only", f"{data} is read-only and {data / DB_FILENAME}-wal holds changes not yet folded "
                              f"into the database (left by a program that stopped): make it writable and "
                              f"open it once, or {ELSEWHERE}"],
    }
    with Store.open(data) as store:  # writable again: SQLite recovers the WAL
        assert [p.name for p in store.list_projects()] == ["after the crash", "notes"]


def test_cli_on_a_read_only_folder_lists_and_exports_but_refuses_to_generate(tmp_path: Path):
    data, out = tmp_path / "data", tmp_path / "out"
    with Store.open(data) as store:
        fill(store)
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nOllama serves models on port 11434.\n", encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "dataset_gen", "--data-dir", str(data), *args]
        if os.geteuid() == 0:
            command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    with chmodded(data, 0o555):
        listed = cli("projects")
        exported = cli("export", "--project", "notes", "--format", "alpaca", "--output", str(out / "notes.json"))
        refused = cli("generate", str(notes), "--model", "m", "--project", "fresh", "--host", "http://127.0.0.1:9")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "notes\t1 documents\t2 chunks\t2 pairs\n", "")
    assert exported.returncode == 0 and (out / "notes.json").is_file(), exported.stderr
    # generate checks the server first; with none there it stops before touching the store ...
    assert refused.returncode == 2 and refused.stderr.startswith("error: Ollama is not running"), refused.stderr
    with FakeOllama() as fake, chmodded(data, 0o555):
        refused = cli("generate", str(notes), "--model", "qwen2.5:7b", "--project", "fresh", "--host", fake.url)
    # ... and with one, the read-only folder is named in one line before anything is created.
    assert (refused.returncode, refused.stderr) == (2, f"error: {read_only_refusal(data)[1]}\n")
    with FakeOllama() as fake, chmodded(data, 0o555):
        judged = cli("judge", "--project", "notes", "--model", "qwen2.5:7b", "--host", fake.url)
        assert fake.chat_requests() == []  # verdicts that could not be saved are never asked for
    assert (judged.returncode, judged.stderr) == (2, f"error: {read_only_refusal(data)[1]}\n")
    assert sorted(os.listdir(data)) == [DB_FILENAME]
