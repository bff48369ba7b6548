"""Where the labelled real reports live (read at test time, never copied into the project)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import corpus_root


def labelled_names() -> list[str]:
    labels = corpus_root() / "corpus" / "labels"
    if not labels.is_dir():
        return []
    return sorted(p.name[: -len(".json")] for p in labels.glob("*.json") if not p.name.endswith(".findings.json"))


def document_path(root: Path, name: str) -> Path:
    for folder in (root / "corpus", *(p for p in (root / "corpus").iterdir() if p.is_dir()), root / "seeds"):
        if folder.name == "labels":
            continue
        for candidate in folder.glob(name + ".*"):
            return candidate
    raise FileNotFoundError(name)


def label(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "corpus" / "labels" / f"{name}.json").read_text(encoding="utf-8"))


def expected_findings(root: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((root / "corpus" / "labels" / f"{name}.findings.json").read_text(encoding="utf-8"))


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Every labelled key whose parsed value differs; only the keys present in the label are scored."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {got!r}"]
        out: list[str] = []
        for key, value in expected.items():
            out += differences(value, got.get(key, "<missing>"), f"{path}.{key}")
        return out
    if expected != got or (type(expected) is not type(got) and not (
            isinstance(expected, int | float) and isinstance(got, int | float) and not isinstance(got, bool))):
        return [f"{path}: expected {expected!r}, got {got!r}"]
    return []
