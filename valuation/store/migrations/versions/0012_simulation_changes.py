"""The applications whose decision a simulation changed, one row each (the console pages them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('strategy_simulation_changes',
    sa.Column('simulation_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=128), nullable=False),
    sa.Column('segment', sa.String(length=32), nullable=False),
    sa.Column('customer_tier', sa.String(length=16), nullable=False),
    sa.Column('base_outcome', sa.String(length=16), nullable=False),
    sa.Column('base_limit', sa.BigInteger(), nullable=False),
    sa.Column('candidate_outcome', sa.String(length=16), nullable=False),
    sa.Column('candidate_limit', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['simulation_id'], ['strategy_simulations.id'],
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('simulation_id', 'seq')
    )


def downgrade() -> None:
    op.drop_table('strategy_simulation_changes')
