"""ZIP packages (DOCX, EPUB) checked before any reader inflates them.

A ZIP member can inflate about 1,000 times, so a file far below the upload limit can unpack to
gigabytes: :func:`check_zip_directory` reads the sizes the package declares from its central
directory, and :func:`check_zip` then inflates every member in bounded steps, throwing the bytes
away, to prove the declared sizes true. Both refuse with one :class:`DocumentTooLargeError` line
naming the file and the reason, in milliseconds and a few MB of memory.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

from .documents import stop_if_asked
from .errors import CorruptDocumentError, DocumentTooLargeError, UnsupportedDocumentError

__all__ = ["ZIP_MAX_INFLATED", "ZIP_MAX_MEMBERS", "ZIP_MAX_RATIO", "ZIP_MAX_XML", "ZIP_RATIO_FLOOR",
           "check_zip", "check_zip_directory", "corrupt_package"]

# --- ZIP limits ------------------------------------------------------------------------------
#
# A DOCX is a ZIP package, and a ZIP member can inflate about 1,000 times (deflate's limit), so a
# file far below the upload limit can unpack to gigabytes: python-docx keeps every part it loads
# in memory, and lxml needs about 11 bytes per byte of XML for the tree (measured on the 872-page
# handbook of tests/data/corpus: 5.3 MB of document.xml, 58 MB of tree). The package is therefore
# checked before python-docx sees it, from the sizes the ZIP declares and then from the bytes it
# really inflates to. Real documents are far below every limit: the 872-page handbook has 70
# members and inflates to 5.3 MB, nearly all XML, its largest part at 13:1; the most compressible
# part in the corpus is 438 KB at 32:1.

ZIP_MAX_MEMBERS = 10_000
"""Most ZIP entries a package may have (the handbook has 70; thousands of images stay below)."""

ZIP_MAX_DIRECTORY = 4 * 2**20
"""Largest ZIP central directory (bytes) read: zipfile builds one object of about 500 bytes per
entry before any check can run, so the ~2 million tiny entries of a 100 MB file would cost about
1 GB; 4 MB of directory is at most ~90,000 entries, ~45 MB."""

ZIP_MAX_INFLATED = 500 * 2**20
"""Most bytes all members together may inflate to, or twice the upload size limit when that is
higher: media inflate about 1:1, so a file at the limit needs about its own size."""

ZIP_MAX_XML = 100 * 2**20
"""Most bytes the XML parts (``.xml``, ``.rels``) may inflate to: at ~11 bytes of lxml tree per
byte of XML that is about 1.1 GB of memory, and 19 times the handbook's XML (about 16,000 pages)."""

ZIP_MAX_RATIO = 100
"""Highest inflated/compressed ratio of a member above :data:`ZIP_RATIO_FLOOR`: three times the
most compressible real part seen (32:1); a deflate bomb is about 1,000:1."""

ZIP_RATIO_FLOOR = 4 * 2**20
"""Members that inflate to at most this many bytes are not held to :data:`ZIP_MAX_RATIO`: at
that size the ratio costs nothing worth refusing a file for, and the total and XML limits still
count them."""

_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_LOCAL_HEADER = b"PK\x03\x04"
_INFLATE_STEP = 2**20  # most bytes inflated per decompress call
_FEED_STEP = 2**16  # compressed bytes fed per decompress call


def _size(n: int) -> str:
    """``n`` bytes for a message: ``"1.5 GB"``, ``"500 MB"``, ``"1.5 MB"``, ``"4.0 KB"``, ``"12 bytes"``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _bomb(name: str, what: str) -> DocumentTooLargeError:
    return DocumentTooLargeError(name, f"{what}: refused as a possible zip bomb")


def check_zip_directory(data: bytes, name: str) -> None:
    """Refuse a ZIP whose central directory is too big to read, before ``zipfile`` reads it.

    Reads the end-of-central-directory record (and its ZIP64 form, APPNOTE 4.3.14–4.3.16) the way
    ``zipfile`` finds it; data without one is left to ``zipfile``, which reports it as damaged.

    :raises DocumentTooLargeError: more than :data:`ZIP_MAX_MEMBERS` entries, or a directory
        above :data:`ZIP_MAX_DIRECTORY` bytes.
    """
    at = len(data) - 22 if data[-22:-18] == _EOCD else data.rfind(_EOCD, max(0, len(data) - 22 - 65535))
    if at < 0 or len(data) < at + 22:
        return
    entries, directory = struct.unpack_from("<HI", data, at + 10)
    locator = at - 20
    if locator >= 0 and data[locator:locator + 4] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if data[offset:offset + 4] == _ZIP64_EOCD and len(data) >= offset + 56:
            entries, directory = struct.unpack_from("<QQ", data, offset + 32)
    if entries > ZIP_MAX_MEMBERS or directory > ZIP_MAX_DIRECTORY:
        raise _bomb(name, f"has {entries:,} ZIP entries in a {_size(directory)} directory, above the "
                          f"{ZIP_MAX_MEMBERS:,} entries a document needs")


_RESAVE = {
    "docx": ("Word documents", "open it in Word or LibreOffice, save it again as .docx and upload that"),
    "epub": ("EPUB books (OCF, EPUB 3.3 §4.2)", "open it in an EPUB editor such as Calibre, save it again "
                                                 "and upload that, or convert it to PDF"),
}


def check_zip(data: bytes, name: str, *, max_bytes: int, should_stop: Callable[[], bool] | None = None,
              package: str = "docx") -> None:
    """Refuse a ZIP package that would inflate beyond the limits above, before it is parsed.

    First from the sizes the package declares (instant): entries and directory size
    (:func:`check_zip_directory`), compression methods (only stored and deflated, the two that
    Office packages use, ECMA-376 Part 2 Annex C), the total inflated size
    (:data:`ZIP_MAX_INFLATED`, or ``2 × max_bytes`` when higher), the XML size
    (:data:`ZIP_MAX_XML`) and each member's ratio (:data:`ZIP_MAX_RATIO`). Then from the bytes:
    every member is inflated as a stream, at most 1 MB at a time and discarded, and must not give
    more than the size it declares, so a header that understates a member is caught after that
    many bytes plus one. The work is bounded by the declared sizes (at most the total limit), the
    memory by about 1 MB. ``should_stop`` is asked between members.

    :raises DocumentTooLargeError: a limit is exceeded or a header understates a member; the
        message names the file, the sizes and "refused as a possible zip bomb" (or, for XML that
        is merely large, says to split the file).
    :raises UnsupportedDocumentError: a member uses another compression method.
    :raises CorruptDocumentError: the package cannot be read as a ZIP.
    :raises ParseCancelled: ``should_stop()`` returned true.

    ``package`` (``"docx"`` or ``"epub"``) only chooses the advice in the messages.
    """
    kind, advice = _RESAVE[package]
    check_zip_directory(data, name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise corrupt_package(name, exc, package) from None
    for info in infos:
        if info.compress_type not in _ZIP_METHODS:
            raise UnsupportedDocumentError(
                name, f"stores {info.filename} with ZIP compression method {info.compress_type}; {kind} "
                      f"use only stored or deflated parts: {advice}"
            )
    limit = max(ZIP_MAX_INFLATED, 2 * max_bytes)
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise _bomb(name, f"inflates to more than {_size(limit)} (declared {_size(total)})")
    xml = sum(i.file_size for i in infos if i.filename.lower().endswith((".xml", ".rels")))
    if xml > ZIP_MAX_XML:
        raise DocumentTooLargeError(
            name, f"holds {_size(xml)} of XML once unpacked, above the {_size(ZIP_MAX_XML)} that can "
                  "be read safely in memory; split it into smaller files"
        )
    for info in infos:
        if info.file_size > ZIP_RATIO_FLOOR and info.file_size > ZIP_MAX_RATIO * info.compress_size:
            raise _bomb(name, f"{info.filename} inflates {info.file_size / max(info.compress_size, 1):,.0f} "
                              f"times (declared {_size(info.file_size)} from {_size(info.compress_size)}), "
                              f"above the {ZIP_MAX_RATIO}:1 limit for parts over {_size(ZIP_RATIO_FLOOR)}")
    view = memoryview(data)
    for info in infos:
        stop_if_asked(should_stop, name)
        if _inflates_beyond(view, info, name, package):
            raise _bomb(name, f"{info.filename} inflates to more than the {_size(info.file_size)} its "
                              "header declares")


def _inflates_beyond(data: memoryview, info: zipfile.ZipInfo, name: str, package: str) -> bool:
    """``True`` when the member's bytes inflate to more than ``info.file_size``.

    The data starts after the local header (APPNOTE 4.3.7: 30 bytes, the name, the extra field).
    Inflation stops one byte past the declared size, so a lying header costs no more than the
    truth would. A member that ends early is left for python-docx to report as damaged.
    """
    start = info.header_offset
    if bytes(data[start:start + 4]) != _LOCAL_HEADER:
        raise corrupt_package(name, zipfile.BadZipFile(f"bad local header for {info.filename}"), package)
    name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
    begin = start + 30 + name_len + extra_len
    raw = data[begin:begin + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return len(raw) > info.file_size
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left = info.file_size + 1  # bytes of output still allowed, one past the declared size
    pieces: list[bytes | memoryview] = [raw[pos:pos + _FEED_STEP] for pos in range(0, len(raw), _FEED_STEP)]
    try:
        for piece in [*pieces, b""]:  # the empty piece drains what zlib still holds
            while not inflater.eof:
                out = inflater.decompress(piece, min(left, _INFLATE_STEP))
                left -= len(out)
                if left <= 0:
                    return True
                piece = inflater.unconsumed_tail
                if not piece and not out:
                    break
            if inflater.eof:
                break
    except zlib.error as exc:
        raise corrupt_package(name, exc, package) from None
    return False


def corrupt_package(name: str, exc: BaseException, package: str = "docx") -> CorruptDocumentError:
    """The error for a damaged or truncated package ``name`` (``package`` ``"docx"`` or
    ``"epub"``), with ``exc``'s reason."""
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    if package == "epub":
        return CorruptDocumentError(name, f"is a damaged or truncated EPUB ({reason}); {_RESAVE['epub'][1]}")
    return CorruptDocumentError(
        name, f"is a damaged or truncated Word file ({reason}); open it in Word or LibreOffice, "
              "save it again as .docx and upload that"
    )
