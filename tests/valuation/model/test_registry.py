"""The model registry: atomic versions, CURRENT, load checks."""
import json
from pathlib import Path

import pytest

from valuation.errors import ModelMismatch, ModelNotFound, ValuationError
from valuation.model import features
from valuation.model.registry import Registry, check_card

CARD = {"contract_version": features.CONTRACT_VERSION, "features": list(features.FEATURES)}


def write_file(folder: Path) -> None:
    (folder / "model.bin").write_bytes(b"weights")


def test_versions_are_numbered_in_order_and_promoted(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    assert reg.save("m", write_file, CARD) == "1"
    assert reg.save("m", write_file, CARD) == "2"
    assert reg.versions("m") == ["1", "2"] and reg.names() == ["m"]
    assert reg.current("m") is None
    with pytest.raises(ModelNotFound, match="no CURRENT"):
        reg.resolve("m")
    reg.promote("m", "1")
    assert (tmp_path / "m" / "CURRENT").read_text() == "1\n"
    assert reg.resolve("m") == ("m", "1") and reg.resolve("m:2") == ("m", "2")
    card = reg.card("m", "2")
    assert card["name"] == "m" and card["version"] == "2"
    assert set(card["files"]) == {"model.bin"}


def test_a_failed_write_leaves_no_version_and_no_temporary_folder(tmp_path: Path) -> None:
    reg = Registry(tmp_path)

    def crash(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        reg.save("m", crash, CARD)
    assert reg.versions("m") == []
    assert list((tmp_path / "m").iterdir()) == []


def test_a_folder_without_card_is_not_a_version(tmp_path: Path) -> None:
    (tmp_path / "m" / "7").mkdir(parents=True)
    assert Registry(tmp_path).versions("m") == []


def test_load_refuses_a_contract_mismatch(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    reg.save("old", write_file, dict(CARD, contract_version="0"))
    reg.save("cols", write_file, dict(CARD, features=list(features.FEATURES)[:-1] + ["colour"]))
    with pytest.raises(ModelMismatch, match="feature contract '0'"):
        reg.load("old:1")
    with pytest.raises(ModelMismatch, match=r"missing \['valuation_month'\], unknown \['colour'\]"):
        reg.load("cols:1")
    with pytest.raises(ModelMismatch):
        reg.promote("old", "1")


def test_load_refuses_a_tampered_file(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    reg.save("m", write_file, CARD)
    folder, card = reg.load("m:1")
    assert card["version"] == "1"
    (folder / "model.bin").write_bytes(b"other weights")
    with pytest.raises(ModelMismatch, match="does not match the hash"):
        reg.load("m:1")


def test_promote_refuses_a_version_whose_files_do_not_match_their_hashes(tmp_path: Path
                                                                          ) -> None:
    reg = Registry(tmp_path)
    reg.save("m", write_file, CARD)
    reg.save("m", write_file, CARD)
    reg.promote("m", "1")
    (reg.path("m", "2") / "model.bin").write_bytes(b"other weights")
    with pytest.raises(ModelMismatch, match="model.bin is missing or does not match the hash"):
        reg.promote("m", "2")
    (reg.path("m", "2") / "model.bin").unlink()
    with pytest.raises(ModelMismatch, match="model.bin is missing"):
        reg.promote("m", "2")
    assert reg.current("m") == "1"  # the refused version never became CURRENT


def test_unknown_and_invalid_names(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    with pytest.raises(ModelNotFound):
        reg.resolve("ghost:1")
    with pytest.raises(ValuationError, match="invalid model name"):
        reg.resolve("../etc")
    with pytest.raises(ModelNotFound):
        reg.promote("ghost", "1")


def test_check_card_accepts_the_contract() -> None:
    check_card(json.loads(json.dumps(CARD)))
