"""job queue: procrastinate's schema (PostgreSQL only) for `nianbao worker`

procrastinate owns these tables, types and functions (procrastinate_jobs, _workers, _events,
_periodic_defers); they are created from the schema.sql of the installed procrastinate, and are not mapped in
storage/models.py. A later procrastinate release that changes its schema ships SQL migrations
(`procrastinate schema --migrations-path`): apply them in a new revision. SQLite (one process, `nianbao run`)
gets nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    exists = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar()
    if exists:  # applied by procrastinate's own schema manager before
        return
    from procrastinate.schema import SchemaManager

    driver = bind.connection.driver_connection  # the raw psycopg connection: no parameter parsing of the SQL
    assert driver is not None
    driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                  "procrastinate_workers"):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    functions = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'").scalars().all()
    for function in functions:
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    types = bind.exec_driver_sql(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%' AND t.typtype IN ('e', 'c')"
    ).scalars().all()
    for name in types:
        bind.exec_driver_sql(f"DROP TYPE IF EXISTS {name} CASCADE")
