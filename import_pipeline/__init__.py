"""import-pipeline: bulk import of DESTINY references, orchestrated by Dagster."""
