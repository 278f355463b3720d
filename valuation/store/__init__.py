"""The store wing: the database engine and sessions, the tables (SQLAlchemy records) and the
Alembic migrations.

May import `strategies` and the top-level `errors`; never `valuation.services`,
`valuation.http` or `valuation.model`.
"""
