"""The wheel ships the Alembic migrations, the default strategy and the console's templates,
assets and catalogue, and migrates from an install."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_data_and_migrates_an_empty_database(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a clean copy: no stale build/ or egg-info of the checkout
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("valuation", "strategies"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("vehicle_valuation-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("strategies/default.yaml", "valuation/store/migrations/env.py",
                     "valuation/store/migrations/script.py.mako",
                     "valuation/store/migrations/versions/0001_initial.py",
                     "valuation/store/migrations/versions/0003_strategy_lifecycle.py",
                     "valuation/console/templates/console/base.html",
                     "valuation/console/static/console/console.js",
                     "valuation/console/static/console/vendor/echarts.min.js",
                     "valuation/console/static/console/vendor/echarts.LICENSE",
                     "valuation/console/translations/zh/LC_MESSAGES/messages.mo"):
        assert expected in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = ("import sqlalchemy, valuation\n"
              "from valuation.store import db\n"
              f"db.upgrade({url!r})\n"
              f"print(valuation.__file__)\n"
              f"print(sorted(sqlalchemy.inspect(sqlalchemy.create_engine({url!r})).get_table_names()))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, env=env, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(str(site))  # the installed copy, not the checkout
    for table in ("alembic_version", "api_keys", "credit_decisions", "strategy_versions",
                  "valuations"):
        assert f"'{table}'" in out[1]
