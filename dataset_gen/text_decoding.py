"""Text files' bytes to text: byte-order marks, UTF-16 without one, UTF-8, then charset-normalizer's
guess (Big5, GB18030, CP949, Latin-1…), refusing binary data with the true reason."""

from __future__ import annotations

import re
import unicodedata

import charset_normalizer

from .errors import EncodingError, UnsupportedDocumentError

__all__ = ["decode_text"]

_TEXT_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32-le", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8-sig"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
)


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """Decode the text file ``name``'s bytes; return ``(text, encoding)``.

    Order: a BOM (UTF-32, UTF-8, UTF-16), then UTF-16 without a BOM (:func:`_utf16_without_bom`),
    then strict UTF-8, then charset-normalizer's best guess.
    Single-byte Western guesses that decode ``data`` exactly as Latin-1/cp1252 are reported as
    ``"iso-8859-1"`` (no bytes 0x80–0x9F) or ``"cp1252"``, the encodings such files are written in.

    :raises UnsupportedDocumentError: the bytes are binary data, not text.
    :raises EncodingError: not UTF-8, and no encoding could be determined.
    """
    for bom, codec, label in _TEXT_BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break
            if codec != "utf-8-sig":
                text = text.removeprefix("\ufeff")
            return _check_binary(text, name), label
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return _check_binary(utf16[0], name), utf16[1]
    try:
        return _check_binary(data.decode("utf-8"), name), "utf-8"
    except UnicodeDecodeError:
        pass
    sample = data[:65536]
    if (len(sample) - len(sample.translate(None, _CONTROL_BYTES))) * 20 > len(sample):
        raise UnsupportedDocumentError(name, _binary_reason())  # over 5 % control bytes
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.encoding is None:
        raise EncodingError(
            name, "is not valid UTF-8 and its character encoding could not be determined; save it "
                  "as UTF-8 and upload it again"
        )
    text = str(best)
    encoding = best.encoding
    if encoding in {"cp1250", "cp1252", "latin_1", "iso8859_15", "iso8859_2", "cp1257", "cp850"}:
        try:
            western = data.decode("cp1252")
        except UnicodeDecodeError:
            western = None
        if western == text:
            has_c1 = any(0x80 <= b <= 0x9F for b in data)
            encoding = "cp1252" if has_c1 else "iso-8859-1"
    return _check_binary(text, name), encoding


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """``(text, "utf-16-le" | "utf-16-be")`` when ``data`` is UTF-16 without a byte-order mark.

    Told by its NUL bytes: every character below U+0100 (ASCII letters, digits, spaces, line breaks
    of Latin or CJK text) puts a 0x00 in its high byte, which is the odd bytes in little-endian and
    the even bytes in big-endian order, while UTF-8 and single-byte text hold no NULs at all. So the
    first 64 KB must have NULs mostly at one parity (at least one per 256 characters, and four times
    as many as at the other parity, where CJK characters such as U+4E00 put theirs) and decode strictly in that byte order to text with at most 1 % control, unassigned or
    private-use characters. Text without any character below U+0100 cannot be told apart this way
    and is left to the other detectors.
    """
    sample = data[:65536]
    sample = sample[:len(sample) - len(sample) % 2]
    if len(sample) < 4 or b"\x00" not in sample or len(data) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    codec = "utf-16-le" if odd > even else "utf-16-be"
    if min(even, odd) * 4 > max(even, odd) or max(even, odd) * 256 < len(sample) // 2:
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    check = text[:32768]
    odd_chars = sum(1 for ch in check if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs"))
    if odd_chars * 100 > len(check):
        return None
    return text, codec


_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32)])
_BINARY_CHARS_RE = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def _check_binary(text: str, name: str) -> str:
    """Refuse decoded text that is mostly control characters: it was binary data, not text."""
    sample = text[:65536]
    if sample and len(_BINARY_CHARS_RE.findall(sample)) > max(8, len(sample) // 20):
        raise UnsupportedDocumentError(name, _binary_reason())
    return text


def _binary_reason() -> str:
    return (
        "is binary data, not a PDF, DOCX, Markdown or text file; upload one of those (export the "
        "document as PDF if unsure)"
    )
