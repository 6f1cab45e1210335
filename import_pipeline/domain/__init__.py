"""The imports domain: pure Python and pydantic, no framework and no I/O.

Nothing in this package imports another package of the project, SQLAlchemy or Dagster.
"""
