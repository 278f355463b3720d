"""strategy_versions.updated_at NOT NULL, as the table definition says: 0003 added it nullable,
so Alembic's comparison of a migrated database with the tables found a drift. Versions that
never had an update take their creation time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE strategy_versions SET updated_at = created_at WHERE updated_at IS NULL")
    with op.batch_alter_table("strategy_versions") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True),
                           nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("strategy_versions") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True),
                           nullable=True)
