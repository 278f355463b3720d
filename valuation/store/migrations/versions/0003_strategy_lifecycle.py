"""Strategy lifecycle: revisions and approvals, audit log, experiments, simulations, decision arms.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("strategy_versions") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submitted_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(128), nullable=True))
    with op.batch_alter_table("credit_decisions") as batch:
        batch.add_column(sa.Column("arm", sa.String(16), nullable=False,
                                   server_default="champion"))
        batch.add_column(sa.Column("champion_version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("challenger_version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("shadow_json", sa.Text, nullable=True))
    op.create_table(
        "strategy_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("diff_json", sa.Text, nullable=True),
    )
    op.create_table(
        "strategy_experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("challenger_version", sa.Integer, nullable=False),
        sa.Column("share_pct", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "strategy_simulations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("candidate_version", sa.Integer, nullable=False),
        sa.Column("baseline_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("strategy_simulations")
    op.drop_table("strategy_experiments")
    op.drop_table("strategy_audit")
    with op.batch_alter_table("credit_decisions") as batch:
        for col in ("shadow_json", "challenger_version", "champion_version", "arm"):
            batch.drop_column(col)
    with op.batch_alter_table("strategy_versions") as batch:
        for col in ("approved_by", "submitted_by", "updated_at", "revision"):
            batch.drop_column(col)
