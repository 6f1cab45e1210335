"""The Dagster layer: the only package that imports dagster. Ops stay thin."""
