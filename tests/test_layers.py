"""The layer rule of docs/architecture.md, held by a test: lower layers never import higher."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "crmqa"

# layer -> the crmqa layers it may import
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "plan": {"core"},
    "profiles": {"core", "plan"},
    "checks": {"core", "plan"},
    "drivers": {"core", "plan", "profiles", "checks", "drivers"},
    "engine": {"core", "plan", "profiles", "checks", "drivers", "engine"},
    "validation": {"core", "plan", "profiles", "checks", "drivers"},
    "migration": {"core", "plan", "profiles", "checks", "drivers"},
    "fuzzing": {"core", "plan", "profiles", "checks", "drivers"},
    "gates": {"core", "plan"},
    "ledger": {"core", "plan", "gates"},
    "reports": {"core", "plan", "gates", "ledger"},
    "sandbox": {"core"},
    # A kind of work (its section model, rules, driver and Locust runtime) sits with drivers.
    "load": {"core", "plan", "profiles", "checks", "drivers"},
}


def _crmqa_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "crmqa" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    offending = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for imported in _crmqa_imports(path) - ALLOWED[layer] - {layer}:
            if imported != "__init__":
                offending.append(f"{path.relative_to(PACKAGE.parent)} imports crmqa.{imported}")
    assert not offending, "\n".join(offending)


def test_no_product_name_in_the_engine_or_the_drivers() -> None:
    """Vendor specifics live in profiles: the engine and the drivers name no product that
    has a built-in profile (the sandbox's name is an ordinary word and stays allowed)."""
    import re

    products = sorted({re.sub(r"\d+$", "", path.stem)
                       for path in (PACKAGE / "profiles" / "builtin").glob("*.yaml")}
                      - {"sandbox"})
    assert {"salesforce", "dynamics", "hubspot", "bottlecrm"} <= set(products)
    pattern = re.compile("|".join(products), re.IGNORECASE)
    offending = [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
                 for layer in ("engine", "drivers")
                 for path in sorted((PACKAGE / layer).rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert offending == []
