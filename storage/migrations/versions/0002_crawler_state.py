"""crawler state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_validators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("links", sa.JSON(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_http_validators")),
        sa.UniqueConstraint("url", name=op.f("uq_http_validators_url")),
    )
    op.create_table(
        "list_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_list_checks_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_checks")),
    )
    with op.batch_alter_table("list_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_checks_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_list_checks_site_id"), ["site_id"], unique=False)

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("page_url", sa.String(length=1000), nullable=True))
        batch_op.create_index(batch_op.f("ix_documents_page_url"), ["page_url"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_site_id"), ["site_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_documents_site_id_sites"), "sites", ["site_id"], ["id"])

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("last_error")

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_documents_site_id_sites"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_documents_site_id"))
        batch_op.drop_index(batch_op.f("ix_documents_page_url"))
        batch_op.drop_column("page_url")
        batch_op.drop_column("site_id")

    with op.batch_alter_table("list_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_checks_site_id"))
        batch_op.drop_index(batch_op.f("ix_list_checks_at"))

    op.drop_table("list_checks")
    op.drop_table("http_validators")
