"""Dataset adapters: the real datasets of ../shared/data into canonical records.

Each adapter returns (frame, notes): a canonical DataFrame and counts of what it dropped
or assumed, which the CLI prints. Read each dataset's SOURCE.md for the facts used here.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

KM_PER_MILE = 1.609344
L100KM_PER_UK_MPG = 282.481  # litres/100 km = 282.481 / miles per imperial gallon
WAN = 10_000  # 万

Notes = dict[str, int]


def _files(src: Path, pattern: str) -> list[Path]:
    if src.is_dir():
        files = sorted(src.glob(pattern))
        if not files:
            raise DataError(f"no {pattern} files in {src}")
        return files
    if not src.exists():
        raise DataError(f"{src} does not exist")
    return [src]


def _require(df: pd.DataFrame, columns: set[str], src: Path) -> None:
    missing = columns - set(df.columns)
    if missing:
        raise DataError(f"{src}: not the expected dataset, missing columns {sorted(missing)}")


def _drop_duplicates(df: pd.DataFrame, notes: Notes, subset: list[str] | None = None) -> pd.DataFrame:
    before = len(df)
    df = df.drop_duplicates(subset=subset)
    notes["exact duplicates dropped"] = before - len(df)
    return df


# UK 100k listings (Kaggle adityadesai13): one file per brand, prices GBP, mileage miles.
UK_BRANDS = {"audi": "Audi", "bmw": "BMW", "ford": "Ford", "hyundi": "Hyundai",
             "merc": "Mercedes-Benz", "skoda": "Skoda", "toyota": "Toyota",
             "vauxhall": "Vauxhall", "vw": "Volkswagen"}
UK_FUEL = {"Petrol": "petrol", "Diesel": "diesel", "Hybrid": "hev", "Electric": "bev",
           "Other": "other"}
UK_GEARBOX = {"Manual": "manual", "Automatic": "automatic", "Semi-Auto": "automatic",
              "Other": "other"}
# SOURCE.md: a single scrape of about 2020 with no listing date; its newest cars are from 2020.
UK_SNAPSHOT_DATE = "2020-12-31"


def convert_uk(src: Path) -> tuple[pd.DataFrame, Notes]:
    """UK brand files -> canonical. Brand = file name; duplicates dropped before any split."""
    notes: Notes = {}
    frames = []
    for path in _files(src, "*.csv"):
        if path.stem not in UK_BRANDS:
            notes[f"skipped file {path.name}"] = 1
            continue
        df = pd.read_csv(path)
        _require(df, {"model", "year", "price", "transmission", "mileage", "fuelType",
                      "engineSize", "mpg"}, path)
        frames.append(df.assign(_brand=UK_BRANDS[path.stem]))
    if not frames:
        raise DataError(f"{src}: no UK brand files ({', '.join(f'{b}.csv' for b in UK_BRANDS)})")
    raw = _drop_duplicates(pd.concat(frames, ignore_index=True), notes)
    engine = raw["engineSize"].where(raw["engineSize"] > 0)
    out = pd.DataFrame({
        "brand": raw["_brand"],
        "series": raw["model"].astype(str).str.strip(),
        "energy_type": raw["fuelType"].map(UK_FUEL).fillna("other"),
        "transmission": raw["transmission"].map(UK_GEARBOX).fillna("other"),
        "displacement_l": engine,
        # official combined figure; plug-in hybrids' test figures (> 200 mpg) are kept as such
        # (under 5.65 mpg, i.e. over 50 L/100 km, is an entry error and left blank)
        "fuel_consumption_l100km": (L100KM_PER_UK_MPG / raw["mpg"].where(raw["mpg"] >= 5.65)
                                    ).round(2),
        "first_registration": raw["year"].astype(str),
        "valuation_date": UK_SNAPSHOT_DATE,
        "mileage_km": (raw["mileage"] * KM_PER_MILE).round(0),
        "region": "UK",
        "price": raw["price"].astype(float),
    })
    return out.reset_index(drop=True), notes


# MathorCup 2021 (China O2O retail transactions): 万元 prices, 万公里 mileage, ids anonymised.
MATHORCUP_COLUMNS = {"carid", "tradeTime", "brand", "serial", "model", "mileage", "color",
                     "cityId", "transferCount", "registerDate", "modelyear", "displacement",
                     "oiltype", "newprice", "price", "seatings", "anonymousFeature12"}
# SOURCE.md: one price of 109,000 万元 is an entry error; no other price reaches 1,000 万元.
MATHORCUP_MAX_PRICE_WAN = 1_000


def _code(prefix: str, col: pd.Series) -> pd.Series:
    return col.map(lambda v: f"{prefix}{int(v)}" if pd.notna(v) else None)


def convert_mathorcup(src: Path) -> tuple[pd.DataFrame, Notes]:
    """MathorCup estimation file -> canonical CNY. The oiltype code mapping is not published:
    code 1 (97 % of rows) is taken as petrol, every other code as `other`. `seatings` gives
    the seats and `anonymousFeature12` the body dimensions, "length*width*height" in mm
    (SOURCE.md); the other anonymised codes (gearbox, maketype, ...) have no published
    meaning and are not used."""
    notes: Notes = {}
    path = _files(src, "estimation_train*.csv")[0]
    raw = pd.read_csv(path)
    _require(raw, MATHORCUP_COLUMNS, path)
    raw = _drop_duplicates(raw, notes, subset=["carid"])
    bad = raw["price"] >= MATHORCUP_MAX_PRICE_WAN
    notes["price entry errors dropped (>= 1,000 万元)"] = int(bad.sum())
    raw = raw[~bad]
    dims = raw["anonymousFeature12"].astype(str).str.extract(r"^(\d+)\*(\d+)\*(\d+)$").astype(float)
    out = pd.DataFrame({
        "brand": _code("b", raw["brand"]),
        "series": _code("s", raw["serial"]),
        "variant": _code("m", raw["model"]),
        "model_year": raw["modelyear"],
        "energy_type": np.where(raw["oiltype"] == 1, "petrol", "other"),
        "displacement_l": raw["displacement"],
        "seats": raw["seatings"],
        "length_mm": dims[0], "width_mm": dims[1], "height_mm": dims[2],
        "new_price": raw["newprice"] * WAN,
        "first_registration": raw["registerDate"],
        "valuation_date": raw["tradeTime"],
        "mileage_km": (raw["mileage"] * WAN).round(0),
        "transfer_count": raw["transferCount"],
        "region": _code("city", raw["cityId"]),
        "color": _code("colour", raw["color"]),
        "price": (raw["price"] * WAN).round(0),
    })
    return out.reset_index(drop=True), notes


# Tesla US used inventory, one row per VIN (first listing), USD, miles.
TESLA_BODY = {"Model S": "sedan", "Model 3": "sedan", "Model X": "suv", "Model Y": "suv"}
# Pack size for 3/Y from the range variant (Tesla's published usable capacities, rounded).
TESLA_RANGE_PACK = (("standard range plus", 54.0), ("standard range", 50.0), ("mid range", 62.0),
                    ("long range", 75.0), ("performance", 75.0))
TESLA_HISTORY = {"CLEAN": "none", "PREVIOUS ACCIDENT(S)": "minor"}


def _tesla_pack(drivetrain: str) -> float:
    text = str(drivetrain).lower()
    match = re.search(r"(\d{2,3})\s*kwh", text)
    if match:
        return float(match.group(1))
    for key, kwh in TESLA_RANGE_PACK:
        if key in text:
            return kwh
    return float("nan")


def convert_tesla(src: Path) -> tuple[pd.DataFrame, Notes]:
    """Tesla first-listing-per-VIN file -> canonical USD. A previous accident of unknown
    severity is `minor`; rows with an odometer issue are dropped (mileage unreliable)."""
    notes: Notes = {}
    path = _files(src, "tesla_used_first_listing_per_vin.csv")[0]
    raw = pd.read_csv(path)
    _require(raw, {"VIN", "first_price", "Model", "Year", "Drivetrain", "Mileage", "Location",
                   "History", "first_seen", "Exterior Color"}, path)
    raw = _drop_duplicates(raw, notes, subset=["VIN"])
    odometer = ~raw["History"].isin(list(TESLA_HISTORY))
    notes["odometer issue or unknown history dropped"] = int(odometer.sum())
    raw = raw[~odometer]
    out = pd.DataFrame({
        "brand": "Tesla",
        "series": raw["Model"],
        "variant": raw["Drivetrain"],
        "model_year": raw["Year"],
        "body_type": raw["Model"].map(TESLA_BODY).fillna("other"),
        "energy_type": "bev",
        "transmission": "automatic",
        "battery_kwh": raw["Drivetrain"].map(_tesla_pack),
        # Mid-year for a year-only date, but never after the listing (a 2021 car listed in January).
        "first_registration": np.minimum(raw["Year"].astype(str) + "-07-01", raw["first_seen"]),
        "valuation_date": raw["first_seen"],
        "mileage_km": (raw["Mileage"] * KM_PER_MILE).round(0),
        "accident": raw["History"].map(TESLA_HISTORY),
        "region": raw["Location"].astype(str).str.split(",").str[-1].str.strip(),
        "color": raw["Exterior Color"],
        "price": raw["first_price"].astype(float),
    })
    return out.reset_index(drop=True), notes


# Australian listings 2024 (drive.com.au merged file), AUD. The MSRP join is unreliable: Price only.
AU_FUEL = {"Electric": "bev", "Hybrid": "hev", "Petrol": "petrol", "Diesel": "diesel"}
AU_BODY = {"SUV": "suv", "SEDAN": "sedan", "HATCH": "hatchback", "HATCHBACK": "hatchback",
           "UTE": "pickup", "WAGON": "wagon", "COUPE": "coupe", "CONVERTIBLE": "convertible",
           "VAN": "van", "PEOPLE MOVER": "mpv", "CAB CHASSIS": "truck"}
# A price this many times its make/model/year median is an entry error (e.g. 299,990 for 29,999).
AU_OUTLIER_RATIO = 3.0


def convert_au(src: Path) -> tuple[pd.DataFrame, Notes]:
    """AU merged listings -> canonical AUD; duplicates and price entry errors dropped."""
    notes: Notes = {}
    path = _files(src, "merged_data*.csv")[0]
    raw = pd.read_csv(path)
    _require(raw, {"Year", "Make", "Model", "Price", "Mileage", "Location", "Fuel Type",
                   "Car Type", "Scraping Time", "Car Build"}, path)
    raw = _drop_duplicates(raw, notes, subset=[c for c in raw.columns if c != "Scraping Time"])
    group = raw.groupby(["Make", "Model", "Year"])["Price"]
    median, size = group.transform("median"), group.transform("size")
    outlier = (size >= 3) & ((raw["Price"] > AU_OUTLIER_RATIO * median)
                             | (raw["Price"] < median / AU_OUTLIER_RATIO))
    notes[f"price outliers dropped (> {AU_OUTLIER_RATIO:g}x or < 1/{AU_OUTLIER_RATIO:g} "
          "of make/model/year median)"] = int(outlier.sum())
    raw = raw[~outlier]
    car_type = raw["Car Type"].astype(str)
    litres = pd.to_numeric(car_type.str.extract(r"(\d+(?:\.\d+)?)L", expand=False), errors="coerce")
    drive = car_type.str.extract(r"\b(AWD|4WD|FWD|RWD)\b", expand=False)
    out = pd.DataFrame({
        "brand": raw["Make"],
        "series": raw["Model"],
        "variant": drive,
        "model_year": raw["Year"],
        "body_type": raw["Car Build"].astype(str).str.upper().map(AU_BODY).fillna("other"),
        "energy_type": raw["Fuel Type"].map(AU_FUEL).fillna("other"),
        "displacement_l": litres,
        "first_registration": raw["Year"].astype(str),
        "valuation_date": pd.to_datetime(raw["Scraping Time"], unit="s").dt.strftime("%Y-%m-%d"),
        "mileage_km": raw["Mileage"],
        "region": raw["Location"],
        "price": raw["Price"].astype(float),
    })
    return out.reset_index(drop=True), notes


ADAPTERS: dict[str, Callable[[Path], tuple[pd.DataFrame, Notes]]] = {
    "uk": convert_uk,
    "mathorcup": convert_mathorcup,
    "tesla": convert_tesla,
    "au": convert_au,
}


def convert(adapter: str, src: Path) -> tuple[pd.DataFrame, Notes]:
    """Run one adapter by name."""
    if adapter not in ADAPTERS:
        raise DataError(f"unknown adapter {adapter!r}; choose from {', '.join(ADAPTERS)}")
    return ADAPTERS[adapter](Path(src))
