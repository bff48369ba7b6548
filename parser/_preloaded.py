"""Imported last by the parser's fork server; does nothing in any other process.

- Everything the readers share is loaded by now: it is moved out of the garbage collector's sight, so a
  forked reader does not touch (and copy) those pages.
- When its caller dies the server ends; it ends at once, without tearing down the modules it loaded, so its
  readers (which die with it) stop as soon as possible.
"""

import atexit
import gc
import os
import sys
from multiprocessing import forkserver


def _in_fork_server() -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _in_fork_server():
    gc.collect()
    gc.freeze()
    atexit.register(os._exit, 0)
