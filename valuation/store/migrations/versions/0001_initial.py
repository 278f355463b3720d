"""Initial tables: dealers, API keys, valuations.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dealers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("dealer_id", sa.String(64), sa.ForeignKey("dealers.id"), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "valuations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("dealer_id", sa.String(64), nullable=True),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(16), nullable=False),
        sa.Column("vin", sa.String(32), nullable=True),
        sa.Column("external_ref", sa.String(128), nullable=True),
        sa.Column("request_json", sa.Text, nullable=False),
        sa.Column("response_json", sa.Text, nullable=False),
    )
    op.create_index("ix_valuations_dealer_created", "valuations", ["dealer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_valuations_dealer_created", "valuations")
    op.drop_table("valuations")
    op.drop_table("api_keys")
    op.drop_table("dealers")
