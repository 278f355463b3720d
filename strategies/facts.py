"""The vehicle facts a decision rests on, derived from the car rather than taken on trust, and
the regulatory LTV cap they imply (China, 2024 notice on auto loans; fixed in code).

- New: only when the application says so *and* the car was registered at most
  `NEW_CAR_MAX_DAYS` before the decision with at most `NEW_CAR_MAX_KM` on the odometer;
  otherwise the car is used, whatever was asserted.
- Commercial: commercial or ride-hailing use; a car whose usage is not given takes the
  commercial (stricter) treatment.
- The cap is the strictest that applies: used 70 % (on min(price, appraisal)), commercial
  conventional 70 %, commercial NEV 75 %; self-use new cars have none (the lender decides).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

NEV = frozenset({"bev", "phev", "erev", "fcev"})
COMMERCIAL = frozenset({"commercial", "ride_hailing"})
NEW_CAR_MAX_DAYS = 90
NEW_CAR_MAX_KM = 1_000

NO_CAP = Decimal("1.00")
USED_CAP = Decimal("0.70")
COMMERCIAL_ICE_CAP = Decimal("0.70")
COMMERCIAL_NEV_CAP = Decimal("0.75")


class Facts(NamedTuple):
    """What the decision treats as true, and where it departed from what was asserted."""

    is_new: bool
    commercial: bool
    nev: bool
    new_claim_rejected: bool  # asserted new, but registered too long ago or driven too far
    usage_unknown: bool  # no usage given: treated as commercial

    @property
    def segment(self) -> str:
        kind = "nev" if self.nev else "ice"
        if self.commercial:
            return f"commercial_{kind}"
        return f"{'new' if self.is_new else 'used'}_{kind}"

    @property
    def regulatory_cap(self) -> Decimal:
        return CAPS[(self.is_new, self.commercial, self.nev)]


def is_plausibly_new(first_registration: dt.date, mileage_km: float, on: dt.date) -> bool:
    return (on - first_registration).days <= NEW_CAR_MAX_DAYS and mileage_km <= NEW_CAR_MAX_KM


def vehicle_facts(asserted_new: bool, energy_type: str, usage: str | None,
                  first_registration: dt.date, mileage_km: float, on: dt.date) -> Facts:
    plausible = is_plausibly_new(first_registration, mileage_km, on)
    return Facts(is_new=asserted_new and plausible, commercial=usage is None or usage in COMMERCIAL,
                 nev=energy_type in NEV, new_claim_rejected=asserted_new and not plausible,
                 usage_unknown=usage is None)


def regulatory_cap(is_new: bool, commercial: bool, nev: bool) -> Decimal:
    """The strictest regulatory LTV cap that applies to a car with these facts."""
    caps = [NO_CAP]
    if not is_new:
        caps.append(USED_CAP)
    if commercial:
        caps.append(COMMERCIAL_NEV_CAP if nev else COMMERCIAL_ICE_CAP)
    return min(caps)


def _segment_cap(segment: str) -> Decimal:
    """The strictest cap of any car a segment can hold (a commercial segment holds new and
    used cars): no LTV cell of a strategy may exceed it."""
    kind, _, energy = segment.rpartition("_")
    nev = energy == "nev"
    if kind == "commercial":
        return min(regulatory_cap(new, True, nev) for new in (True, False))
    return regulatory_cap(kind == "new", False, nev)


CAPS: dict[tuple[bool, bool, bool], Decimal] = {
    (new, commercial, nev): regulatory_cap(new, commercial, nev)
    for new in (True, False) for commercial in (True, False) for nev in (True, False)}
SEGMENTS = ("new_ice", "new_nev", "used_ice", "used_nev", "commercial_ice", "commercial_nev")
SEGMENT_CAP: dict[str, Decimal] = {segment: _segment_cap(segment) for segment in SEGMENTS}
