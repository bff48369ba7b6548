"""Imported last by the parser's fork server: everything the readers share is loaded by now, so it is moved
out of the garbage collector's sight, and a forked reader does not touch (and copy) those pages."""

import gc

gc.collect()
gc.freeze()
