"""Accuracy benchmark on the real datasets in ../shared/data and the synthetic demo market, as
the acceptance figures are measured.

    .venv/bin/python benchmarks/accuracy.py [--datasets uk,mathorcup,tesla,au,demo] [--out-dir DIR]

Each dataset is converted with its adapter, trained into a scratch registry with the
split of the acceptance criteria, and evaluated against the plain baseline in the same run.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import click

from valuation.cli import DEMO_ROWS, DEMO_SEED, Progress
from valuation.config import Config
from valuation.model import adapters, demo_market
from valuation.model.registry import Registry
from valuation.model.training import TrainConfig, train

RUNS = {
    "uk": dict(folder="uk-used-cars", currency="GBP", eval_split="random"),
    "mathorcup": dict(folder="cn-mathorcup2021", currency="CNY", eval_split="time",
                      eval_from=dt.date(2021, 4, 1)),
    "tesla": dict(folder="us-tesla-used", currency="USD", eval_split="random"),
    "au": dict(folder="au-ev-listings", currency="AUD", eval_split="random"),
    # the synthetic demo market (`valuation demo-model`'s rows), with the full training
    "demo": dict(folder=None, currency="CNY", eval_split="random"),
}


@click.command()
@click.option("--datasets", default=",".join(RUNS), show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--seed", default=42, show_default=True)
def main(datasets: str, out_dir: Path | None, seed: int) -> None:
    settings = Config.from_env()
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="valuation-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(out_dir / "models")
    summary = {}
    for name in datasets.split(","):
        run = dict(RUNS[name])
        folder = run.pop("folder")
        if folder is None:
            frame, notes = demo_market.generate(DEMO_ROWS, DEMO_SEED), "synthetic"
        else:
            src = settings.DATA_ROOT / folder
            if not src.exists():
                click.echo(f"{name}: {src} absent, skipped")
                continue
            frame, notes = adapters.convert(name, src)
        path = out_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        click.echo(f"\n=== {name}: {len(frame):,} canonical rows {notes}")
        cfg = TrainConfig(data=path, name=name, seed=seed, threads=settings.TRAIN_THREADS, **run)
        started = time.perf_counter()
        result = train(cfg, registry, click.echo, Progress())
        click.echo(result.report)
        metrics = result.card["metrics"]
        overall, base = metrics["model"]["overall"], metrics["baseline"]["overall"]
        summary[name] = {
            "train_seconds": result.card["training_seconds"],
            "wall_seconds": round(time.perf_counter() - started, 1),
            "n_eval": overall["n"], "mdape": overall["mdape"], "within_10": overall["within_10"],
            "over_10": overall["over_10"], "coverage": overall["coverage"],
            "baseline_mdape": base["mdape"], "baseline_over_10": base["over_10"],
            "mdape_gain": metrics["mdape_gain_vs_baseline"],
            "by_confidence": {k: v["mdape"] for k, v in metrics["by_confidence"].items()},
        }
        click.echo(json.dumps({name: summary[name]}, indent=1))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    click.echo(f"\nsummary written to {out_dir / 'summary.json'}")


if __name__ == "__main__":
    main()
