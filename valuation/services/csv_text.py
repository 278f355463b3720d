"""Uploaded CSV files (loan tapes, valuation batches, applications, `valuation predict`): decoded
one way everywhere and read as text columns ('' for empty).

Lenders and dealers in China export CSV from Excel, which writes GBK text in a Chinese locale
and UTF-8 with a byte-order mark for "CSV UTF-8". Bytes that are valid UTF-8 are read as UTF-8
(the mark dropped). Other bytes are read as GBK only when every Chinese character in them is one
of GB2312's 6,763 common characters (both bytes of each from 0xA1 up: EUC-CN), because GBK's
rarer areas also decode the text of other encodings (Latin-1's "Citroën" reads as "Citro" and
a Chinese character). A file in neither is refused, not read garbled: save it as CSV UTF-8.
"""
from __future__ import annotations

import io

import pandas as pd

ENCODINGS = ("utf-8-sig", "gb2312")
NOT_TEXT = ("neither UTF-8 text nor GBK text of common characters (GB2312): save it as "
            "CSV UTF-8")


def decode(data: bytes) -> str:
    """The text of an uploaded file; ValueError when it is in neither encoding."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError(NOT_TEXT)


def text_frame(data: bytes) -> pd.DataFrame:
    """The CSV `data` as text columns; ValueError (or pandas' ParserError, a ValueError too)
    when it is not CSV text."""
    return pd.read_csv(io.StringIO(decode(data)), dtype=str, keep_default_na=False)
