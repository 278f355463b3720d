"""The same 5,000-loan book through the pandas engine and the Spark engine (local mode):
identical grades, actions, rule codes and money figures for every loan."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select

from valuation.model.registry import Registry
from valuation.services import demo_loans, loans, monitoring
from valuation.services.strategy_store import active_policy
from valuation.store.tables import LoanRevaluationRecord

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("no Java on the PATH: Spark cannot start (.ci/run installs it)",
                allow_module_level=True)

AS_OF = dt.date(2026, 6, 30)
COMPARED = ("value", "lending", "ltv_bps", "ltv_change_bps", "value_change_bps", "grade",
            "action", "rules_json", "error")


def test_pandas_and_spark_grade_the_book_identically(app, trained, model_root, tmp_path,
                                                     database_url, demo_dealers) -> None:
    from valuation.services.monitoring_spark import run_spark

    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough: the engines, not the store, are compared")

    sessions = app.extensions["db_sessions"]
    tape = demo_loans.generate(5_000, seed=21, as_of=AS_OF)
    report = loans.import_tape(sessions, trained, loans.read_tape(
        tape.to_csv(index=False).encode(), "tape.csv"))
    assert report["failed"] == 0
    with sessions() as session, session.begin():
        _, policy = active_policy(session)
        by_pandas = monitoring.create_run(session, "test", AS_OF).id
        by_spark = monitoring.create_run(session, "test", AS_OF, "spark").id
    first = monitoring.run_pandas(sessions, trained, policy, by_pandas)
    second = run_spark(sessions, Registry(model_root), trained, policy, by_spark, tmp_path,
                       master="local[2]", partitions=4)

    def results(run_id: str) -> dict[str, tuple]:
        with sessions() as session:
            return {r.loan_id: tuple(getattr(r, c) for c in COMPARED) for r in session.scalars(
                select(LoanRevaluationRecord).where(LoanRevaluationRecord.run_id == run_id))}

    a, b = results(by_pandas), results(by_spark)
    assert len(a) == first["loans"] > 4_000
    assert a == b
    assert {g["grade"] for g in first["by_grade"]} >= {1, 2}  # the book is not all one grade
    for key in ("loans", "valued", "failed", "balance_fen", "by_grade", "by_segment",
                "by_dealer", "by_action", "ltv_distribution"):
        assert first[key] == second[key], key
    assert list(tmp_path.glob(f"monitoring-{AS_OF}-{by_spark}/*.parquet"))
