"""site shortcuts: learned list APIs and challenge cookies

Revision ID: 0005
Revises: 0006 (relinked after main merged 0006; was 0003)
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_shortcuts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holds", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_site_shortcuts_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_shortcuts")),
        sa.UniqueConstraint("site_id", "kind", name="uq_site_shortcuts_site_id"),
    )
    with op.batch_alter_table("site_shortcuts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_shortcuts_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("site_shortcuts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_shortcuts_site_id"))
    op.drop_table("site_shortcuts")
