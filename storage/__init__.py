"""Storage: models, migrations, the archive and ingest (arrives with the storage issue)."""
