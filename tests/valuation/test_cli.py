"""The `valuation` command line, end to end on small files."""
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from valuation.cli import cli


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MODEL_ROOT", str(tmp_path / "models"))
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("TRAIN_THREADS", "2")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_demo_data_train_list_show_promote_predict(run, tmp_path: Path) -> None:
    data = tmp_path / "demo.csv"
    assert "wrote 2,000 synthetic rows" in run("demo-data", "--rows", "2000", "--seed", "5",
                                               "--out", str(data))
    out = run("train", "--data", str(data), "--name", "cli", "--iterations", "60",
              "--depth", "4", "--eval-split", "time", "--eval-fraction", "0.2")
    assert "model on" in out and "plain CatBoost baseline" in out
    assert "relative gain" in out and "registered cli:1" in out
    assert "P10-P90 cov%" in out and "over+10%" in out and "price <" in out
    listing = run("models", "list")
    assert "cli" in listing and "*" not in listing.split("\n", 1)[1]
    assert "cli:1 is CURRENT" in run("models", "promote", "cli:1")
    assert "*" in run("models", "list")
    card = json.loads(run("models", "show", "cli"))
    assert card["version"] == "1" and card["config"]["eval_split"] == "time"

    batch = pd.read_csv(data).drop(columns=["price"]).head(5)
    batch.loc[1, "mileage_km"] = -10
    batch.loc[3, "energy_type"] = "steam"
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    batch.to_csv(src, index=False)
    assert "valued 3 of 5 rows" in run("predict", "--model", "cli:1", "--data", str(src),
                                       "--out", str(dst))
    result = pd.read_csv(dst, keep_default_na=False)
    assert len(result) == 5
    assert list(result.columns[-6:]) == ["value", "value_low", "value_high", "confidence",
                                         "warnings", "error"]
    assert result["error"][1] == "invalid mileage_km" and result["value"][1] == ""
    assert result["error"][3] == "invalid energy_type"
    good = result.iloc[[0, 2, 4]]
    assert (good["value_low"].astype(int) <= good["value"].astype(int)).all()


def test_convert_prints_what_it_dropped(run, tmp_path: Path) -> None:
    src = tmp_path / "uk"
    src.mkdir()
    header = "model,year,price,transmission,mileage,fuelType,tax,mpg,engineSize\n"
    (src / "vw.csv").write_text(header + " Golf,2018,15000,Manual,20000,Petrol,145,50,1.5\n" * 2)
    out = run("datasets", "convert", "--adapter", "uk", "--src", str(src),
              "--out", str(tmp_path / "c.csv"))
    assert "exact duplicates dropped: 1" in out and "wrote 1 canonical rows" in out


def test_errors_are_messages_not_tracebacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODEL_ROOT", str(tmp_path))
    result = CliRunner().invoke(cli, ["models", "show", "ghost"])
    assert result.exit_code == 1
    assert "model 'ghost' has no CURRENT version" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("brand,price\nx,1\n")
    result = CliRunner().invoke(cli, ["train", "--data", str(bad), "--name", "x"])
    assert result.exit_code == 1 and "only 0 training rows" in result.output


def test_keys_create_list_revoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    made = runner.invoke(cli, ["keys", "create", "--role", "dealer", "--dealer", "D9",
                               "--name", "shop 9"])
    assert made.exit_code == 0, made.output
    key = made.output.split()[-1]
    prefix = key.removeprefix("vk_").split(".")[0]
    listing = runner.invoke(cli, ["keys", "list"]).output
    assert prefix in listing and "shop 9" in listing and "D9" in listing
    assert key.split(".")[1] not in listing  # the secret is never shown again
    assert runner.invoke(cli, ["keys", "revoke", prefix]).exit_code == 0
    again = runner.invoke(cli, ["keys", "revoke", prefix])
    assert again.exit_code == 1 and "no active key" in again.output
    bad = runner.invoke(cli, ["keys", "create", "--role", "dealer", "--name", "shop 8"])
    assert bad.exit_code == 1 and "bound to a dealer" in bad.output
    # a key names its holder: maker-checker tells people apart by it (issue 10, case 4)
    nameless = runner.invoke(cli, ["keys", "create", "--role", "pricing_analyst"])
    assert nameless.exit_code == 2 and "--name" in nameless.output
    default_like = runner.invoke(cli, ["keys", "create", "--role", "pricing_analyst",
                                       "--name", "pricing_analyst-key"])
    assert default_like.exit_code == 1 and "name the person" in default_like.output


def test_keys_expire_by_days_or_date(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datetime as dt

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    by_days = runner.invoke(cli, ["keys", "create", "--role", "underwriter", "--name", "ann",
                                  "--expires", "30"])
    by_date = runner.invoke(cli, ["keys", "create", "--role", "admin", "--name", "bo",
                                  "--expires", "2099-03-01"])
    assert by_days.exit_code == 0 and by_date.exit_code == 0, by_days.output + by_date.output
    listing = runner.invoke(cli, ["keys", "list"]).output
    in_30_days = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert in_30_days in listing and "2099-03-01 00:00" in listing
    past = runner.invoke(cli, ["keys", "create", "--role", "admin", "--name", "cy",
                               "--expires", "2020-01-01"])
    assert past.exit_code == 1 and "in the future" in past.output
    garbage = runner.invoke(cli, ["keys", "create", "--role", "admin", "--name", "cy",
                                  "--expires", "soon"])
    assert garbage.exit_code == 2 and "--expires" in garbage.output
    prefix = by_days.output.split()[-1].removeprefix("vk_").split(".")[0]
    rotated = runner.invoke(cli, ["keys", "rotate", prefix, "--grace-days", "3"])
    assert rotated.exit_code == 0 and "works 3 more day(s)" in rotated.output, rotated.output
    assert rotated.output.split()[-1].startswith("vk_")
    in_3_days = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%d")
    assert in_3_days in runner.invoke(cli, ["keys", "list"]).output  # the old key's new end
    unknown = runner.invoke(cli, ["keys", "rotate", "ffffffff"])
    assert unknown.exit_code == 1 and "no active key" in unknown.output


def test_strategies_validate(tmp_path: Path) -> None:
    import yaml

    from strategies.document import DEFAULT_PATH
    runner = CliRunner()
    ok = runner.invoke(cli, ["strategies", "validate", str(DEFAULT_PATH)])
    assert ok.exit_code == 0 and "valid strategy 'default'" in ok.output
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    doc["ltv_max"]["commercial_nev"]["A"]["T1"] = 0.80
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli, ["strategies", "validate", str(bad)])
    assert result.exit_code == 1
    assert "ltv_max[commercial_nev][A][T1]" in result.output and "regulatory cap" in result.output


def test_a_demo_loan_book_imported_and_monitored_from_the_command_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_root: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'book.db'}")
    monkeypatch.setenv("MODEL_ROOT", str(model_root))
    monkeypatch.setenv("MODEL_NAME", "tiny")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("db", "upgrade")
    tape = tmp_path / "loans.csv"
    assert "wrote 40 loans" in run("demo-data", "--loans", "40", "--seed", "3", "--out",
                                   str(tape))
    refused = run("loans", "import", str(tape))
    assert "40 rows: 0 new, 0 updated, 40 refused" in refused
    assert "row 1: dealer_id: unknown dealer" in refused
    book = pd.read_csv(tape, dtype=str, keep_default_na=False)
    book.loc[4, "outstanding_balance"] = "-1"
    book.to_csv(tape, index=False, encoding="gbk")  # as Excel saves it in a Chinese locale
    imported = run("loans", "import", str(tape), "--add-unknown-dealers")
    assert "40 rows: 39 new, 0 updated, 1 refused" in imported
    assert "row 5: outstanding_balance: cannot be negative" in imported
    active = book.drop(index=4).query("status == 'active'")
    out = tmp_path / "results"
    first = run("monitor", "run", "--as-of", "2026-06-30", "--output", str(out))
    graded = [line for line in first.splitlines() if line.startswith("  grade ")]
    loans = sum(int(line.split(": ")[1].split(" loans")[0]) for line in graded)
    assert loans == len(active) and f"{len(active):,} loans graded, 0 could not" in first
    results = pd.read_parquet(next(out.glob("monitoring-2026-06-30-*.parquet")))
    assert sorted(results["loan_id"]) == sorted(active["loan_id"])
    in_alert = int((results["grade"] >= 2).sum())
    assert f"alerts: {in_alert:,} raised, 0 changed, 0 kept, 0 cleared" in first
    back = run("monitor", "run", "--as-of", "2026-01-31")
    assert "(a later date) set them" in back
    assert "as_of lies in the future" in run("monitor", "run", "--as-of", "2999-01-01",
                                             code=1)
