"""self-service subscriptions: confirmation state and link nonces on subscriptions, sign-up attempts

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("token_nonce", sa.String(length=32), nullable=True))
    op.create_table(
        "signup_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_attempts")),
    )
    with op.batch_alter_table("signup_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signup_attempts_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_signup_attempts_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_signup_attempts_address"), ["address"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signup_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signup_attempts_address"))
        batch_op.drop_index(batch_op.f("ix_signup_attempts_client"))
        batch_op.drop_index(batch_op.f("ix_signup_attempts_at"))
    op.drop_table("signup_attempts")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("token_nonce")
        batch_op.drop_column("stopped_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("origin")
