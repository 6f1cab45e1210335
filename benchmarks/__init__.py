"""Reproducible benchmark data generator and the pipeline-vs-COPY benchmark runner."""
