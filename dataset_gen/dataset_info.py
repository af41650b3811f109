"""LLaMA-Factory's ``dataset_info.json``: read, claim a name, and write it safely.

``dataset_info.json`` is LLaMA-Factory's registry of datasets (data/README.md in its repository:
each entry names a ``file_name`` relative to the file and how to read it). It is changed only
under an exclusive ``fcntl.flock`` on ``.dataset_info.json.lock`` beside it (read, change, write
atomically, all inside the lock, see :func:`info_lock`), so exports running in parallel into one
folder all keep their entries. On Windows (no ``fcntl``) there is no lock: parallel exports into
one folder can lose entries there. It is written with every non-ASCII character escaped
(``\\uXXXX``), because LLaMA-Factory opens it with the locale's encoding, which is not UTF-8
everywhere. One entry per file; a name that another existing file holds is never taken over
(:func:`claim`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ExportError

try:
    import fcntl
except ImportError:  # Windows: no flock; see the module docstring
    fcntl = None  # type: ignore[assignment]

__all__ = ["DATASET_INFO", "LOCK_NAME", "claim", "info_lock", "names_file", "read_info", "with_entry",
           "write_atomic", "write_dataset_info", "write_info"]

DATASET_INFO = "dataset_info.json"
LOCK_NAME = f".{DATASET_INFO}.lock"


def write_dataset_info(directory: Path, dataset_name: str, entry: dict) -> Path:
    """Register ``entry`` as ``dataset_name`` in ``directory/dataset_info.json``; return its path.

    Read, changed and written atomically under the folder's lock (see the module docstring), so
    parallel callers keep each other's entries. Other entries and their order are kept, entries
    other tools wrote included (the file is read as UTF-8, with or without a byte order mark); the
    file is created when missing and written with ``ensure_ascii`` (``\\uXXXX`` escapes), so
    LLaMA-Factory reads it under any locale. One entry per file: other entries whose
    ``file_name`` is ``entry["file_name"]`` are removed (they describe what the file held before).

    :raises ExportError: ``dataset_name`` is taken by another dataset (an entry whose file still
        exists, or one that is not a file of this folder, see :func:`export_pairs`); the existing
        file is not a JSON object (it is left untouched); or a file cannot be written.
    """
    directory = Path(directory)
    path = directory / DATASET_INFO
    with info_lock(directory):
        info = read_info(path)
        file_name = entry.get("file_name")
        claim(info, path, dataset_name, file_name if isinstance(file_name, str) else None, "")
        write_info(path, with_entry(info, dataset_name, entry))
    return path


def read_info(path: Path) -> dict:
    """The datasets in ``path`` (``{}`` when there is no file), read as UTF-8 with or without a BOM.

    :raises ExportError: the file cannot be read, is not JSON, or is not a JSON object.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ExportError(
            f"{path}: cannot read it ({error.strerror or error}): check its permissions, then export again"
        ) from error
    try:
        info = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(
            f"{path}: cannot read it as JSON ({error}): fix or move the file, then export again"
        ) from error
    if not isinstance(info, dict):
        raise ExportError(
            f"{path}: expected a JSON object of datasets: fix or move the file, then export again"
        )
    return info


def write_info(path: Path, info: dict) -> None:
    """Write ``info`` to ``path`` atomically, as pure ASCII (``ensure_ascii``), indented by 2."""
    write_atomic(path, (json.dumps(info, ensure_ascii=True, indent=2) + "\n").encode("ascii"))


def with_entry(info: dict, name: str, entry: dict) -> dict:
    """``info`` with ``entry`` as ``name`` (in place of an entry of that name, else last) and
    without other entries naming the same file."""
    file_name = entry.get("file_name")
    kept = {}
    for key, value in info.items():
        if key == name:
            kept[key] = entry
        elif not (isinstance(file_name, str) and names_file(value, file_name)):
            kept[key] = value
    kept.setdefault(name, entry)
    return kept


def names_file(entry: object, file_name: str) -> bool:
    """Whether ``entry`` is a dataset entry whose ``file_name`` is ``file_name`` (normalised)."""
    return (isinstance(entry, dict) and isinstance(entry.get("file_name"), str)
            and os.path.normpath(entry["file_name"]) == os.path.normpath(file_name))


def claim(info: dict, info_path: Path, name: str, file_name: str | None, suggestion: str) -> None:
    """Refuse to take ``name`` from another dataset.

    ``name`` is free when no entry has it, when its entry names ``file_name`` (a re-export), or
    when its entry names a file that no longer exists.
    """
    existing = info.get(name)
    if existing is None:
        return
    hint = f", e.g. {suggestion}" if suggestion else ""
    if not (isinstance(existing, dict) and isinstance(existing.get("file_name"), str)):
        raise ExportError(
            f"{info_path}: the entry '{name}' is already registered for a dataset that is not a file here: "
            f"export to another file name (--output){hint}"
        )
    theirs = existing["file_name"]
    if file_name is not None and names_file(existing, file_name):
        return
    directory = info_path.parent
    if not os.path.lexists(directory / theirs):
        return
    if file_name is not None and (directory / file_name).exists():
        with contextlib.suppress(OSError):
            if os.path.samefile(directory / theirs, directory / file_name):
                return
    raise ExportError(
        f"{info_path}: the entry '{name}' already names {theirs}, which still exists: "
        f"export to another file name (--output){hint}"
    )


@contextlib.contextmanager
def info_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/.dataset_info.json.lock`` (creating the folder).

    The lock file is removed on release; a waiter that then holds a lock on a removed file tries
    again, so exactly one caller at a time holds the lock on the file at that path. No lock where
    ``fcntl`` is missing (Windows).
    """
    lock = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            descriptor = None
        else:
            while True:
                descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                    held, current = os.fstat(descriptor), os.stat(lock)
                except FileNotFoundError:
                    os.close(descriptor)
                    continue
                except BaseException:
                    os.close(descriptor)
                    raise
                if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                    break
                os.close(descriptor)
    except OSError as error:
        raise ExportError(
            f"{lock}: cannot lock {DATASET_INFO} ({error.strerror or error}): check the folder and its permissions"
        ) from error
    try:
        yield
    finally:
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)
            os.close(descriptor)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it and move it into place (keeping
    ``path``'s permission bits), so a reader never sees half a file. Parent folders are created.

    :raises ExportError: the file cannot be written (nothing is left behind).
    """
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as temp:
            temp_name = temp.name
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
        temp_name = None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(f"{path.parent}: the disk is full: free some space and export again; "
                              "nothing was written") from error
        raise ExportError(
            f"{path}: cannot write the file ({error.strerror or error}): check the path and "
            "its permissions"
        ) from error
    finally:
        if temp_name is not None:
            try:
                os.unlink(temp_name)
            except OSError:
                pass
