"""The import graph points down only (issue 14). Every import in every module — function-level ones included
— is read with `ast`; a package may import packages of a lower layer, and sideways only where listed."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from conftest import ROOT

# lower number = lower layer; a package imports only from lower layers
LAYERS: dict[str, int] = {
    "domain": 0,  # the vocabulary: regions, enums, time, redaction — imports nothing of the project
    "parser": 1, "checks": 1,  # the pure core: bytes → record → findings
    "storage": 2,  # the schema, the archive and the transactional services over them (ingest, sweeps, events)
    "notifier": 3, "crawler": 3, "sandbox": 3,  # alerts; the Scrapy project; simulated sites and reports
    "dashboard": 4, "workers": 4, "monitor": 4,  # the applications: web dashboard, job-queue workers, the CLI
}
APPLICATIONS = 4  # the top layer's packages may use each other (the CLI serves the dashboard, starts workers)
SIDEWAYS: set[tuple[str, str]] = {("checks", "parser")}  # the checks read the parser's record


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_every_package_is_in_the_layer_map() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in include}
    assert packages <= set(LAYERS), f"add {sorted(packages - set(LAYERS))} to the layer map"


def test_no_package_imports_upward_or_sideways() -> None:
    wrong = []
    for package, layer in LAYERS.items():
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            for line, module in _imports(path):
                target = module.split(".")[0]
                if target == package or target not in LAYERS:
                    continue
                sideways = LAYERS[target] == layer and layer != APPLICATIONS and (package, target) not in SIDEWAYS
                if LAYERS[target] > layer or sideways:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({package} → {target})")
    assert wrong == [], "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_check_itself_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from monitor.config import Settings\n    return Settings\n", encoding="utf-8")
    assert _imports(module) == [(2, "monitor.config")]
