"""Parsing in a child process, so a hostile file cannot hang or exhaust the caller, and nothing it starts
outlives the caller.

Each document is read by its own reader process (forked from a clean fork server) with a wall-clock limit
(`Limits.seconds`) and an address-space cap. The reader

- leads its own process group, so a timeout kills it with everything it started (LibreOffice, tesseract);
- dies with its parent (PR_SET_PDEATHSIG): when the caller is killed, even with kill -9, the fork server sees
  its pipe close and exits (readers drop their copy of that pipe, and the server exits without tearing
  down its modules), and the reader is killed by the kernel;
- before it starts an external program, starts a sweeper (a small shell) that waits on a pipe from the
  reader: whenever the reader ends, however it ends, the sweeper removes the reader's temporary folder and
  kills what is left of the group (LibreOffice, tesseract);
- keeps its temporary files in a folder of its own (`nianbao-read-<caller pid>-…`), which the caller removes
  too; folders left by a caller that was killed are removed by the next caller.

`parse_many` reads a batch on all cores with a pool of such readers, each document with the same limits.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .errors import LimitExceeded, ParseError, ParseTimeout
from .limits import Limits
from .record import Record

_SHELL = "/bin/sh"
MEMORY_CAP_BYTES = 3 * 1024 ** 3  # address space of one reader; the parser's own limits keep it far below
_PR_SET_PDEATHSIG = 1
_WORKDIR_PREFIX = "nianbao-read-"


def die_with_parent(expected_parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent ends; if the parent already ended, end now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the process group and the sweeper still apply
        return
    if os.getppid() != expected_parent:
        os._exit(1)


def _start_sweeper(workdir: str, conn: Connection) -> None:
    """A process that outlives the reader by a moment: when the reader ends (the pipe closes), it kills the
    reader's process group (LibreOffice, tesseract) and removes the reader's temporary folder."""
    reader = os.getpid()
    in_reader_group = os.getpgid(0) == reader  # never kill the caller's group
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        try:
            conn.close()  # only the reader may hold the caller's pipe, or the caller would not see it die
            os.close(write_end)
            os.setpgid(0, 0)  # out of the group it is going to kill
            os.dup2(read_end, 0)
            # a shell, not this fork: a fork would keep every page of the reader's heap as it was at this
            # moment (a page image or two: 10–25 MB) until the reader ends
            kill = 'kill -9 -"$1" 2>/dev/null; ' if in_reader_group else ""
            os.execv(_SHELL, ["sh", "-c", f'while read -r _; do :; done; {kill}exec rm -rf -- "$2"', "sh",
                              str(reader), workdir])
        finally:
            os._exit(0)  # only if the shell could not be started
    os.close(read_end)  # the write end stays open, unused, until the reader ends


_READER: tuple[str, Connection] | None = None  # in a reader: its folder and its pipe to the caller


def before_external_programs() -> None:
    """Called by the parser before it starts LibreOffice or tesseract: in a reader, start its sweeper (a fork
    that only documents needing external programs pay for)."""
    global _READER
    if _READER is not None:
        workdir, conn = _READER
        _READER = None
        _start_sweeper(workdir, conn)


def _release_fork_server() -> None:
    """A fork server lives while any process holds its "alive" pipe, and hands that pipe to every child:
    a reader keeping it would keep the server (and so itself) alive after its caller died. Dropped."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[attr-defined]


def _become_reader(conn: Connection, workdir: str, parent: int) -> None:
    global _READER
    _release_fork_server()
    die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    _READER = (workdir, conn)
    os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def _reply(data: bytes, content_type: str | None, limits: Limits) -> tuple[str, Any]:
    from . import parse

    try:
        return "ok", parse(data, content_type=content_type, limits=limits).to_json()
    except ParseError as exc:
        return "error", (type(exc).__name__, exc.reason)
    except MemoryError:
        return "error", ("LimitExceeded", "ran out of memory while reading the document")
    except RecursionError:
        return "error", ("LimitExceeded", "the document is nested too deeply")
    except Exception as exc:  # a bug or a library failure on odd input: report it, never crash the caller
        return "error", ("ParseError", f"could not be read ({type(exc).__name__}: {exc})")


def _child(conn: Connection, data: bytes, content_type: str | None, limits: Limits, workdir: str,
           parent: int) -> None:
    _become_reader(conn, workdir, parent)
    try:
        conn.send(_reply(data, content_type, limits))
    finally:
        conn.close()


def _serve(conn: Connection, workdir: str, parent: int) -> None:
    """A reader of a batch: documents one after another, each with its own limits, until told to stop."""
    _become_reader(conn, workdir, parent)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(_reply(*job))


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
        # "__main__": the caller's main module is imported once in the server rather than in every reader
        context.set_forkserver_preload(["__main__", "parser", "parser.guard", *_READER_MODULES, "parser._preloaded"])
        _CONTEXT = context
        from multiprocessing import forkserver

        forkserver.ensure_running()  # now, so its imports overlap with the caller's own work
        _sweep_abandoned_workdirs()
    return _CONTEXT


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_abandoned_workdirs() -> None:
    """Temporary folders of readers whose caller was killed before it could remove them."""
    pattern = re.compile(re.escape(_WORKDIR_PREFIX) + r"(\d+)-")
    with contextlib.suppress(OSError):
        for entry in Path(tempfile.gettempdir()).iterdir():
            match = pattern.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                shutil.rmtree(entry, ignore_errors=True)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def parse_guarded(data: bytes, *, content_type: str | None = None, limits: Limits | None = None) -> Record:
    limits = limits or Limits()
    context = _context()
    workdir = tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child,  # type: ignore[attr-defined]
                              args=(sender, data, content_type, limits, workdir, _server_pid(context)),
                              daemon=True)
    try:
        process.start()
        sender.close()
        if not receiver.poll(limits.seconds):
            raise ParseTimeout(f"reading took longer than {limits.seconds:g} s")
        try:
            status, payload = receiver.recv()
        except EOFError:
            raise ParseError("the reader process died (memory or a crash in a decoder)") from None
    finally:
        if process.pid is not None:
            _kill_group(process.pid)  # the reader and whatever it started (LibreOffice, tesseract)
            if process.is_alive():
                process.kill()  # ended before it could lead its own group
            process.join(5)
        receiver.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if status == "ok":
        return Record.from_json(payload)
    return _raise(payload)


def _server_pid(context: multiprocessing.context.BaseContext) -> int:
    """The pid the reader will have as its parent: the fork server's, or ours when forking directly."""
    if isinstance(context, multiprocessing.context.ForkServerContext):
        from multiprocessing import forkserver

        forkserver.ensure_running()
        server = getattr(forkserver._forkserver, "_forkserver_pid", None)
        if isinstance(server, int):
            return server
    return os.getpid()


_READER_MODULES = ("parser.tables", "parser.metadata", "parser.extractors.html", "parser.extractors.pdf",
                   "parser.extractors.docx", "parser.extractors.text")


def _batch_context() -> multiprocessing.context.BaseContext:
    """A single-threaded caller (the command line) forks its readers itself: safe without threads, and no
    fork server to start (a second interpreter importing the parser and the caller's main module). Any
    other caller uses the fork server."""
    if threading.active_count() > 1:
        return _context()
    _sweep_abandoned_workdirs()  # each reader imports the extractors its documents need, readers in parallel
    return multiprocessing.get_context("fork")


class _Reader:
    """One reader process of a batch, with its own folder; closed by killing its process group."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.workdir = tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-")
        self.conn, theirs = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve,  # type: ignore[attr-defined]
                                       args=(theirs, self.workdir, _server_pid(context)), daemon=True)
        for stream in (sys.stdout, sys.stderr):  # a forked reader must not print our buffered output again
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        self.process.start()
        theirs.close()
        self.documents = 0

    def close(self) -> None:
        if self.process.pid is not None:
            _kill_group(self.process.pid)
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
        self.conn.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


_DOCUMENTS_PER_READER = 50  # then a fresh reader: whatever one document leaves behind stays bounded


def parse_many(loaders: Iterable[Callable[[], bytes]], *, limits: Limits | None = None,
               workers: int | None = None) -> Iterator[Record | ParseError]:
    """Read a batch on all cores: a pool of readers (as `parse_guarded`'s: own process group, death with the
    caller, address-space cap), each document with `limits` (a document over its time is killed with its
    reader, which is replaced). Yields, in input order, each record or the `ParseError` it ended in (a loader
    may raise `ParseError` too)."""
    limits = limits or Limits()
    context = _batch_context()
    cores = max(1, len(os.sched_getaffinity(0)))
    workers = workers or cores
    if isinstance(loaders, Sized):
        workers = max(1, min(workers, len(loaders)))
    # readers side by side share the cores: a scan's pages are then read one at a time in each (two readers
    # with two tesseracts each would only contend for the cores, with twice the memory)
    limits = replace(limits, ocr_threads=max(1, min(limits.ocr_threads, cores // workers)))
    jobs = enumerate(loaders)
    results: dict[int, Record | ParseError] = {}
    idle: list[_Reader] = []
    busy: dict[Connection, tuple[_Reader, int, float]] = {}
    next_out = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(busy) < workers:
                try:
                    index, load = next(jobs)
                except StopIteration:
                    exhausted = True
                    break
                try:
                    data = load()
                except ParseError as exc:
                    results[index] = exc
                    continue
                reader = idle.pop() if idle else _Reader(context)
                reader.conn.send((data, None, limits))
                busy[reader.conn] = (reader, index, time.monotonic() + limits.seconds)
            while next_out in results:
                yield results.pop(next_out)
                next_out += 1
            if not busy:
                if exhausted:
                    return
                continue
            wait_for = max(0.0, min(deadline for _, _, deadline in busy.values()) - time.monotonic())
            for ready in multiprocessing.connection.wait(list(busy), timeout=wait_for):
                assert isinstance(ready, Connection)
                reader, index, _ = busy.pop(ready)
                try:
                    status, payload = ready.recv()
                except EOFError:
                    results[index] = ParseError("the reader process died (memory or a crash in a decoder)")
                    reader.close()
                    continue
                reader.documents += 1
                results[index] = Record.from_json(payload) if status == "ok" else _error(payload)
                if status == "ok" and reader.documents < _DOCUMENTS_PER_READER:
                    idle.append(reader)
                else:
                    reader.close()  # after a failure, a fresh process for the next document
            now = time.monotonic()
            for conn, (reader, index, deadline) in list(busy.items()):
                if deadline <= now:
                    del busy[conn]
                    reader.close()
                    results[index] = ParseTimeout(f"reading took longer than {limits.seconds:g} s")
    finally:
        for reader in [*idle, *(entry[0] for entry in busy.values())]:
            with contextlib.suppress(OSError, BrokenPipeError):
                reader.conn.send(None)
            reader.close()


def _error(payload: Any) -> ParseError:
    from . import errors

    name, reason = payload
    kind = getattr(errors, name, ParseError)
    return kind(reason) if isinstance(kind, type) and issubclass(kind, ParseError) else ParseError(reason)


def _raise(payload: Any) -> Record:
    raise _error(payload)


__all__ = ["LimitExceeded", "die_with_parent", "parse_guarded", "parse_many"]
