"""The text a valuation is stored and answered as (`valuations.json_text`): compact JSON with
non-ASCII characters as they are, written by orjson, or by `json.dumps` for what orjson
refuses."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from valuation.services import valuations


def test_a_body_is_written_as_compact_json_with_its_characters_as_they_are() -> None:
    body = {"id": "a1", "value": {"retail": 101234, "low": 95000}, "confidence": {
        "score": 0.835, "level": "high", "reasons": []}, "warnings": ["flood-damaged (泡水)"],
        "vin": None, "ok": True, "residuals": [{"months": 12, "value": 88000}]}
    assert valuations.json_text(body) == (
        '{"id":"a1","value":{"retail":101234,"low":95000},"confidence":{"score":0.835,'
        '"level":"high","reasons":[]},"warnings":["flood-damaged (泡水)"],"vin":null,'
        '"ok":true,"residuals":[{"months":12,"value":88000}]}')


def test_a_request_is_written_in_its_own_key_order_and_reads_back_equal() -> None:
    request = {"brand": "丰田", "series": "卡罗拉", "displacement_l": 1.8, "power_kw": 72.0,
               "first_registration": "2017-01", "transfer_count": 2, "flood_damage": False}
    text = valuations.json_text(request)
    assert text.startswith('{"brand":"丰田","series":"卡罗拉","displacement_l":1.8,"power_kw":72.0,')
    assert json.loads(text) == request


def test_what_orjson_refuses_is_written_by_json_dumps() -> None:
    # an integer beyond 64 bits, a Decimal and a date: orjson raises TypeError on the first two
    big = {"mileage_km": 2**70, "rate": Decimal("0.05"), "day": dt.date(2026, 12, 1)}
    assert valuations.json_text(big) == (
        '{"mileage_km":1180591620717411303424,"rate":"0.05","day":"2026-12-01"}')
