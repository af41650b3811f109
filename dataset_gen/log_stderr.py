"""A log handler for the command line and the app: it writes each record to ``sys.stderr`` as it
is when the record is logged. A ``logging.StreamHandler`` keeps the stream it was made with, which
the caller may have replaced and closed since (``main`` called from a program or a test, a test
harness that swaps ``sys.stderr``); records then fail with "I/O operation on closed file"."""

from __future__ import annotations

import logging
import sys


class StderrHandler(logging.StreamHandler):
    """A :class:`logging.StreamHandler` whose stream is always the current ``sys.stderr``."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass
