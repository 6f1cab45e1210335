"""The HTTP API (FastAPI): importer programs register imports and batches, read results."""
