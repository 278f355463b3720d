"""Valuation jobs: large CSV batches valued in the background, with their result rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "valuation_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("dealer_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("rows_failed", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("input_csv", sa.Text, nullable=False),
    )
    op.create_index("ix_valuation_jobs_state_created", "valuation_jobs", ["state", "created_at"])
    op.create_table(
        "valuation_job_rows",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("valuation_jobs.id"), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("valuation_id", sa.String(36), nullable=True),
        sa.Column("vin", sa.String(32), nullable=True),
        sa.Column("external_ref", sa.String(128), nullable=True),
        sa.Column("retail", sa.BigInteger, nullable=True),
        sa.Column("low", sa.BigInteger, nullable=True),
        sa.Column("high", sa.BigInteger, nullable=True),
        sa.Column("lending", sa.BigInteger, nullable=True),
        sa.Column("confidence", sa.String(16), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("valuation_job_rows")
    op.drop_index("ix_valuation_jobs_state_created", table_name="valuation_jobs")
    op.drop_table("valuation_jobs")
