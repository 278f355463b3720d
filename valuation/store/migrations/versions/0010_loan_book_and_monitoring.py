"""The loan book and in-loan monitoring: loans, monitoring runs, per-loan revaluations,
alerts and their audit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitoring_runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('policy_hash', sa.String(length=80), nullable=True),
    sa.Column('model_name', sa.String(length=64), nullable=True),
    sa.Column('model_version', sa.String(length=16), nullable=True),
    sa.Column('loans_total', sa.Integer(), nullable=False),
    sa.Column('loans_done', sa.Integer(), nullable=False),
    sa.Column('loans_failed', sa.Integer(), nullable=False),
    sa.Column('summary_json', sa.Text(), nullable=True),
    sa.Column('timings_json', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('worker', sa.String(length=128), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('loan_revaluations',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=True),
    sa.Column('lending', sa.BigInteger(), nullable=True),
    sa.Column('ltv_bps', sa.Integer(), nullable=True),
    sa.Column('ltv_change_bps', sa.Integer(), nullable=True),
    sa.Column('ltv_change_prev_bps', sa.Integer(), nullable=True),
    sa.Column('value_change_bps', sa.Integer(), nullable=True),
    sa.Column('value_change_prev_bps', sa.Integer(), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('rules_json', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['monitoring_runs.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'loan_id')
    )
    with op.batch_alter_table('loan_revaluations', schema=None) as batch_op:
        batch_op.create_index('ix_loan_revaluations_loan', ['loan_id'], unique=False)

    op.create_table('loans',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=True),
    sa.Column('dealer_id', sa.String(length=64), nullable=False),
    sa.Column('funded_at', sa.Date(), nullable=False),
    sa.Column('principal_fen', sa.BigInteger(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('annual_rate_bps', sa.Integer(), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), nullable=False),
    sa.Column('balance_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=True),
    sa.Column('odometer_km', sa.Integer(), nullable=True),
    sa.Column('odometer_date', sa.Date(), nullable=True),
    sa.Column('valuation_id', sa.String(length=36), nullable=True),
    sa.Column('vehicle_json', sa.Text(), nullable=False),
    sa.Column('funded_vehicle_json', sa.Text(), nullable=False),
    sa.Column('funded_value', sa.BigInteger(), nullable=False),
    sa.Column('funded_lending', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], ),
    sa.PrimaryKeyConstraint('loan_id')
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index('ix_loans_dealer', ['dealer_id'], unique=False)
        batch_op.create_index('ix_loans_status', ['status'], unique=False)

    op.create_table('monitoring_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('dealer_id', sa.String(length=64), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('rules_json', sa.Text(), nullable=False),
    sa.Column('raised_run_id', sa.String(length=36), nullable=False),
    sa.Column('last_run_id', sa.String(length=36), nullable=False),
    sa.Column('cleared_run_id', sa.String(length=36), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_monitoring_alerts_loan_state', ['loan_id', 'state'], unique=False)

    op.create_table('monitoring_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('detail_json', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['monitoring_alerts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('monitoring_audit')
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_monitoring_alerts_loan_state')

    op.drop_table('monitoring_alerts')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index('ix_loans_status')
        batch_op.drop_index('ix_loans_dealer')

    op.drop_table('loans')
    with op.batch_alter_table('loan_revaluations', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_revaluations_loan')

    op.drop_table('loan_revaluations')
    op.drop_table('monitoring_runs')
