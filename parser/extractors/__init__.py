"""One extractor per format, each turning bytes into a `Document`."""
