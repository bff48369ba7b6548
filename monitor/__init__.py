"""The composition root: configuration, the command line, and (later) the scheduler."""
