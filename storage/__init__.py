"""Storage: the schema and its migrations, the archive of original files, ingest, and queries. The only
package that knows SQL."""

from .archive import Archive
from .database import make_engine, session_factory, upgrade
from .ingest import IngestResult, Origin, ingest, mark_removed

__all__ = ["Archive", "IngestResult", "Origin", "ingest", "make_engine", "mark_removed", "session_factory",
           "upgrade"]
