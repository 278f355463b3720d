"""API keys looked up by a keyed digest: HMAC-SHA256 of the key under a server secret.

Existing keys keep working: they have no digest yet, are checked once against their scrypt
hash and get their digest then.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("digest_key", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("digest_key")
        batch.drop_column("digest")
