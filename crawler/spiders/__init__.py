"""The one generic spider; sites differ only by their registry entries (data)."""
