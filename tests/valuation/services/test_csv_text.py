"""Uploaded CSV text: UTF-8 (with or without Excel's byte-order mark) or GBK of common
characters, read the same; anything else refused, never read garbled."""
from __future__ import annotations

import pytest

from valuation.services import csv_text

TEXT = "brand,series,region\n比亚迪,汉,上海\n丰田,凯美瑞,广州\n"


@pytest.mark.parametrize("data", [TEXT.encode("utf-8"), b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
                                  TEXT.encode("gbk"), TEXT.encode("gb18030")],
                         ids=["utf-8", "utf-8 with BOM", "gbk", "gb18030"])
def test_utf8_and_gbk_files_read_the_same(data: bytes) -> None:
    assert csv_text.decode(data) == TEXT
    frame = csv_text.text_frame(data)
    assert list(frame.columns) == ["brand", "series", "region"]
    assert frame.to_dict("records") == [
        {"brand": "比亚迪", "series": "汉", "region": "上海"},
        {"brand": "丰田", "series": "凯美瑞", "region": "广州"}]


@pytest.mark.parametrize("data", [
    "brand\nCitroën\n".encode("latin-1"),  # 0xEB 0x6E is a character of GBK's rarer area
    "variant\n荣威 瑧选\n".encode("gbk"),  # 瑧 is not one of GB2312's common characters
    "brand\n比亚迪\n".encode("utf-16"), b"SQLite format 3\x00\x10\x00\x01\x01\x00@  \xff\xfe\x00"],
    ids=["latin-1", "gbk with a rare character", "utf-16", "binary"])
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="save it as CSV UTF-8"):
        csv_text.text_frame(data)
