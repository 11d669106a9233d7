"""The corpus's `sql_db` fixture: each SQL test once on SQLite, PostgreSQL and MariaDB."""

from tests.corpus.conftest import sql_db  # noqa: F401
