"""At most one open experiment per strategy name: a partial unique index (ended_at IS NULL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an older database may hold several open experiments: keep the newest open one
    op.execute(sa.text(
        "UPDATE strategy_experiments SET ended_at = started_at WHERE ended_at IS NULL AND id NOT "
        "IN (SELECT MAX(id) FROM strategy_experiments WHERE ended_at IS NULL GROUP BY name)"))
    op.create_index("uq_open_experiment", "strategy_experiments", ["name"], unique=True,
                    sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_where=sa.text("ended_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_open_experiment", table_name="strategy_experiments")
