"""The SQL store: tables, engines, repositories and migrations (SQLAlchemy 2 + psycopg 3)."""
