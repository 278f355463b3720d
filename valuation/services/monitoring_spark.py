"""The Spark engine of a monitoring run: the same per-loan computation as the pandas engine
(`monitoring.revalue`, and so `strategies.monitoring.evaluate`), applied per partition with
`mapInPandas`.

1. The run's loans are read from Parquet (`input`), or exported from the database to Parquet
   first, in chunks.
2. The model version's files are shipped to the executors (`SparkContext.addFile`); each
   Python worker loads them once, through the registry, so their hashes are checked there too.
3. Each partition is valued and graded; the results are written as Parquet under `output`.
4. The results are read back and stored in the database in chunks (revaluations, changes since
   the previous run), then alerts and the summary, as the pandas engine does.

`SPARK_MASTER` (default `local[*]`) names the cluster. PySpark is the `spark` extra.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from strategies.monitoring import Policy

from ..model.predictor import Predictor
from ..model.registry import Registry
from . import monitoring

RESULT_SCHEMA = ("loan_id string, dealer_id string, segment string, balance_fen long, "
                 "value long, lending long, ltv_bps long, ltv_funded_bps long, "
                 "ltv_change_bps long, value_change_bps long, score long, grade long, "
                 "action string, rules array<string>, error string")
_PREDICTORS: dict[str, Predictor] = {}  # one per Python worker and model
# the exported loans' columns (`monitoring.LOAN_COLUMNS`), typed here: a chunk whose column is
# all missing (no odometer readings yet, no car changed since funding) must not fix its type
LOAN_SCHEMA = pa.schema([
    ("loan_id", pa.string()), ("dealer_id", pa.string()), ("funded_at", pa.string()),
    ("principal_fen", pa.int64()), ("balance_fen", pa.int64()),
    ("days_past_due", pa.int64()), ("odometer_km", pa.int64()),
    ("odometer_date", pa.string()), ("vehicle_json", pa.string()),
    ("funded_vehicle_json", pa.string()), ("funded_value", pa.int64()),
    ("funded_lending", pa.int64())])
assert tuple(LOAN_SCHEMA.names) == monitoring.LOAN_COLUMNS


def export_loans(sessions: Callable[[], Session], ids: list[str], path: Path,
                 chunk_loans: int = 50_000) -> None:
    """The loans `ids` (the LOAN_COLUMNS) into one Parquet file, chunk by chunk (a file with
    no rows when there are none)."""
    with pq.ParquetWriter(path, LOAN_SCHEMA) as writer:
        for first in range(0, len(ids), chunk_loans):
            with sessions() as session:
                frame = monitoring._loan_rows(session, ids[first:first + chunk_loans])
            frame["funded_at"] = frame["funded_at"].astype(str)
            frame["odometer_date"] = frame["odometer_date"].map(
                lambda d: None if d is None or d != d else str(d))
            writer.write_table(pa.Table.from_pandas(frame, schema=LOAN_SCHEMA,
                                                    preserve_index=False))


def _partition(root_name: str, spec: str, policy: Policy, as_of: dt.date,
               watch: set[str]) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def grade(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import SparkFiles

        predictor = _PREDICTORS.get(spec)
        if predictor is None:
            predictor = Predictor.load(Registry(Path(SparkFiles.get(root_name))), spec)
            _PREDICTORS[spec] = predictor
        for frame in frames:
            if len(frame):
                out = monitoring.revalue(frame, predictor, policy, as_of, watch)
                out["rules"] = [list(r) for r in out["rules"]]
                yield out
    return grade


def run_spark(sessions: Callable[[], Session], registry: Registry, predictor: Predictor,
              policy: Policy, run_id: str, output: Path, master: str = "local[*]",
              input_path: Path | None = None, partitions: int | None = None
              ) -> dict[str, Any]:
    """Run `run_id` on Spark; the per-loan results stay under `output` as Parquet."""
    from pyspark.sql import SparkSession

    # py4j announces every connection at INFO, also from finalizers after the streams closed
    logging.getLogger("py4j").setLevel(logging.WARNING)
    timings: dict[str, float] = {}
    as_of, ids, _, watch = monitoring.begin(sessions, run_id, policy, predictor.ref)
    name, version = predictor.ref["name"], predictor.ref["version"]
    work = Path(tempfile.mkdtemp(prefix="monitoring-spark-"))
    try:
        started = time.perf_counter()
        exported = input_path is None  # else a Parquet file may hold loans the book has not
        if input_path is None:
            input_path = work / "loans.parquet"
            export_loans(sessions, ids, input_path)
        timings["export_s"] = time.perf_counter() - started
        root_name = f"models-{run_id}"
        shipped = work / root_name / name / version
        shutil.copytree(registry.path(name, version), shipped)
        builder = (SparkSession.builder.master(master).appName(f"monitoring-{run_id}")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.ui.enabled", "false"))
        if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
            # local workers run this interpreter (with this package); a cluster's executors
            # need a Python environment with it installed (README)
            os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = builder.getOrCreate()
        try:
            spark.sparkContext.addFile(str(work / root_name), recursive=True)
            started = time.perf_counter()
            loans = spark.read.parquet(str(input_path))
            if partitions:
                loans = loans.repartition(partitions)
            results = loans.mapInPandas(_partition(root_name, f"{name}:{version}", policy,
                                                   as_of, watch), schema=RESULT_SCHEMA)
            target = output / f"monitoring-{as_of}-{run_id}"
            results.write.mode("overwrite").parquet(str(target))
            timings["spark_s"] = time.perf_counter() - started
        finally:
            spark.stop()
        started = time.perf_counter()
        book = pd.read_parquet(target).sort_values("loan_id", ignore_index=True)
        for column in ("value", "lending", "ltv_bps", "ltv_change_bps", "value_change_bps",
                       "score", "grade"):
            book[column] = book[column].astype("Int64")
        book["rules"] = [list(r) if r is not None else [] for r in book["rules"]]
        book["error"] = book["error"].where(book["error"].notna(), None)
        monitoring.store_results(sessions, run_id, book)
        timings["store_s"] = time.perf_counter() - started
        return monitoring.finish(sessions, run_id, book, timings,
                                 all_in_database=exported)
    except Exception as exc:
        monitoring.fail(sessions, run_id, exc)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
