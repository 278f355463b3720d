"""Strategy versions and credit-limit decisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strategy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document_json", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("name", "version", name="uq_strategy_version"),
    )
    op.create_table(
        "credit_decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(80), nullable=False),
        sa.Column("request_json", sa.Text, nullable=False),
        sa.Column("inputs_json", sa.Text, nullable=False),
        sa.Column("response_json", sa.Text, nullable=False),
        sa.Column("strategy_name", sa.String(64), nullable=False),
        sa.Column("strategy_version", sa.Integer, nullable=False),
        sa.Column("valuation_id", sa.String(36), nullable=True),
        sa.Column("model_name", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("final_limit", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_decisions")
    op.drop_table("strategy_versions")
