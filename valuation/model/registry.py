"""The on-disk model registry: `<root>/<name>/<version>/{files, card.json}` and `<root>/<name>/CURRENT`.

Versions are integers assigned in order. A version is written into a hidden temporary
folder and renamed into place only when complete, so a crash never leaves a
half-written version; CURRENT is replaced atomically. Loading checks the card against
the feature contract and the files against the hashes in the card.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelMismatch, ModelNotFound, ValuationError
from . import features

CARD = "card.json"
CURRENT = "CURRENT"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'name' or 'name:version' -> (name, version or None)."""
    name, _, version = spec.partition(":")
    if not NAME_RE.match(name):
        raise ValuationError(f"invalid model name {name!r}")
    return name, (version or None)


def check_card(card: dict[str, Any]) -> None:
    """Refuse a card that does not match this code's feature contract."""
    if card.get("contract_version") != features.CONTRACT_VERSION:
        raise ModelMismatch(
            f"model {card.get('name')}:{card.get('version')} was built for feature contract "
            f"{card.get('contract_version')!r}, this code serves {features.CONTRACT_VERSION!r}; "
            "retrain it")
    if tuple(card.get("features", ())) != features.FEATURES:
        expected, got = set(features.FEATURES), set(card.get("features", ()))
        raise ModelMismatch(
            f"model {card.get('name')}:{card.get('version')} features differ from the contract: "
            f"missing {sorted(expected - got)}, unknown {sorted(got - expected)}"
            + ("" if expected != got else ", or in another order"))


class Registry:
    """A folder of named, versioned model artifacts."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and NAME_RE.match(p.name) and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir()
                 if p.is_dir() and p.name.isdigit() and (p / CARD).is_file()]
        return sorted(found, key=int)

    def current(self, name: str) -> str | None:
        pointer = self.root / name / CURRENT
        if not pointer.is_file():
            return None
        version = pointer.read_text().strip()
        return version or None

    def resolve(self, spec: str) -> tuple[str, str]:
        """Name and version for 'name[:version]'; without a version, the CURRENT one."""
        name, version = parse_spec(spec)
        if version is None:
            version = self.current(name)
            if version is None:
                raise ModelNotFound(f"model {name!r} has no CURRENT version; "
                                    f"promote one with `valuation models promote {name}:VERSION`")
        if version not in self.versions(name):
            raise ModelNotFound(f"model {name}:{version} is not in the registry")
        return name, version

    def path(self, name: str, version: str) -> Path:
        return self.root / name / version

    def card(self, name: str, version: str) -> dict[str, Any]:
        return json.loads((self.path(name, version) / CARD).read_text())

    def load(self, spec: str) -> tuple[Path, dict[str, Any]]:
        """Folder and checked card of a model: contract match and file hashes."""
        name, version = self.resolve(spec)
        return self.path(name, version), self.checked_card(name, version)

    def checked_card(self, name: str, version: str) -> dict[str, Any]:
        """The card, after checking it against the feature contract and every file against
        its hash in the card (ModelMismatch otherwise)."""
        folder = self.path(name, version)
        card = self.card(name, version)
        check_card(card)
        for filename, digest in card.get("files", {}).items():
            target = folder / filename
            if not target.is_file() or file_sha256(target) != digest:
                raise ModelMismatch(f"model {name}:{version}: {filename} is missing or does not "
                                    "match the hash in its card")
        return card

    def save(self, name: str, write: Callable[[Path], None], card: dict[str, Any]) -> str:
        """Write a new version atomically: `write(folder)` puts the files, then the card goes in
        with their hashes, then the folder is renamed into place. Returns the version."""
        parse_spec(name)
        base = self.root / name
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
        try:
            write(tmp)
            card = dict(card, files={p.name: file_sha256(p) for p in sorted(tmp.iterdir())})
            while True:
                version = str(int((self.versions(name) or ["0"])[-1]) + 1)
                card.update(name=name, version=version)
                (tmp / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False,
                                                   sort_keys=True))
                try:
                    os.rename(tmp, base / version)  # fails if another writer took the number
                    return version
                except OSError:
                    if not (base / version).exists():
                        raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def promote(self, name: str, version: str) -> None:
        """Make a version CURRENT (atomic replace of the pointer file)."""
        if version not in self.versions(name):
            raise ModelNotFound(f"model {name}:{version} is not in the registry")
        self.checked_card(name, version)  # a tampered or incomplete version is never CURRENT
        pointer = self.root / name / CURRENT
        tmp = pointer.with_name(f".{CURRENT}.tmp")
        tmp.write_text(version + "\n")
        os.replace(tmp, pointer)
