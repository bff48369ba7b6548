"""Imported last by the parser's fork server (and only there).

- Everything the readers share is loaded by now: it is moved out of the garbage collector's sight, so a
  forked reader does not touch (and copy) those pages.
- When its caller dies the server ends; it ends at once, without tearing down the modules it loaded, so its
  readers (which die with it) stop as soon as possible.
"""

import atexit
import gc
import os

gc.collect()
gc.freeze()
atexit.register(os._exit, 0)
