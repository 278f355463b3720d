"""The loan book: a tape imported and upserted by loan_id; bad rows reported by row and
field, good rows kept; money kept to the fen."""
from __future__ import annotations

import datetime as dt
import io
import json

import pandas as pd
import pytest
from sqlalchemy import func, select

from valuation.errors import DataError
from valuation.services import demo_loans, loans
from valuation.store.tables import LoanRecord

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def sessions(app, demo_dealers):
    return app.extensions["db_sessions"]


def tape(n: int = 30) -> pd.DataFrame:
    return demo_loans.generate(n, seed=4, as_of=AS_OF).astype(str).replace({"nan": ""})


def as_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return loans.read_tape(frame.to_csv(index=False).encode(), "tape.csv")


def count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(LoanRecord))


def test_a_tape_is_imported_then_upserted(sessions, trained) -> None:
    book = tape()
    first = loans.import_tape(sessions, trained, as_frame(book))
    assert (first["inserted"], first["updated"], first["failed"], first["errors"]) == (
        30, 0, 0, [])
    with sessions() as session:
        before = session.get(LoanRecord, book.loan_id[0])
        funded = (before.funded_value, before.funded_lending, before.funded_vehicle_json)
        assert before.principal_fen == round(float(book.principal[0]) * 100)
        assert 0 < before.funded_lending <= before.funded_value
    book.loc[0, "outstanding_balance"] = "12345.67"
    book.loc[0, "days_past_due"] = "12"
    again = loans.import_tape(sessions, trained, as_frame(book))
    assert (again["inserted"], again["updated"], again["failed"]) == (0, 30, 0)
    assert count(sessions) == 30
    with sessions() as session:
        shown = loans.get(session, book.loan_id[0])
        after = session.get(LoanRecord, book.loan_id[0])
    assert shown["outstanding_balance"] == "12345.67" and shown["days_past_due"] == 12
    assert after.balance_fen == 1_234_567
    assert (after.funded_value, after.funded_lending, after.funded_vehicle_json) == funded


def test_a_tapes_car_is_stored_with_typed_numbers_and_flags_and_its_date_as_given(
        sessions, trained) -> None:
    book = tape(1)
    book.loc[0, ["first_registration", "mileage_km", "model_year", "flood_damage", "color"]] = [
        "2023-05", "41000", "2023", "false", ""]
    assert loans.import_tape(sessions, trained, as_frame(book))["failed"] == 0
    with sessions() as session:
        car = json.loads(session.get(LoanRecord, book.loan_id[0]).vehicle_json)
    assert car["first_registration"] == "2023-05"  # the precision given
    assert (car["mileage_km"], car["model_year"], car["flood_damage"]) == (41_000.0, 2023, False)
    assert isinstance(car["model_year"], int) and "color" not in car  # an empty cell: not given
    assert car["brand"] == book.brand[0]


def test_bad_rows_are_reported_by_row_and_field_and_good_rows_kept(sessions, trained) -> None:
    book = tape(10)
    book.loc[1, "dealer_id"] = "NOBODY"
    book.loc[2, "outstanding_balance"] = "-5.00"
    book.loc[3, "funded_at"] = "2999-01-01"
    book.loc[4, "brand"] = ""
    book.loc[5, "loan_id"] = book.loan_id[0]
    book.loc[6, "odometer_km"], book.loc[6, "odometer_date"] = "70000", ""
    book.loc[7, "principal"] = "100.005"
    book.loc[8, "status"] = "sold"
    book.loc[8, "term_months"] = "0"  # a second error on the same row: still one failed row
    report = loans.import_tape(sessions, trained, as_frame(book))
    got = {(e["row"], e["field"]) for e in report["errors"]}
    assert got == {(2, "dealer_id"), (3, "outstanding_balance"), (4, "funded_at"),
                   (5, "vehicle"), (6, "loan_id"), (7, "odometer_date"), (8, "principal"),
                   (9, "status"), (9, "term_months")}
    assert (report["inserted"], report["failed"]) == (2, 8)
    assert count(sessions) == 2  # rows 1 and 10: nothing half-written
    messages = {e["field"]: e["message"] for e in report["errors"]}
    assert messages["outstanding_balance"] == "cannot be negative"
    assert messages["funded_at"] == "lies in the future"
    assert messages["principal"] == "at most 2 decimals"
    assert "missing brand" in messages["vehicle"]


def test_each_bad_value_gets_a_message_a_person_can_act_on(sessions, trained) -> None:
    book = tape(7)
    book.loc[0, "principal"] = "1e400"  # a number, beyond any loan
    book.loc[1, "principal"] = "abc"
    book.loc[2, "outstanding_balance"] = "NaN"
    book.loc[3, "term_months"] = "twelve"
    book.loc[4, "balance_date"] = "30/06/2026"
    book.loc[5, "annual_rate"] = "1e400"
    report = loans.import_tape(sessions, trained, as_frame(book))
    assert report["errors"] == [  # in row order
        {"row": 1, "field": "principal", "message": "at most 1,000,000,000"},
        {"row": 2, "field": "principal", "message": "not a number"},
        {"row": 3, "field": "outstanding_balance", "message": "not a number"},
        {"row": 4, "field": "term_months", "message": "not valid"},
        {"row": 5, "field": "balance_date", "message": "not valid"},
        {"row": 6, "field": "annual_rate",
         "message": "a yearly rate between 0 and 1 with at most 4 decimals"}]
    assert (report["inserted"], report["failed"]) == (1, 6)


def test_a_tape_without_its_columns_is_refused_whole() -> None:
    with pytest.raises(DataError, match="lacks the columns principal, status"):
        loans.read_tape(tape(3).drop(columns=["principal", "status"]).to_csv(index=False)
                        .encode(), "tape.csv")
    with pytest.raises(DataError, match="unreadable"):
        loans.read_tape(b"\x00\x01garbage", "tape.parquet")


def test_a_tape_saved_by_excel_in_gbk_reads_as_its_utf8_copy() -> None:
    text = tape(5).to_csv(index=False)
    assert any(ord(c) > 127 for c in text)  # brands and cities in Chinese
    utf8 = loans.read_tape(text.encode(), "tape.csv")
    assert loans.read_tape(text.encode("gbk"), "tape.csv").equals(utf8)
    assert loans.read_tape(b"\xef\xbb\xbf" + text.encode(), "tape.csv").equals(utf8)
    with pytest.raises(DataError, match="tape.csv: neither UTF-8 .* save it as CSV UTF-8"):
        loans.read_tape(tape(5).assign(brand="Citroën").to_csv(index=False)
                        .encode("latin-1", "replace"), "tape.csv")


def test_parquet_reads_as_csv_does(tmp_path) -> None:
    book = demo_loans.generate(20, seed=4, as_of=AS_OF)
    buffer = io.BytesIO()
    book.to_parquet(buffer, index=False)
    from_parquet = loans.read_tape(buffer.getvalue(), "tape.parquet")
    assert list(from_parquet.loan_id) == list(book.loan_id)
    assert list(from_parquet.principal) == list(book.principal)
    assert list(from_parquet.funded_at) == list(book.funded_at)
