"""Errors a person can act on.

Every error raised on purpose by the core derives from :class:`DatasetGenError`. Its message is one
line that names the thing at fault (a file, a host, a model) and says what to do next, so the CLI and
the app can show ``str(error)`` as it is.
"""

from __future__ import annotations


class DatasetGenError(Exception):
    """Base class of every error the core raises on purpose."""


# --- documents -------------------------------------------------------------------------------


class DocumentError(DatasetGenError):
    """A document could not be read. ``filename`` names it; the message says why and what to do."""

    def __init__(self, filename: str, reason: str):
        self.filename = filename
        self.reason = reason
        super().__init__(f"{filename}: {reason}")


class EncryptedDocumentError(DocumentError):
    """The PDF needs a password to open."""


class NoTextLayerError(DocumentError):
    """The PDF has pages but no extractable text (scanned or image-only): OCR is needed first."""


class CorruptDocumentError(DocumentError):
    """The file is damaged or truncated and cannot be parsed."""


class EmptyDocumentError(DocumentError):
    """The file holds no text at all (zero bytes, or only whitespace)."""


class UnsupportedDocumentError(DocumentError):
    """The file's real type (read from its bytes) is not one we parse."""


class DocumentTooLargeError(DocumentError):
    """The file is above the configured size limit."""


class EncodingError(DocumentError):
    """A text file's character encoding could not be determined."""


# --- LLM backend -----------------------------------------------------------------------------


class BackendError(DatasetGenError):
    """The model server failed in a way retries did not fix."""


class BackendUnreachableError(BackendError):
    """Nothing answered at the configured host (Ollama not running, wrong host or port)."""


class ModelNotFoundError(BackendError):
    """The server runs but does not have the model (it must be pulled first)."""


class InvalidModelOutputError(BackendError):
    """The model's reply did not match the expected JSON after the allowed re-asks.

    ``raw`` keeps the last raw reply text so a person can see what the model wrote.
    """

    def __init__(self, message: str, raw: str = ""):
        self.raw = raw
        super().__init__(message)


# --- prompts, store, export ------------------------------------------------------------------


class PromptError(DatasetGenError):
    """A prompt template is missing, malformed, or was rendered with missing or unused variables."""


class StoreError(DatasetGenError):
    """A project, document or pair asked for does not exist, a name is already taken, or the
    database cannot be used (see :class:`StorageError`)."""


STORAGE_REASONS = ("full", "too_big", "read_only", "locked", "io", "cannot_open", "damaged", "moved")
"""What :attr:`StorageError.reason` can be."""


class StorageError(StoreError):
    """The database file could not be read or written.

    ``reason`` says why, one of :data:`STORAGE_REASONS`: ``"full"`` (the disk is full),
    ``"too_big"`` (a value above SQLite's size limit), ``"read_only"`` (the folder or file cannot be
    written), ``"locked"`` (another program held the write lock past the busy timeout), ``"io"``
    (the disk failed a read or write), ``"cannot_open"``, ``"damaged"`` (a corrupt file) or
    ``"moved"`` (the file was moved or deleted while open). The message names the folder or file
    and the fix.
    """

    def __init__(self, message: str, reason: str):
        if reason not in STORAGE_REASONS:
            raise ValueError(f"Unknown storage error reason {reason!r}: expected one of {', '.join(STORAGE_REASONS)}")
        self.reason = reason
        super().__init__(message)

    def __reduce__(self):
        return type(self), (str(self), self.reason)


class ExportError(DatasetGenError):
    """Nothing valid to export, or the output path cannot be written."""
