"""The Chinese catalogue: every string the console marks for translation has a translation, no
translation is left over, and the compiled .mo is the .po's (so a deploy never serves a stale
catalogue)."""
from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

CONSOLE = Path(__file__).resolve().parents[3] / "valuation" / "console"
PO = CONSOLE / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def used_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(CONSOLE, METHODS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_console_string_has_a_chinese_translation() -> None:
    catalogue = read_po(PO.open("rb"))
    translated = {m.id: m.string for m in catalogue if m.id}
    used = used_messages()
    assert len(used) > 150  # the extraction saw the templates and the views
    assert sorted(used - set(translated)) == [], "run the extraction and translate"
    assert sorted(k for k, v in translated.items() if not v) == []
    assert sorted(set(translated) - used) == [], "translations of strings no longer used"


def test_the_compiled_catalogue_is_up_to_date() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, read_po(PO.open("rb")))
    assert PO.with_suffix(".mo").read_bytes() == compiled.getvalue(), \
        "pybabel compile -d valuation/console/translations"
