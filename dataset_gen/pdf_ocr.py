"""Opt-in OCR for PDF pages without a usable text layer, through PyMuPDF's built-in Tesseract.

Which pages: a page with no text at all that draws an image (or many vector paths: text turned
into outlines), and a page whose text layer is mostly garbage (more than a third of its characters
are U+FFFD, private-use or control characters: fonts without a Unicode mapping). The same text
flags as :mod:`dataset_gen.pdf` are used, so "garbage" means what it means there. Every other page
is read by :func:`dataset_gen.pdf.read_pdf` as usual (headings, tables, outline); a PDF in which no
page needs OCR costs one extra text pass and never needs Tesseract.

How: each such page is rendered as it is shown (rotation applied) at :data:`OCR_DPI` and read by
MuPDF's bundled Tesseract (``Pixmap.pdfocr_tobytes``, the core of ``page.get_textpage_ocr``; it needs
only Tesseract's language data, ``*.traineddata``). The folder
is found as PyMuPDF finds it (:func:`pymupdf.get_tessdata`: ``TESSDATA_PREFIX``, else the folder
``tesseract --list-langs`` names), else in the usual Debian/Homebrew folders. The OCR'd pages are
blanked in a copy of the PDF, the copy is read by ``read_pdf``, and each OCR'd page's text is put
back at its place, so ``page_starts`` keeps one entry per page as for any PDF.

OCR text has no reliable font sizes (Tesseract's text layer scales every word to fit), so OCR'd
pages get no headings: their blocks become paragraphs; the pieces of one visual line that MuPDF
splits are joined (without a space between CJK characters), and ``#`` at a line start is escaped
as in ``pdf.py``.

Languages (:func:`tesseract_languages`) come from the project's language: ``zh-TW`` →
``chi_tra+eng``, ``zh-CN`` → ``chi_sim+eng``, ``ja`` → ``jpn+eng``, ``ko`` → ``kor+eng``, ``en`` →
``eng``, ``auto`` → ``eng`` plus whichever of ``chi_tra``, ``chi_sim``, ``jpn``, ``kor`` are
installed (English first: Tesseract tries the first language first, and a CJK model first was
measured 6–9× slower on an English page), anything else → ``eng``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator

import pymupdf

from .documents import clean_text, stop_if_asked
from .errors import DocumentError, NoTextLayerError
from .pdf import BAD_CHAR_RE, PDF_LOCK, read_pdf

__all__ = ["DEBIAN_PACKAGES", "OCR_DPI", "OcrUnavailableError", "find_tessdata", "installed_languages",
           "read_pdf_ocr", "tesseract_languages"]

OCR_DPI = 300  # Tesseract's documented sweet spot for body text ("at least 300 dpi")

# Tesseract language codes per project language; the first is the main one.
_LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": ("eng",), "zh-TW": ("chi_tra", "eng"), "zh-CN": ("chi_sim", "eng"),
    "ja": ("jpn", "eng"), "ko": ("kor", "eng"),
}
_AUTO_EXTRA = ("chi_tra", "chi_sim", "jpn", "kor")
#: The Debian/Ubuntu package holding each language's data (``tesseract-ocr`` holds the program).
DEBIAN_PACKAGES = {"eng": "tesseract-ocr-eng", "chi_tra": "tesseract-ocr-chi-tra",
                   "chi_sim": "tesseract-ocr-chi-sim", "jpn": "tesseract-ocr-jpn", "kor": "tesseract-ocr-kor"}
# Where distributions put the data when TESSDATA_PREFIX is unset and no tesseract program is on PATH.
_TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                  "/usr/share/tessdata", "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata")

# The flags of dataset_gen.pdf: whitespace kept, text clipped to the page, unmapped glyphs as U+FFFD.
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
_OUTLINED_TEXT_PATHS = 50  # a page without text drawing at least this many paths may be outlined text
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# Spaces Tesseract puts between CJK characters, and around the ASCII punctuation it reads for
# full-width punctuation next to them ("文字層 , 需要" → "文字層,需要").
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK},.:;!?])")
_CJK_PUNCT_SPACE_RE = re.compile(f"(?<=[{_CJK}][,.:;!?]) +(?=[{_CJK}])")
_HEADING_LIKE_RE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$))", re.M)

class OcrUnavailableError(DocumentError):
    """OCR was asked for, the PDF has pages that need it, and Tesseract's data for the languages is
    not installed. The message names the packages to install."""


def find_tessdata() -> str | None:
    """The folder holding Tesseract's ``*.traineddata`` files, or ``None`` when none is found.

    Looked for as PyMuPDF does (:func:`pymupdf.get_tessdata`: the ``TESSDATA_PREFIX`` environment
    variable, which Tesseract itself honours, else the folder ``tesseract --list-langs`` reports);
    only when that finds nothing, in the usual Debian, Ubuntu, Fedora and Homebrew folders. Not
    cached, so Tesseract installed while the app runs is found (the lookup runs one short
    ``tesseract`` process, only for a PDF that has pages to OCR).
    """
    try:
        return pymupdf.get_tessdata()
    except Exception:  # RuntimeError when no Tesseract program is installed
        return next((folder for folder in _TESSDATA_DIRS if installed_languages(folder)), None)


def installed_languages(tessdata: str) -> set[str]:
    """Tesseract language codes (``"eng"``, ``"chi_tra"``…) with a ``.traineddata`` file in
    ``tessdata``; empty when the folder does not exist."""
    try:
        return {f[:-len(".traineddata")] for f in os.listdir(tessdata) if f.endswith(".traineddata")}
    except OSError:
        return set()


def tesseract_languages(language: str, installed: set[str]) -> str:
    """Tesseract's ``language`` argument (codes joined by ``+``) for the project language
    ``language`` (``"auto"``, ``"en"``, ``"zh-TW"``, ``"zh-CN"``, ``"ja"``, ``"ko"``; see the module
    docstring for the table), given the ``installed`` codes.

    :raises LookupError: a needed code is not in ``installed``; ``args[0]`` lists the missing codes.
    """
    wanted = _LANGUAGES.get(language, ("eng",))
    missing = [code for code in wanted if code not in installed]
    if missing:
        raise LookupError(missing)
    if language == "auto":
        wanted += tuple(code for code in _AUTO_EXTRA if code in installed)
    return "+".join(wanted)


def read_pdf_ocr(
    data: bytes, name: str, language: str, *, should_stop: Callable[[], bool] | None = None
) -> tuple[str, tuple[int, ...], tuple[str, ...], tuple[tuple[int, str], ...]]:
    """Read the PDF bytes ``data`` like :func:`dataset_gen.pdf.read_pdf`, OCR'ing the pages that
    have no usable text layer (see the module docstring); ``language`` is the project's language,
    which picks Tesseract's languages (:func:`tesseract_languages`).

    Returns ``(text, page_starts, warnings, left_out)`` with ``read_pdf``'s meaning (running
    headers are found on the pages with a text layer); ``warnings`` adds one line
    naming the pages read by OCR (and lines for pages where OCR found nothing or failed). OCR is
    slow: measured at 300 dpi on 2 busy shared cores, 0.6 s for a page of three lines and 6–19 s for
    a full page with one or two languages; ``auto`` (five languages) took 1.5–4× as long.
    ``should_stop`` is asked before each page is OCR'd and by ``read_pdf``.

    :raises OcrUnavailableError: some page needs OCR and Tesseract's data for the languages is not
        installed (the message says what to install).
    :raises NoTextLayerError: no text even after OCR.
    :raises DocumentError: ``read_pdf``'s errors (encrypted, corrupt), ``ParseCancelled``.
    """
    with _quiet():
        try:
            doc = pymupdf.open(stream=data, filetype="pdf")
        except Exception:  # read_pdf says what is wrong with it, in its words
            doc = None
    try:
        unreadable = doc is None or doc.needs_pass or doc.page_count == 0
    except RuntimeError:  # a truncated file: read_pdf says so
        unreadable = True
    if unreadable or doc is None:
        if doc is not None:
            doc.close()
        return read_pdf(data, name, should_stop=should_stop)
    with doc:
        page_count = doc.page_count
        with _quiet():
            wanted = [i for i in range(doc.page_count) if _needs_ocr(doc[i])]
        if not wanted:
            return read_pdf(data, name, should_stop=should_stop)
        tessdata = find_tessdata()
        langs = _languages_or_raise(name, language, tessdata)
        ocr_text: dict[int, str] = {}
        failed: list[str] = []
        for index in wanted:
            stop_if_asked(should_stop, name)
            with _quiet():
                try:
                    ocr_text[index] = _ocr_page(doc, index, langs, tessdata)
                except Exception as exc:  # one page's failure must not lose the others
                    failed.append(f"page {index + 1} could not be read by OCR ({_one_line(exc)}); it is left out")
            _blank(doc, index)
        with _quiet():
            copy = doc.tobytes(garbage=1) if len(wanted) < doc.page_count else b""
    text, starts, warnings, left_out = _read_rest(copy, name, page_count, should_stop)
    parts, page_starts, offset = [], [], 0
    for i, start in enumerate(starts):
        page_starts.append(offset)
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        body = text[start:end] or (ocr_text.get(i, "") + "\n\n" if ocr_text.get(i) else "")
        parts.append(body)
        offset += len(body)
    read = [i + 1 for i in sorted(ocr_text) if ocr_text[i]]
    empty = [i + 1 for i in sorted(ocr_text) if not ocr_text[i]]
    notes = []
    if read:
        notes.append(f"page(s) {_page_list(read)} were read by OCR (Tesseract, {langs}, {OCR_DPI} dpi); "
                     "OCR can misread characters, check their text")
    if empty:
        notes.append(f"page(s) {_page_list(empty)} have no text layer and OCR found no text on them")
    result = "".join(parts)
    if not result.strip():
        raise NoTextLayerError(name, f"has {len(starts)} page(s) without a text layer, and OCR ({langs}) "
                                     "found no text on them either")
    return result, tuple(page_starts), (*notes, *failed, *warnings), left_out


# --- internals -------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hold the PyMuPDF lock with MuPDF's messages collected, not printed (as ``pdf.py`` does)."""
    with PDF_LOCK:
        tools = pymupdf.TOOLS
        show_errors, show_warnings = tools.mupdf_display_errors(), tools.mupdf_display_warnings()
        tools.mupdf_display_errors(False)
        tools.mupdf_display_warnings(False)
        try:
            yield
        finally:
            tools.mupdf_warnings(reset=True)
            tools.mupdf_display_errors(show_errors)
            tools.mupdf_display_warnings(show_warnings)


def _needs_ocr(page: pymupdf.Page) -> bool:
    """No text but an image or many paths drawn, or more than a third of the text is garbage."""
    try:
        text = page.get_textpage(flags=_TEXT_FLAGS).extractText()
        chars = len(text) - sum(text.count(c) for c in " \t\n\r\xa0\u3000")
        if chars == 0:
            return bool(page.get_images()) or len(page.get_cdrawings()) >= _OUTLINED_TEXT_PATHS
        return len(BAD_CHAR_RE.findall(text)) * 3 > chars
    except Exception:  # a page MuPDF cannot read is read_pdf's to report
        return False


def _ocr_page(doc: pymupdf.Document, index: int, langs: str, tessdata: str | None) -> str:
    """OCR page ``index`` (caller holds the lock). A page with a (garbage) text layer is OCR'd
    without its vector graphics: measured on a ruled table, MuPDF's Tesseract found no text at all
    with the cell borders drawn and the right text without them."""
    with pymupdf.open() as single:
        single.insert_pdf(doc, from_page=index, to_page=index)
        page = single[0]
        if page.get_text().strip() and page.get_cdrawings():
            page.add_redact_annot(page.rect)
            # PDF_REDACT_IMAGE_NONE, PDF_REDACT_LINE_ART_REMOVE_IF_TOUCHED, PDF_REDACT_TEXT_NONE (not in
            # PyMuPDF's type stubs): keep images and text, remove every path.
            page.apply_redactions(images=0, graphics=2, text=1)
        # What page.get_textpage_ocr(full=True) does, without its mapping back to unrotated page
        # space: with that, a page shown rotated by 270° lost all its text to the page-box clip and
        # one rotated by 90° had its lines merged. Here the text stays where the reader sees it.
        pix = page.get_pixmap(dpi=OCR_DPI)
        with pymupdf.open(stream=pix.pdfocr_tobytes(compress=False, language=langs, tessdata=tessdata)) as ocr:
            return _render(ocr[0].get_textpage(flags=_TEXT_FLAGS).extractDICT()["blocks"])


def _languages_or_raise(name: str, language: str, tessdata: str | None) -> str:
    try:
        return tesseract_languages(language, installed_languages(tessdata) if tessdata else set())
    except LookupError as exc:
        missing = exc.args[0]
    packages = " ".join(["tesseract-ocr", *(DEBIAN_PACKAGES.get(code, f"tesseract-ocr-{code}") for code in missing)])
    what = "Tesseract" if tessdata is None else f"Tesseract's {'+'.join(missing)} language data"
    raise OcrUnavailableError(
        name, f"OCR needs {what}: install it with `sudo apt install {packages}` (macOS: `brew install "
              "tesseract tesseract-lang`), or start the app with `DATASET_GEN_OCR=1 bash scripts/run.sh`, "
              "which installs it"
    )


def _blank(doc: pymupdf.Document, index: int) -> None:
    """Empty page ``index`` of ``doc`` (no content, no resources) so ``read_pdf`` reads nothing there."""
    with _quiet():
        xref = doc[index].xref
        doc.xref_set_key(xref, "Contents", "[]")
        doc.xref_set_key(xref, "Resources", "<<>>")


def _read_rest(copy: bytes, name: str, pages: int, should_stop
               ) -> tuple[str, list[int], list[str], tuple[tuple[int, str], ...]]:
    """``read_pdf`` of the copy with the OCR'd pages blanked; nothing when every page was OCR'd or
    the other pages have no text either."""
    if copy:
        try:
            text, starts, warnings, left_out = read_pdf(copy, name, should_stop=should_stop)
            return text, list(starts), list(warnings), left_out
        except NoTextLayerError:
            pass
    return "", [0] * pages, [], ()


def _render(blocks: list[dict]) -> str:
    """OCR'd text blocks as paragraphs. Pieces of one visual line (overlapping vertically by half a
    line) are joined; a block that starts less than 0.8 line heights below the previous one goes on
    the same paragraph (MuPDF splits OCR'd paragraphs where Tesseract's lines are spaced unevenly)."""
    paragraphs: list[list[str]] = []
    last: tuple[float, float] | None = None  # top and bottom of the last line kept
    for block in blocks:
        if block.get("type") != 0:
            continue
        first = True
        for line in block["lines"]:
            piece = "".join(span["text"] for span in line["spans"]).strip()
            if not piece:
                continue
            top, bottom = line["bbox"][1], line["bbox"][3]
            height = min(bottom - top, last[1] - last[0]) if last else 0.0
            if last and min(bottom, last[1]) - max(top, last[0]) >= height / 2:
                prev = paragraphs[-1][-1]
                cjk = re.match(f"[{_CJK}]", prev[-1]) and re.match(f"[{_CJK}]", piece[0])
                paragraphs[-1][-1] = prev + ("" if cjk else " ") + piece
            elif first and not (last and 0 <= top - last[1] < 0.8 * height):
                paragraphs.append([piece])
            else:
                paragraphs[-1].append(piece)
            first = False
            last = (top, bottom)
    text = "\n\n".join("\n".join(lines) for lines in paragraphs)
    text = _CJK_PUNCT_SPACE_RE.sub("", _CJK_SPACE_RE.sub("", text.replace("\ufffd", "")))
    return clean_text(_HEADING_LIKE_RE.sub(r"\1\\\2", text)).strip("\n")


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
