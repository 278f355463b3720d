"""The `valuation` command line: a thin click shell (Flask's CLI group) over the services."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import click
from flask.cli import FlaskGroup
from sqlalchemy.exc import SQLAlchemyError

from . import create_app
from .config import Config
from .errors import ValuationError
from .model import adapters, demo_market
from .model.predictor import Predictor
from .model.registry import Registry
from .model.training import TrainConfig, train
from .services import csv_text
from .services import keys as api_keys

DEMO_ROWS, DEMO_SEED = 20_000, 7


class Progress:
    """One status line per stage on stderr, rewritten in place."""

    def __init__(self) -> None:
        self.started = dt.datetime.now()

    def __call__(self, stage: str, done: int, total: int) -> None:
        secs = (dt.datetime.now() - self.started).total_seconds()
        end = "\n" if done >= total else ""
        click.echo(f"\r  {stage}: {done:,}/{total:,} iterations ({secs:,.0f} s)", nl=False,
                   err=True)
        if end:
            click.echo("", err=True)


def _registry() -> Registry:
    return Registry(Config.from_env().MODEL_ROOT)


def _fail(exc: ValuationError) -> None:
    raise click.ClickException(exc.message)


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False,
             help="Vehicle valuation service: datasets, training, models, prediction, server.")
def cli() -> None:
    pass


@cli.group()
def datasets() -> None:
    """Real datasets into canonical CSV."""


@datasets.command("convert", with_appcontext=False)
@click.option("--adapter", required=True, type=click.Choice(sorted(adapters.ADAPTERS)))
@click.option("--src", required=True, type=click.Path(exists=True, path_type=Path),
              help="dataset file or folder (e.g. ../shared/data/uk-used-cars)")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def convert(adapter: str, src: Path, out: Path) -> None:
    """Convert a dataset with its adapter to canonical CSV."""
    try:
        frame, notes = adapters.convert(adapter, src)
    except ValuationError as exc:
        _fail(exc)
    for note, count in notes.items():
        click.echo(f"  {note}: {count:,}")
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    click.echo(f"wrote {len(frame):,} canonical rows to {out}")


@cli.command("demo-data", with_appcontext=False)
@click.option("--rows", default=DEMO_ROWS, show_default=True, type=click.IntRange(1, 5_000_000))
@click.option("--loans", type=click.IntRange(1, 50_000_000),
              help="write a synthetic loan book of this many loans instead of the market "
                   "(see valuation/services/demo_loans.py)")
@click.option("--seed", default=DEMO_SEED, show_default=True, type=int)
@click.option("--as-of", default=str(demo_market.DEFAULT_AS_OF), show_default=True,
              type=click.DateTime(["%Y-%m-%d"]), help="last valuation date of the market")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV, or Parquet when the name ends in .parquet")
def demo_data(rows: int, loans: int | None, seed: int, as_of: dt.datetime, out: Path) -> None:
    """Generate the synthetic demo market (see valuation/model/demo_market.py), or with
    --loans a loan book on it."""
    from .services import demo_loans

    if loans:
        frame = demo_loans.generate(loans, seed, as_of.date())
        what = "loans"
    else:
        frame = demo_market.generate(rows, seed, as_of.date())
        what = "synthetic rows"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    click.echo(f"wrote {len(frame):,} {what} to {out}")


@cli.command("train", with_appcontext=False)
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="canonical CSV with price")
@click.option("--name", required=True, help="model name in the registry")
@click.option("--currency", default="CNY", show_default=True)
@click.option("--eval-split", default="random", show_default=True,
              type=click.Choice(["random", "time"]))
@click.option("--eval-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--eval-from", type=click.DateTime(["%Y-%m-%d"]),
              help="time split: hold out rows valued on or after this date")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--iterations", default=2000, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--learning-rate", default=0.1, show_default=True, type=click.FloatRange(0.001, 1))
@click.option("--depth", default=0, show_default=True, type=click.IntRange(0, 12),
              help="point model depth; 0 chooses 6 or 10 on the calibration rows")
@click.option("--no-baseline", is_flag=True, help="skip the plain baseline comparison")
@click.option("--synthetic", is_flag=True, help="mark the card as trained on synthetic data")
@click.option("--promote", is_flag=True, help="make the new version CURRENT")
def train_command(data: Path, name: str, currency: str, eval_split: str, eval_fraction: float,
                  eval_from: dt.datetime | None, seed: int, iterations: int,
                  learning_rate: float, depth: int, no_baseline: bool, synthetic: bool,
                  promote: bool) -> None:
    """Train a valuation model, evaluate it against a plain baseline, register it."""
    cfg = TrainConfig(data=data, name=name, currency=currency.upper(), eval_split=eval_split,
                      eval_fraction=eval_fraction,
                      eval_from=eval_from.date() if eval_from else None, seed=seed,
                      iterations=iterations, learning_rate=learning_rate, depth=depth,
                      threads=Config.from_env().TRAIN_THREADS, baseline=not no_baseline,
                      synthetic=synthetic)
    try:
        result = train(cfg, _registry(), click.echo, Progress(), promote=promote)
    except ValuationError as exc:
        _fail(exc)
    click.echo(result.report)
    state = " and promoted to CURRENT" if promote else ""
    click.echo(f"registered {name}:{result.version}{state} "
               f"(training {result.card['training_seconds']:.0f} s)")


@cli.command("predict", with_appcontext=False)
@click.option("--model", "spec", required=True, help="NAME or NAME:VERSION")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def predict_command(spec: str, data: Path, out: Path) -> None:
    """Value every row of a canonical CSV; bad rows get an error and no value."""
    try:
        predictor = Predictor.load(_registry(), spec)
    except ValuationError as exc:
        _fail(exc)
    try:
        raw = csv_text.text_frame(data.read_bytes())
    except ValueError as exc:
        _fail(ValuationError(f"{data}: {exc}"))
    result = predictor.predict(raw)
    table = raw.copy()
    for col in ("value", "value_low", "value_high"):
        table[col] = result[col].round(0).astype("Int64")
    table["confidence"] = result["confidence"].round(3)
    table["warnings"] = result["warnings"].map("; ".join)
    table["error"] = result["error"].fillna("")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    bad = int((table["error"] != "").sum())
    click.echo(f"valued {len(table) - bad:,} of {len(table):,} rows with "
               f"{predictor.ref['name']}:{predictor.ref['version']}; {bad:,} rows with errors; "
               f"wrote {out}")


@cli.group()
def models() -> None:
    """The model registry."""


@models.command("list", with_appcontext=False)
def models_list() -> None:
    """Every model version, CURRENT marked with *."""
    reg = _registry()
    click.echo(f"{'model':<24} {'version':>7}  {'created':<25} {'currency':<8} {'MdAPE%':>7}")
    for name in reg.names():
        current = reg.current(name)
        for version in reg.versions(name):
            card = reg.card(name, version)
            overall = card.get("metrics", {}).get("model", {}).get("overall", {})
            mdape = f"{overall['mdape']:.2f}" if "mdape" in overall else "-"
            mark = "*" if version == current else " "
            click.echo(f"{name:<24} {mark}{version:>6}  {card.get('created_at', ''):<25} "
                       f"{card.get('currency', ''):<8} {mdape:>7}")


@models.command("show", with_appcontext=False)
@click.argument("spec")
def models_show(spec: str) -> None:
    """Print a model card (NAME or NAME:VERSION)."""
    try:
        name, version = _registry().resolve(spec)
    except ValuationError as exc:
        _fail(exc)
    click.echo(json.dumps(_registry().card(name, version), indent=2, ensure_ascii=False))


@models.command("promote", with_appcontext=False)
@click.argument("spec")
def models_promote(spec: str) -> None:
    """Make NAME:VERSION the CURRENT version."""
    name, _, version = spec.partition(":")
    if not version:
        raise click.UsageError("give NAME:VERSION")
    try:
        _registry().promote(name, version)
    except ValuationError as exc:
        _fail(exc)
    click.echo(f"{name}:{version} is CURRENT")


@cli.command("demo-model", with_appcontext=False)
@click.option("--force", is_flag=True, help="train a new version even if one is registered")
def demo_model(force: bool) -> None:
    """Train and promote the demo model on the synthetic market unless one is CURRENT."""
    settings = Config.from_env()
    reg = Registry(settings.MODEL_ROOT)
    if reg.current(settings.MODEL_NAME) and not force:
        try:
            reg.load(settings.MODEL_NAME)
            click.echo(f"model {settings.MODEL_NAME}:{reg.current(settings.MODEL_NAME)} is CURRENT")
            return
        except ValuationError as exc:
            click.echo(f"CURRENT demo model unusable ({exc.message}); training a new one")
    path = settings.INSTANCE_PATH / "demo_market.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    demo_market.generate(DEMO_ROWS, DEMO_SEED).to_csv(path, index=False)
    click.echo(f"generated {DEMO_ROWS:,} synthetic rows at {path}")
    cfg = TrainConfig(data=path, name=settings.MODEL_NAME, eval_fraction=0.2, iterations=800,
                      depth=6, threads=settings.TRAIN_THREADS, synthetic=True,
                      notes="synthetic demo market: not for lending")
    result = train(cfg, reg, click.echo, Progress(), promote=True)
    click.echo(result.report)
    click.echo(f"registered {settings.MODEL_NAME}:{result.version} and promoted it")


@cli.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade", with_appcontext=False)
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to DATABASE_URL."""
    from .store import db
    db.upgrade(Config.from_env().DATABASE_URL, revision)
    click.echo(f"database upgraded to {revision}")


def _session():  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from .store import db
    return Session(db.make_engine(Config.from_env().DATABASE_URL))


@cli.group()
def loans() -> None:
    """The loan book (loan tapes in CSV or Parquet)."""


@loans.command("import", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--add-unknown-dealers", is_flag=True,
              help="create dealers the tape names but the dealer table lacks (no tier); "
                   "without it such rows are refused")
def loans_import(file: Path, add_unknown_dealers: bool) -> None:
    """Upsert a loan tape by loan_id; bad rows are listed with their row number and field, the
    good ones kept (one transaction per 1,000 rows)."""
    from sqlalchemy.orm import sessionmaker

    from .services import loans as loan_book
    from .store import db
    from .store.tables import DealerRecord

    settings = Config.from_env()
    try:
        frame = loan_book.read_tape(file.read_bytes(), file.name)
        sessions = sessionmaker(db.make_engine(settings.DATABASE_URL), expire_on_commit=False)
        if add_unknown_dealers and "dealer_id" in frame:
            with sessions() as session, session.begin():
                known = {d.id for d in session.query(DealerRecord)}
                for dealer in sorted(set(frame["dealer_id"]) - known - {""}):
                    session.add(DealerRecord(id=dealer, name=""))
        predictor = Predictor.load(_registry(), settings.MODEL_NAME)
        with click.progressbar(length=len(frame), label="importing loans", file=None) as bar:
            def step(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            report = loan_book.import_tape(sessions, predictor, frame, step)
    except ValuationError as exc:
        _fail(exc)
    click.echo(f"{report['rows']:,} rows: {report['inserted']:,} new, {report['updated']:,} "
               f"updated, {report['failed']:,} refused")
    for error in report["errors"][:50]:
        click.echo(f"  row {error['row']}: {error['field']}: {error['message']}")
    if len(report["errors"]) > 50:
        click.echo(f"  ... {len(report['errors']) - 50:,} more")


@cli.group()
def monitor() -> None:
    """In-loan monitoring: revalue the loan book, grade it, raise and clear alerts."""


@monitor.command("run", with_appcontext=False)
@click.option("--as-of", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--engine", default="pandas", show_default=True,
              type=click.Choice(["pandas", "spark"]),
              help="spark: PySpark (the `spark` extra) on SPARK_MASTER, default local[*]")
@click.option("--input", "input_path", type=click.Path(exists=True, path_type=Path),
              help="spark: the loans as Parquet (the loans table's columns); default: exported "
                   "from the database")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="write the per-loan results as Parquet into this folder (spark: required)")
def monitor_run(as_of: dt.datetime, engine: str, input_path: Path | None,
                output: Path | None) -> None:
    """Revalue every active loan at AS_OF with the served model and the monitoring policy."""
    from sqlalchemy.orm import sessionmaker

    from .services import monitoring
    from .store import db

    settings = Config.from_env()
    sessions = sessionmaker(db.make_engine(settings.DATABASE_URL), expire_on_commit=False)
    try:
        predictor = Predictor.load(_registry(), settings.MODEL_NAME)
        with sessions() as session, session.begin():
            run_id = monitoring.create_run(session, "cli", as_of.date(), engine).id
        if engine == "spark":
            from .services import strategy_store
            from .services.monitoring_spark import run_spark

            if output is None:
                raise click.BadParameter("the spark engine writes its results: give --output",
                                         param_hint="--output")
            with sessions() as session, session.begin():
                version, policy = strategy_store.active_policy(session)
            summary = run_spark(sessions, _registry(), predictor, policy, run_id, output,
                                settings.SPARK_MASTER, input_path)
            summary["policy_version"] = version
        else:
            with click.progressbar(length=1, label="revaluing loans") as bar:
                def step(done: int, total: int) -> None:
                    bar.length = max(total, 1)
                    bar.update(done - bar.pos)

                summary = monitoring.run_active(sessions, predictor, run_id, output,
                                                progress=step)
    except ValuationError as exc:
        _fail(exc)
    click.echo(f"run {run_id} (policy version {summary['policy_version']}): "
               f"{summary['valued']:,} loans graded, {summary['failed']:,} could not be valued")
    for row in summary["by_grade"]:
        click.echo(f"  grade {row['grade']}: {row['loans']:,} loans, balance "
                   f"{Decimal(row['balance_fen']).scaleb(-2):,.2f}")
    alerts = summary["alerts"]
    if alerts["updated"]:
        click.echo(f"alerts: {alerts['raised']:,} raised, {alerts['changed']:,} changed, "
                   f"{alerts['kept']:,} kept, {alerts['cleared']:,} cleared")
    else:
        click.echo(f"alerts left as run {alerts['later_run']['id']} of "
                   f"{alerts['later_run']['as_of']} (a later date) set them")


@cli.group()
def jobs() -> None:
    """Background valuation jobs (large CSV batches)."""


@jobs.command("work", with_appcontext=False)
@click.option("--once", is_flag=True, help="stop when no job is waiting (else wait for more)")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="seconds between looks for a new job")
@click.option("--stale-seconds", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="a running job whose worker went silent this long is taken over")
@click.option("--chunk-rows", default=1_000, show_default=True, type=click.IntRange(min=1),
              help="rows valued and committed together")
def jobs_work(once: bool, poll: float, stale_seconds: float, chunk_rows: int) -> None:
    """Claim queued valuation jobs and value them, chunk by chunk, with the served model, and
    queued monitoring runs. SIGTERM or Ctrl-C finishes the current chunk and hands the job
    back."""
    import os
    import signal
    import socket
    import threading

    from sqlalchemy.orm import sessionmaker

    from .services import valuation_jobs
    from .store import db

    settings = Config.from_env()
    predictor = Predictor.load(_registry(), settings.MODEL_NAME)
    sessions = sessionmaker(db.make_engine(settings.DATABASE_URL), expire_on_commit=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def progress(job: str, done: int, total: int) -> None:
        click.echo(f"job {job}: {done:,}/{total:,} rows", err=True)

    def monitoring_run() -> bool:
        from .services import monitoring

        with sessions() as session:
            run_id = monitoring.claim_run(session, worker)
        if run_id is None:
            return False
        try:
            monitoring.run_active(sessions, predictor, run_id)
        except Exception:  # noqa: BLE001 - the run is marked failed with its error; go on
            click.echo(f"monitoring run {run_id} failed (see the log)", err=True)
        return True

    ran = valuation_jobs.work(sessions, predictor, worker, stop, poll, once, stale_seconds,
                              chunk_rows, progress, monitoring_run)
    click.echo(f"{worker} ran {ran} job(s)")


@cli.group()
def keys() -> None:
    """API keys (stored hashed; a key is shown once, at creation)."""


@keys.command("create", with_appcontext=False)
@click.option("--role", required=True, type=click.Choice(api_keys.ROLES))
@click.option("--dealer", "dealer_id", help="the dealer a dealer key is bound to")
@click.option("--name", required=True,
              help="the person who holds the key: the actor in audit trails and maker-checker "
                   "(two keys with one name are one person)")
@click.option("--expires", help="DAYS from now, or a date YYYY-MM-DD (the key stops working at "
                                "its start, UTC); without it the key lives until revoked")
@click.option("--rate-limit", help="the key's own budget, e.g. 100/minute (default: its role's, "
                                   "RATE_LIMITS)")
def keys_create(role: str, dealer_id: str | None, name: str, expires: str | None,
                rate_limit: str | None) -> None:
    """Create a key and print it once (the last word of the output)."""
    try:
        with _session() as session, session.begin():
            key = api_keys.create_key(session, role, name, dealer_id,
                                      Config.from_env().api_key_secret(),
                                      expires_at=_expiry(expires), rate_limit=rate_limit)
    except ValuationError as exc:
        _fail(exc)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database not ready ({type(exc).__name__}); run "
                                   "`valuation db upgrade` first") from exc
    click.echo(f"created {role} key {key.split('.')[0]} (shown once, store it now): {key}")


def _expiry(text: str | None) -> dt.datetime | None:
    """`--expires`: a whole number of days from now, or the start (UTC) of a date."""
    if text is None:
        return None
    if text.strip().isdigit():
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=int(text))
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise click.BadParameter("DAYS (a whole number) or a date YYYY-MM-DD",
                                 param_hint="--expires") from exc
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@keys.command("list", with_appcontext=False)
def keys_list() -> None:
    """Every key: prefix, role, dealer, name, created, last used (to the minute), revoked,
    expires, own rate limit (never the key). Times are UTC."""
    with _session() as session:
        rows = api_keys.list_keys(session)

    def when(moment: dt.datetime | None) -> str:
        return moment.strftime("%Y-%m-%d %H:%M") if moment else ""

    click.echo(f"{'prefix':<10} {'role':<17} {'dealer':<12} {'name':<24} {'created':<17} "
               f"{'last used':<17} {'revoked':<17} {'expires':<17} rate limit")
    for r in rows:
        click.echo(f"{r.prefix:<10} {r.role:<17} {r.dealer_id or '':<12} {r.name:<24} "
                   f"{when(r.created_at):<17} {when(r.last_used_at):<17} "
                   f"{when(r.revoked_at):<17} {when(r.expires_at):<17} {r.rate_limit or ''}")


@keys.command("rotate", with_appcontext=False)
@click.argument("prefix")
@click.option("--grace-days", default=7, show_default=True, type=click.IntRange(min=0),
              help="days the old key keeps working")
def keys_rotate(prefix: str, grace_days: int) -> None:
    """A new key for the holder of key PREFIX; the old one expires after the grace period."""
    try:
        with _session() as session, session.begin():
            key = api_keys.rotate_key(session, prefix.removeprefix(api_keys.KEY_PREFIX),
                                      dt.timedelta(days=grace_days),
                                      Config.from_env().api_key_secret())
    except ValuationError as exc:
        _fail(exc)
    click.echo(f"rotated {prefix}: it works {grace_days} more day(s); new key "
               f"{key.split('.')[0]} (shown once, store it now): {key}")


@keys.command("revoke", with_appcontext=False)
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    """Revoke the key with this public prefix."""
    with _session() as session, session.begin():
        done = api_keys.revoke_key(session, prefix.removeprefix(api_keys.KEY_PREFIX))
    if not done:
        raise click.ClickException(f"no active key with prefix {prefix}")
    click.echo(f"revoked {prefix}")


@cli.group()
def strategies() -> None:
    """Strategy documents: validate, simulate."""


@strategies.command("validate", with_appcontext=False)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def strategies_validate(path: Path) -> None:
    """Validate a strategy YAML/JSON file; exit 1 with every problem listed."""
    from strategies.document import StrategyError, load_file, monotonicity_warnings

    try:
        strategy = load_file(path)
    except StrategyError as exc:
        for where, problems in sorted(exc.errors.items()):
            click.echo(f"  {where}: {problems}", err=True)
        raise click.ClickException(
            f"{path}: invalid strategy ({len(exc.errors)} problems)") from exc
    for warning in monotonicity_warnings(strategy):
        click.echo(f"  warning: {warning}")
    click.echo(f"{path}: valid strategy {strategy.name!r} ({strategy.content_hash})")


@strategies.command("simulate", with_appcontext=False)
@click.option("--name", default="default", show_default=True)
@click.option("--candidate", required=True, type=int, help="candidate version number")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="past applications; without it, stored decisions are replayed")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--actor", default="cli", show_default=True, help="recorded with the report")
def strategies_simulate(name: str, candidate: int, csv_path: Path | None,
                        date_from: dt.datetime | None, date_to: dt.datetime | None,
                        actor: str) -> None:
    """Simulate a candidate version against the active one and store the report."""
    from .services import application_csv, simulations, strategy_store
    from .services.keys import Principal

    principal = Principal(name=actor, role="pricing_analyst", prefix="cli", dealer_id=None)
    steps = ["loading applications", "deciding under both strategies", "storing the report"]
    with click.progressbar(steps, label="simulating", show_pos=True) as bar, \
            _session() as session, session.begin():
        for stage in bar:
            if stage == steps[0]:
                if name == strategy_store.DEFAULT_NAME:
                    strategy_store.seed_default(session)
                if csv_path:
                    predictor = None
                    try:
                        predictor = Predictor.load(_registry(), Config.from_env().MODEL_NAME)
                    except ValuationError:
                        pass
                    apps, ids = application_csv.csv_applications(csv_path.read_bytes(), predictor)
                else:
                    apps, ids = simulations.stored_applications(
                        session, date_from.date() if date_from else None,
                        date_to.date() if date_to else None)
            elif stage == steps[1]:
                try:
                    report = simulations.run(session, principal, name, candidate, apps, ids)
                except ValuationError as exc:
                    _fail(exc)
    click.echo(json.dumps(report, indent=1, ensure_ascii=False, default=str))


def main() -> None:
    cli(prog_name="valuation")


if __name__ == "__main__":
    main()
