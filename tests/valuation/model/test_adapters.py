"""Dataset adapters: unit conversions, deduplication, parsing; and the real files when present."""
from pathlib import Path

import pandas as pd
import pytest

from valuation.errors import DataError
from valuation.model import adapters
from valuation.model.record import validate_frame

UK_HEADER = "model,year,price,transmission,mileage,fuelType,tax,mpg,engineSize\n"


def test_uk_converts_miles_and_dedupes(tmp_path: Path) -> None:
    (tmp_path / "ford.csv").write_text(
        UK_HEADER
        + " Fiesta,2017,12000,Manual,10000,Petrol,150,55.4,1.0\n"
        + " Fiesta,2017,12000,Manual,10000,Petrol,150,55.4,1.0\n"  # exact duplicate
        + " Mondeo,2019,21000,Semi-Auto,5000,Hybrid,0,67.3,2.0\n")
    (tmp_path / "hyundi.csv").write_text(UK_HEADER + " Ioniq,2019,20000,Automatic,100,Electric,0,0,0\n")
    frame, notes = adapters.convert_uk(tmp_path)
    assert notes["exact duplicates dropped"] == 1
    assert len(frame) == 3
    fiesta = frame[frame["series"] == "Fiesta"].iloc[0]
    assert fiesta["brand"] == "Ford"
    assert fiesta["mileage_km"] == 16093  # 10,000 miles
    assert fiesta["first_registration"] == "2017"
    assert fiesta["fuel_consumption_l100km"] == 5.1  # 55.4 mpg (imperial)
    mondeo = frame[frame["series"] == "Mondeo"].iloc[0]
    assert (mondeo["energy_type"], mondeo["transmission"]) == ("hev", "automatic")
    ioniq = frame[frame["series"] == "Ioniq"].iloc[0]
    assert ioniq["brand"] == "Hyundai" and ioniq["energy_type"] == "bev"
    assert pd.isna(ioniq["displacement_l"])  # engineSize 0 means unknown
    assert validate_frame(frame, training=True).valid.all()


MATHORCUP_HEADER = ("carid,tradeTime,brand,serial,model,mileage,color,cityId,carCode,transferCount,"
                    "seatings,registerDate,licenseDate,country,maketype,modelyear,displacement,"
                    "gearbox,oiltype,newprice,anonymousFeature12,price\n")


def test_mathorcup_converts_wan_units_and_drops_entry_errors(tmp_path: Path) -> None:
    path = tmp_path / "estimation_train_30k.csv"
    path.write_text(MATHORCUP_HEADER
                    + "1,2021-06-28,1,1,1,4.01,1,1,1,0,5,2017-12-01,2018-01-26,1,1,2017,1.5,1,1,6.88,"
                    "4220*1740*1625,4.24\n"
                    + "2,2021-06-25,2,2,2,8.6,1,2,1,2,5,2016-12-01,2017-03-21,1,1,2017,1.2,2,2,11.98,"
                    "4630*1775*1480,109000\n"
                    + "3,2021-05-01,2,2,2,1.5,3,2,1,1,7,2019-01-01,2019-03-21,1,1,2019,1.2,2,4,11.98,"
                    ",8.5\n")
    frame, notes = adapters.convert_mathorcup(path)
    assert notes["price entry errors dropped (>= 1,000 万元)"] == 1
    first = frame.iloc[0]
    assert first["price"] == 42400      # 4.24 万元
    assert first["new_price"] == 68800  # 6.88 万元
    assert first["mileage_km"] == 40100  # 4.01 万公里
    assert (first["brand"], first["series"], first["variant"]) == ("b1", "s1", "m1")
    assert first["energy_type"] == "petrol"
    assert frame.iloc[1]["energy_type"] == "other"  # oiltype 4: mapping unpublished
    assert frame.iloc[1]["transfer_count"] == 1
    # seats and the body dimensions "length*width*height" (mm) of anonymousFeature12
    assert (first["seats"], first["length_mm"], first["width_mm"], first["height_mm"]) == (
        5, 4220, 1740, 1625)
    assert frame.iloc[1]["seats"] == 7
    assert frame.iloc[1][["length_mm", "width_mm", "height_mm"]].isna().all()  # not given


def test_tesla_reads_pack_size_and_accidents(tmp_path: Path) -> None:
    path = tmp_path / "tesla_used_first_listing_per_vin.csv"
    pd.DataFrame({
        "VIN": ["A", "B", "C", "D"], "first_price": [37200, 45300, 50000, 40000],
        "Model": ["Model S", "Model 3", "Model X", "Model 3"], "Year": [2016, 2021, 2018, 2019],
        "Drivetrain": ["75Kwh", "Standard Range Plus RWD", "100Kwh Performance", "Long Range AWD"],
        "Exterior Color": ["Silver"] * 4, "Mileage": [41896, 100, 30000, 20000],
        "Location": ["Littleton, CO", "Lathrop, CA", "Austin, TX", "Reno, NV"],
        "History": ["CLEAN", "CLEAN", "PREVIOUS ACCIDENT(S)", "ODOMETER ISSUE"],
        "first_seen": ["2020-12-11", "2021-01-05", "2020-12-20", "2020-12-20"],
    }).to_csv(path, index=False)
    frame, notes = adapters.convert_tesla(path)
    assert notes["odometer issue or unknown history dropped"] == 1
    assert frame["battery_kwh"].tolist() == [75.0, 54.0, 100.0]
    assert frame["accident"].tolist() == ["none", "none", "minor"]
    assert frame["body_type"].tolist() == ["sedan", "sedan", "suv"]
    assert frame["region"].tolist() == ["CO", "CA", "TX"]
    assert frame["mileage_km"][0] == 67425
    # a 2021 car listed in January 2021 is registered no later than its listing
    assert frame["first_registration"][1] == "2021-01-05"
    assert validate_frame(frame, training=True).valid.all()


def test_au_drops_price_outliers_and_parses_car_type(tmp_path: Path) -> None:
    path = tmp_path / "merged_data_msrp_retention.csv"
    rows = [[2020, "Nissan", "X-TRAIL", p, 30000, "QLD", "Drive Away", "Petrol", "2.5L SUV FWD",
             1714787251, "Drive", "SUV", 26335, 1.0, 4, "Conventional"]
            for p in (29990, 31000, 299990, 30500)]
    rows.append([2022, "Tesla", "Model Y", 76683, 19464, "ACT", "Drive Away", "Electric",
                 "SUV RWD", 1714183320, "Drive", "SUV", 43415, 1.7, 2, "Electric"])
    pd.DataFrame(rows, columns=["Year", "Make", "Model", "Price", "Mileage", "Location",
                                "Additional", "Fuel Type", "Car Type", "Scraping Time", "Source",
                                "Car Build", "MSRP", "Retention Rate", "Age",
                                "Fuel Type Adjusted"]).to_csv(path, index=False)
    frame, notes = adapters.convert_au(path)
    assert 299990 not in frame["price"].tolist()
    assert len(frame) == 4
    assert frame["displacement_l"][0] == 2.5
    assert frame["variant"][0] == "FWD"
    assert frame["body_type"][0] == "suv"
    assert frame["valuation_date"][0] == "2024-05-04"
    assert frame.iloc[-1]["energy_type"] == "bev"


def test_wrong_file_for_adapter_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tesla_used_first_listing_per_vin.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing columns"):
        adapters.convert_tesla(path)
    with pytest.raises(DataError, match="unknown adapter"):
        adapters.convert("nope", path)


@pytest.mark.realdata
@pytest.mark.parametrize("adapter, folder, rows", [
    ("uk", "uk-used-cars", 99_187 - 1_475),
    ("mathorcup", "cn-mathorcup2021", 29_999),
    ("tesla", "us-tesla-used", 4_643),
    ("au", "au-ev-listings", 2_655),
])
def test_real_datasets_convert(adapter: str, folder: str, rows: int, data_root: Path) -> None:
    src = data_root / folder
    if not src.exists():
        pytest.skip(f"{src} not present")
    frame, _ = adapters.convert(adapter, src)
    assert len(frame) == rows
    checked = validate_frame(frame, training=True)
    assert checked.valid.mean() > 0.99
