"""The sandbox: simulated government sites on 127.0.0.1 serving generated annual reports on the CMS
platforms the crawler must handle, with a controllable clock and a small control API."""
