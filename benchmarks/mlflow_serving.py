"""The same point model behind the MLflow scoring server (`mlflow models serve --env-manager
local`), installed by the benchmark in its own virtual environment, driven like ours."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from load import ROOT, free_port, wait_for, wrk_script

VENV = ROOT / "benchmarks" / ".venv-mlflow"
PYTHON = VENV / "bin" / "python"
SAVE = """
import sys, catboost, mlflow.catboost
model = catboost.CatBoostRegressor()
model.load_model(sys.argv[1])
mlflow.catboost.save_model(model, sys.argv[2])
"""


def install() -> None:
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "mlflow>=3.0", "catboost",
                    "pandas"], check=True)


@contextmanager
def serve(model_file: Path, row: dict[str, object], work: Path
          ) -> Iterator[tuple[str, str]]:
    """The MLflow scoring server of `model_file` (2 workers); yields its base URL and the wrk
    script of one /invocations request for `row`."""
    install()
    saved = work / "mlflow-model"
    subprocess.run([str(PYTHON), "-c", SAVE, str(model_file), str(saved)], check=True)
    port = free_port()
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    process = subprocess.Popen([str(VENV / "bin" / "mlflow"), "models", "serve", "-m",
                               str(saved), "--env-manager", "local", "-p", str(port), "-h",
                               "127.0.0.1", "-w", "2"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/ping", timeout=180)
        body = json.dumps({"dataframe_split": {"columns": list(row), "data": [list(row.values())]}})
        yield base, wrk_script("POST", "/invocations", {"Content-Type": "application/json"}, body)
    finally:
        process.terminate()
        process.wait(timeout=30)
