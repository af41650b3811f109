"""Runs end in a true state and lose nothing: real CLI processes stopped by SIGINT, SIGTERM and
kill -9 while the fake Ollama server holds a reply, the project lock across processes and within
one, and the app's job registry beside a live command line run. Real SQLite files throughout."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.config import ChunkSettings, Settings
from dataset_gen.errors import BackendError, StorageError
from dataset_gen.generation import run_generation
from dataset_gen.ingest import ingest_bytes
from dataset_gen.jobs import JobRegistry
from dataset_gen.locks import ProjectBusyError, close_dead_runs, lock_project, lock_project_name, project_locked
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, Slow, qa_responder

ROOT = Path(__file__).resolve().parents[1]
NOTES_MD = Path(__file__).resolve().parent / "data" / "corpus" / "ollama-notes-zh-TW.md"
CHUNKS = 27  # NOTES_MD splits into this many chunks with the default settings
MODEL = "qwen2.5:7b"


class FastThenSlow:
    """A responder: the first ``fast`` chat requests are answered at once, every later one only
    after ``slow_s`` seconds (like a model that stalls)."""

    def __init__(self, fast: int, slow_s: float = 30.0):
        self.fast, self.slow_s, self.count = fast, slow_s, 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.count += 1
            n = self.count
        reply = qa_responder(request)
        return reply if n <= self.fast else Slow(self.slow_s, then=reply)


def start_cli(data_dir, *args) -> subprocess.Popen:
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir)}
    return subprocess.Popen([sys.executable, "-m", "dataset_gen", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(data_dir, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATASET_GEN_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "dataset_gen", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def wait_until(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def generate_args(fake, *extra):
    return ("generate", NOTES_MD, "--model", MODEL, "--host", fake.url, "--project", "notes",
            "--pairs-per-chunk", "1", "--concurrency", "1", *extra)


def stop_and_time(process: subprocess.Popen, sig) -> tuple[float, str]:
    sent = time.monotonic()
    process.send_signal(sig)
    err = process.communicate(timeout=30)[1]
    return time.monotonic() - sent, err


def test_ctrl_c_abandons_the_reply_in_flight_says_what_was_saved_and_resume_asks_only_the_rest(tmp_path):
    fast = FastThenSlow(3)
    with FakeOllama(responder=fast) as fake:
        process = start_cli(tmp_path, *generate_args(fake, "--question-types", "factual,explanation"))
        wait_until(lambda: len(fake.chat_requests()) == 4)  # chunk 0 both types, chunk 1 factual; then a stall
        elapsed, err = stop_and_time(process, signal.SIGINT)
        assert process.returncode == 130 and elapsed < 10, (elapsed, err)
        assert "Traceback" not in err
        assert err.splitlines()[-1] == ("stopped: 3 pairs from 2 chunks saved in run 1; 26 chunks left pending. "
                                        "Run the same command again to resume.")
        with Store.open(tmp_path) as store:
            project_id = store.project_id("notes")
            run = store.get_run(1)
            assert (run.status, run.chunks_done, run.finished_at is not None) == ("cancelled", 1, True)
            chunks = store.list_chunks(project_id)
            assert [c.gen_status for c in chunks[:2]] == ["done", "pending"]
            assert len(store.list_chunks(project_id, statuses=("pending",))) == 26
            # The reply that arrived for chunk 1's first question type was saved the moment it came.
            assert [p.question_type for p in store.list_pairs(project_id) if p.chunk_id == chunks[1].id] == ["factual"]
            assert store.count_pairs(project_id) == 3

        fake.responder = qa_responder
        done = run_cli(tmp_path, *generate_args(fake, "--question-types", "factual,explanation"))
        assert done.returncode == 0, done.stderr
        rerun = fake.chat_requests()[4:]
        assert len(rerun) == 1 + 25 * 2  # chunk 1 asks for its explanation only; nothing is asked twice
    with Store.open(tmp_path) as store:
        project_id = store.project_id("notes")
        pairs = store.list_pairs(project_id)
        assert len(pairs) == CHUNKS * 2
        assert len({(p.chunk_id, p.question_type) for p in pairs}) == CHUNKS * 2
        assert [r.status for r in store.list_runs(project_id)] == ["finished", "cancelled"]


def test_kill_9_keeps_every_saved_pair_and_the_next_run_marks_it_interrupted_and_resumes(tmp_path):
    with FakeOllama(responder=FastThenSlow(4)) as fake:
        process = start_cli(tmp_path, *generate_args(fake))
        wait_until(lambda: len(fake.chat_requests()) == 5)
        process.kill()
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        with Store.open(tmp_path) as store:
            project_id = store.project_id("notes")
            assert store.get_run(1).status == "running"  # nobody ended it; only the lock can tell
            assert store.count_pairs(project_id) == 4
            assert len(store.list_chunks(project_id, statuses=("done",))) == 4
        report = run_cli(tmp_path, "report", "--project", "notes")  # takes the free lock: the run is dead
        assert report.returncode == 0, report.stderr
        assert (f"uncovered: ollama-notes-zh-TW.md: {CHUNKS - 4} chunks: not generated yet (chunks 4–{CHUNKS - 1})"
                in report.stdout.splitlines())  # one line, not one per chunk
        # the four pairs saved before the kill: one answers with a bare command, not in Chinese
        assert ("flags: wrong language 1 (exports hold flagged pairs back unless --include-flagged names the reason)"
                in report.stdout.splitlines())
        [line] = [x for x in report.stdout.splitlines() if x.startswith("run 1:")]
        assert line.startswith(f"run 1: interrupted, {MODEL}, started ") and line.endswith(
            f", 4/{CHUNKS} chunks done, 0 failed")

        fake.responder = qa_responder
        done = run_cli(tmp_path, *generate_args(fake))
        assert done.returncode == 0, done.stderr
        assert (f"resuming after run 1 (interrupted): {CHUNKS - 4} chunks left; everything saved before is kept"
                in done.stderr.splitlines())
        assert len(fake.chat_requests()) == 5 + (CHUNKS - 4)
    with Store.open(tmp_path) as store:
        project_id = store.project_id("notes")
        dead, second = store.get_run(1), store.get_run(2)
        assert (dead.status, dead.chunks_done, dead.finished_at is not None) == ("interrupted", 4, True)
        assert (second.status, second.chunks_total, second.chunks_done) == ("finished", CHUNKS - 4, CHUNKS - 4)
        pairs = store.list_pairs(project_id)
        assert len(pairs) == CHUNKS and len({p.chunk_id for p in pairs}) == CHUNKS


def test_the_app_leaves_a_live_command_line_run_alone_and_sigterm_cancels_it(tmp_path):
    with FakeOllama(responder=FastThenSlow(1)) as fake:
        process = start_cli(tmp_path, *generate_args(fake))
        try:
            wait_until(lambda: len(fake.chat_requests()) == 2)
            with Store.open(tmp_path) as store:
                project_id = store.project_id("notes")
                registry = JobRegistry(store)  # what the app does when it starts
                assert store.get_run(1).status == "running"
                job = registry.start(project_id, OllamaBackend(fake.url), MODEL, Settings())
                job.thread.join(30)
                assert job.state == "failed" and "The project is busy" in job.error
                # The Documents page cannot re-split a document under the running command either.
                before = [(c.id, c.text) for c in store.list_chunks(project_id)]
                with pytest.raises(ProjectBusyError):
                    ingest_bytes(store, project_id, b"# New\n\nSome other text to split.\n", "ollama-notes-zh-TW.md",
                                 ChunkSettings(max_chars=200, min_chars=50, overlap=20), max_bytes=1 << 20)
                assert [(c.id, c.text) for c in store.list_chunks(project_id)] == before
                assert [r.status for r in store.list_runs(project_id)] == ["running"]
                assert len(fake.chat_requests()) == 2
        finally:
            elapsed, err = stop_and_time(process, signal.SIGTERM)
    assert process.returncode == 143 and elapsed < 10, (elapsed, err)
    assert err.splitlines()[-1].startswith("stopped: 1 pairs from 1 chunks saved in run 1; 26 chunks left pending.")
    with Store.open(tmp_path) as store:
        assert store.get_run(1).status == "cancelled"


def test_two_commands_started_together_on_a_new_project_one_is_refused_before_it_touches_anything(tmp_path):
    sample = tmp_path / "sample.md"
    sample.write_text("# Ports\n\nOllama serves models on port 11434. It runs on Linux, macOS and Windows.\n",
                      encoding="utf-8")
    with FakeOllama(latency_s=4.0) as fake:
        args = ("generate", sample, "--model", MODEL, "--host", fake.url, "--project", "fresh", "--pairs-per-chunk", "2")
        first, second = start_cli(tmp_path, *args), start_cli(tmp_path, *args)
        outcomes = sorted([(p.wait(timeout=120), p.communicate()[1]) for p in (first, second)])
        assert len(fake.chat_requests()) == 1
    (ok, ok_err), (refused, refused_err) = outcomes
    assert ok == 0 and "Traceback" not in ok_err, ok_err
    assert refused == 2 and refused_err.splitlines() == [
        "error: Project 'fresh' is busy: another generate run, judge run or upload is using it right now; wait for it to end "
        "or stop it, then run again (a run resumes where the other stopped)"]
    with Store.open(tmp_path) as store:
        [project] = store.list_projects()
        assert (project.name, project.documents, project.chunks, project.pairs) == ("fresh", 1, 1, 2)
        assert [r.status for r in store.list_runs(project.id)] == ["finished"]


def test_cancel_abandons_requests_in_flight_and_nothing_they_bring_back_is_saved(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, ChunkSettings(), max_bytes=1 << 30)
    cancel = threading.Event()
    with FakeOllama(responder=FastThenSlow(2, slow_s=1.5)) as fake:
        backend = OllamaBackend(fake.url, max_retries=0)
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(summary=run_generation(
            store, project_id, backend, MODEL, Settings(concurrency=2, pairs_per_chunk=1), cancel=cancel)))
        worker.start()
        wait_until(lambda: len(fake.chat_requests()) == 4)  # two answered, two stalled
        sent = time.monotonic()
        cancel.set()
        worker.join(10)
        assert time.monotonic() - sent < 1.0
        summary = outcome["summary"]
        assert (summary.status, summary.done, summary.pairs, summary.pending) == ("cancelled", 2, 2, CHUNKS - 2)
        time.sleep(2.0)  # the stalled replies arrive now, to workers whose run has ended
    assert store.count_pairs(project_id) == 2
    assert len(store.list_chunks(project_id, statuses=("pending",))) == CHUNKS - 2
    run = store.get_run(summary.run_id)
    assert (run.status, run.chunks_done) == ("cancelled", 2)
    store.close()


def test_cancel_in_the_app_ends_the_job_and_the_run_cancelled(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, ChunkSettings(), max_bytes=1 << 30)
    with FakeOllama(responder=FastThenSlow(1)) as fake:
        registry = JobRegistry(store)
        job = registry.start(project_id, OllamaBackend(fake.url), MODEL, Settings(concurrency=1, pairs_per_chunk=1))
        wait_until(lambda: len(fake.chat_requests()) == 2)
        registry.cancel(project_id)
        job.thread.join(5)
        assert (job.state, job.summary.pairs, job.summary.pending) == ("cancelled", 1, CHUNKS - 1)
    assert store.get_run(job.summary.run_id).status == "cancelled"
    store.close()


def test_ctrl_c_in_a_caller_of_run_generation_records_the_run_cancelled_not_failed(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, ChunkSettings(), max_bytes=1 << 30)
    with FakeOllama(responder=FastThenSlow(1)) as fake:
        def press_ctrl_c() -> None:
            wait_until(lambda: len(fake.chat_requests()) == 2)
            os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt in the main thread

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_generation(store, project_id, OllamaBackend(fake.url), MODEL, Settings(concurrency=1, pairs_per_chunk=1))
    [run] = store.list_runs(project_id)
    assert (run.status, run.chunks_done) == ("cancelled", 1)
    assert store.count_pairs(project_id) == 1
    store.close()


# --- the lock within one process ------------------------------------------------------------------


@pytest.fixture
def notes(tmp_path):
    """A store with the notes document split and one accepted pair; yields (store, project_id)."""
    store = Store.open(tmp_path)
    project_id = store.create_project("notes")
    ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, ChunkSettings(), max_bytes=1 << 30)
    with FakeOllama() as fake:
        run_generation(store, project_id, OllamaBackend(fake.url), MODEL, Settings(pairs_per_chunk=1),
                       chunk_ids=[store.list_chunks(project_id)[0].id])
    store.set_status([store.list_pairs(project_id)[0].id], "accepted")
    yield store, project_id
    store.close()


def test_an_upload_waits_for_nobody_and_re_splits_nothing_while_the_project_is_locked(notes):
    store, project_id = notes
    before = [(c.id, c.text, c.gen_status) for c in store.list_chunks(project_id)]
    changed = ChunkSettings(max_chars=300, min_chars=50, overlap=20)
    with lock_project(store, project_id) as held:
        with pytest.raises(ProjectBusyError, match="The project is busy"):
            ingest_bytes(store, project_id, b"# Other\n\nA different file.\n", "other.md", changed, max_bytes=1 << 20)
        assert [d.name for d in store.list_documents(project_id)] == [NOTES_MD.name]
        # The holder passes its lock down: the same file is kept as it is, a new one is added.
        kept = ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, changed, max_bytes=1 << 30,
                            lock=held)
        assert (kept.new, kept.chunks) == (False, CHUNKS)
        added = ingest_bytes(store, project_id, b"# Other\n\nA different file.\n", "other.md", changed,
                             max_bytes=1 << 20, lock=held)
        assert (added.new, added.chunks) == (True, 1)
        assert held.held
    assert not held.held
    assert [(c.id, c.text, c.gen_status) for c in store.list_chunks(project_id, document_id=kept.document_id)] == before
    assert store.status_counts(project_id)["accepted"] == 1
    with pytest.raises(ValueError, match="not a held lock of project"):
        ingest_bytes(store, project_id, b"x y z", "z.txt", changed, max_bytes=1 << 20, lock=held)


def test_whoever_takes_the_lock_closes_runs_whose_process_died(notes):
    store, project_id = notes
    other = store.create_project("other")
    dead = store.start_run(project_id, MODEL, {}, "qa_generate", "1", 5)
    elsewhere = store.start_run(other, MODEL, {}, "qa_generate", "1", 5)
    with lock_project(store, project_id):
        assert store.get_run(dead).status == "interrupted"
        live = store.start_run(project_id, MODEL, {}, "qa_generate", "1", 5)
        with pytest.raises(ProjectBusyError):
            lock_project(store, project_id)  # a second taker, even in this process, is refused...
        assert store.get_run(live).status == "running"  # ...and marks nothing
        assert close_dead_runs(store, project_id) is False
        assert store.get_run(live).status == "running"
    assert store.get_run(elsewhere).status == "running"  # another project's runs are not touched
    assert close_dead_runs(store, other) is True
    assert store.get_run(elsewhere).status == "interrupted"


def test_name_locks_keep_their_files_in_the_data_folder(tmp_path):
    with Store.open(tmp_path) as store:
        with lock_project_name(store, "../../etc/筆記 x"), pytest.raises(ProjectBusyError, match="筆記 x' is busy"):
            lock_project_name(store, " ../../etc/筆記 x ")
        with lock_project_name(store, "a"), lock_project_name(store, "A"):
            pass  # names differ in case: two projects
        names = sorted(p.name for p in tmp_path.glob("*.lock"))
    assert len(names) == 3 and all(n.startswith("project-name-") for n in names)
    assert any(n.startswith("project-name-etc-筆記-x-") for n in names)


def test_without_fcntl_the_lock_still_works_within_the_process(notes, monkeypatch):
    import dataset_gen.locks as locks

    store, project_id = notes
    monkeypatch.setattr(locks, "fcntl", None)  # as on Windows
    run_id = store.start_run(project_id, MODEL, {}, "qa_generate", "1", 1)
    with project_locked(store, project_id) as held:
        with pytest.raises(ProjectBusyError):
            lock_project(store, project_id)
        assert store.get_run(run_id).status == "running"  # no process can be proved dead there
        with project_locked(store, project_id, held) as same:
            assert same is held


def test_the_project_read_timeout_is_bounded_and_applied_when_set():
    from dataset_gen.config import ProjectConfig

    base = Settings.from_env({"DATASET_GEN_READ_TIMEOUT": "90"})
    assert ProjectConfig.load({}).apply(base).read_timeout_s == 90.0  # never set: the environment's
    assert ProjectConfig.load({"read_timeout_s": 1800}).apply(base).read_timeout_s == 1800.0
    assert ProjectConfig.load({"read_timeout_s": 0}).read_timeout_s is None  # out of bounds: not set
    assert ProjectConfig.load({"read_timeout_s": 7200}).read_timeout_s is None
    assert ProjectConfig().read_timeout_s is None


def test_a_timeout_names_what_a_person_can_change(fake_ollama):
    fake_ollama.push(Slow(2.0))
    backend = OllamaBackend(fake_ollama.url, read_timeout_s=0.3, max_retries=0)
    with pytest.raises(BackendError) as info:
        backend.chat(MODEL, [{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert "took longer than 0.3 s" in message
    assert "--timeout SECONDS" in message and "DATASET_GEN_READ_TIMEOUT" in message
    assert "the project's read timeout setting" in message and "read_timeout_s" not in message


def test_a_second_ctrl_c_exits_at_once_when_the_first_stop_waits_for_the_database(tmp_path):
    import sqlite3

    with FakeOllama(responder=FastThenSlow(2)) as fake:
        process = start_cli(tmp_path, *generate_args(fake))
        wait_until(lambda: len(fake.chat_requests()) == 3)
        other = sqlite3.connect(tmp_path / "dataset_gen.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the database: ending the run must wait
        try:
            process.send_signal(signal.SIGINT)
            time.sleep(1.0)
            assert process.poll() is None
            elapsed, err = stop_and_time(process, signal.SIGINT)
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert process.returncode == 130 and elapsed < 2, (elapsed, err)
    assert err.splitlines()[-1] == "stopped at once; the run will show as interrupted. Run the same command again to resume."
    with Store.open(tmp_path) as store:
        project_id = store.project_id("notes")
        assert store.get_run(1).status == "running"
        with lock_project(store, project_id):
            assert store.get_run(1).status == "interrupted"
        assert store.count_pairs(project_id) == 2


def test_ctrl_c_while_judging_abandons_the_verdicts_in_flight_and_says_how_many_were_saved(tmp_path):
    with FakeOllama() as fake:
        assert run_cli(tmp_path, *generate_args(fake)).returncode == 0
        fake.responder = FastThenSlow(5)  # five verdicts come at once, then the judge stalls
        process = start_cli(tmp_path, "judge", "--project", "notes", "--model", MODEL, "--host", fake.url,
                            "--concurrency", "2")
        wait_until(lambda: len(fake.chat_requests()) >= CHUNKS + 7)  # 5 answered, 2 held
        elapsed, err = stop_and_time(process, signal.SIGINT)
        assert process.returncode == 130 and elapsed < 10, (elapsed, err)
        assert "Traceback" not in err
        assert err.splitlines()[-1] == ("stopped: 5 of 27 pairs judged and saved. "
                                        "Run the same command again to judge the rest.")
        with Store.open(tmp_path) as store:
            judged = [p for p in store.list_pairs(store.project_id("notes")) if p.faithfulness is not None]
            assert len(judged) == 5
        fake.responder = qa_responder
        done = run_cli(tmp_path, "judge", "--project", "notes", "--model", MODEL, "--host", fake.url)
        assert done.returncode == 0 and "judged 22 of 22 pairs" in done.stderr, done.stderr


def test_a_full_disk_mid_run_is_one_storage_error_and_every_pair_saved_before_stays(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    ingest_bytes(store, project_id, NOTES_MD.read_bytes(), NOTES_MD.name, ChunkSettings(), max_bytes=1 << 30)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "database or disk is full"
    with FakeOllama() as fake, pytest.raises(StorageError) as failed:
        run_generation(store, project_id, OllamaBackend(fake.url), MODEL, Settings(concurrency=1, pairs_per_chunk=3))
    assert failed.value.reason == "full"
    assert str(failed.value) == (f"{tmp_path}: the disk is full: free some space and run again; "
                                 "nothing was saved from the step that failed")
    saved = store.count_pairs(project_id)
    done = len(store.list_chunks(project_id, statuses=("done",)))
    store.close()
    with Store.open(tmp_path) as reopened:  # room again: what was committed is all there
        assert reopened.count_pairs(project_id) == saved and saved > 0
        assert len(reopened.list_chunks(project_id, statuses=("done",))) == done
        [run] = reopened.list_runs(project_id)
        assert run.status == "failed"
        with FakeOllama() as fake:
            summary = run_generation(reopened, project_id, OllamaBackend(fake.url), MODEL,
                                     Settings(concurrency=1, pairs_per_chunk=3))
        assert (summary.status, summary.done) == ("finished", CHUNKS - done)
        assert reopened.count_pairs(project_id) == CHUNKS * 3
