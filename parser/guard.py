"""Parsing in a child process, so a hostile file cannot hang or exhaust the caller.

The child gets a wall-clock limit (`Limits.seconds`) and an address-space cap; whatever happens to it,
the caller gets a `Record` or a `ParseError` with a reason.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
from multiprocessing.connection import Connection
from typing import Any

from . import parse
from .errors import ParseError, ParseTimeout
from .limits import Limits
from .record import Record

MEMORY_CAP_BYTES = 6 * 1024 ** 3


def _child(conn: Connection, data: bytes, content_type: str | None, limits: Limits) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    try:
        record = parse(data, content_type=content_type, limits=limits)
        conn.send(("ok", record.to_json()))
    except ParseError as exc:
        conn.send(("error", (type(exc).__name__, exc.reason)))
    except MemoryError:
        conn.send(("error", ("LimitExceeded", "ran out of memory while reading the document")))
    except Exception as exc:  # a bug or a library failure on odd input: report it, never crash the caller
        conn.send(("error", ("ParseError", f"could not be read ({type(exc).__name__}: {exc})")))
    finally:
        conn.close()


_CONTEXT: multiprocessing.context.BaseContext | None = None
_CONTEXT_PID = 0


def _context() -> multiprocessing.context.BaseContext:
    """A fork server: children forked from a clean single-threaded process, never from a caller that may
    hold threads and locks (the crawler, the scheduler); the parser is imported once, in the server. A
    process that was itself forked after the server started cannot use its parent's server and forks
    directly."""
    global _CONTEXT, _CONTEXT_PID
    if _CONTEXT is not None and os.getpid() != _CONTEXT_PID:
        _CONTEXT, _CONTEXT_PID = multiprocessing.get_context("fork"), os.getpid()
    if _CONTEXT is None:
        _CONTEXT_PID = os.getpid()
        context = multiprocessing.get_context("forkserver")
        assert isinstance(context, multiprocessing.context.ForkServerContext)
        context.set_forkserver_preload(["parser", "parser.guard", "parser.tables", "parser.metadata",
                                        "parser.extractors.html", "parser.extractors.pdf", "parser.extractors.docx"])
        _CONTEXT = context
    return _CONTEXT


def parse_guarded(data: bytes, *, content_type: str | None = None, limits: Limits | None = None) -> Record:
    limits = limits or Limits()
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, data, content_type, limits),  # type: ignore[attr-defined]
                              daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.seconds):
            raise ParseTimeout(f"reading took longer than {limits.seconds:g} s")
        try:
            status, payload = receiver.recv()
        except EOFError:
            raise ParseError("the reader process died (memory or a crash in a decoder)") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    if status == "ok":
        return Record.from_json(payload)
    return _raise(payload)


def _raise(payload: Any) -> Record:
    from . import errors

    name, reason = payload
    kind = getattr(errors, name, ParseError)
    raise kind(reason)
