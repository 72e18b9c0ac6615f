"""The import contract of docs/architecture.md, checked on the source itself.

Each rule names a layer (a package under ``src/cowshed``) and the layers it must not import. A
module that breaks one fails this test with the file, line and import named, so the layering
cannot drift silently as services are added.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "cowshed"

#: layer → layers it may never import (a layer is the first package under cowshed/).
FORBIDDEN: dict[str, frozenset[str]] = {
    # drivers know bytes and backend objects only
    "backends": frozenset({"db", "services", "api", "cli", "node", "dev", "formats"}),
    # the hardened door to untrusted bytes knows no storage, records or HTTP
    "formats": frozenset({"db", "services", "api", "cli", "node", "backends"}),
    # pure records and rules
    "domain": frozenset({"db", "services", "api", "cli", "node", "backends", "formats", "config",
                         "dev"}),
    # SQL only: no storage, no orchestration, no shells
    "db": frozenset({"services", "api", "cli", "node", "backends", "formats", "dev"}),
    # shells over services never reach into the database
    "api": frozenset({"db", "cli", "dev"}),
    "cli": frozenset({"db", "api.image", "api.routing"}),
    "services": frozenset({"api", "cli", "dev"}),
    "node": frozenset({"api", "cli", "db"}),
    "config": frozenset({"db", "services", "api", "cli", "node", "backends", "formats"}),
    "errors": frozenset({"db", "services", "api", "cli", "node", "backends", "formats", "domain",
                         "config"}),
}
#: named exceptions to the table above, each with its reason.
ALLOWED: dict[str, frozenset[str]] = {
    # the [node] table is parsed with the rest of the settings; node/settings.py is pure parsing
    # (no I/O, nothing else of node/ imported), kept beside the code that reads it
    "config": frozenset({"node.settings"}),
}
#: third-party libraries a layer may not use (domain stays free of SQL and HTTP).
FORBIDDEN_LIBS: dict[str, frozenset[str]] = {
    "domain": frozenset({"sqlalchemy", "starlette", "httpx", "rados", "rbd"}),
    "backends": frozenset({"sqlalchemy", "starlette"}),
    "formats": frozenset({"sqlalchemy", "starlette"}),
}


@dataclass(frozen=True)
class Import:
    module: str  # e.g. cowshed/services/images/service.py
    line: int
    target: str  # dotted module imported, e.g. cowshed.db.repository


def _layer(rel: Path) -> str:
    parts = rel.with_suffix("").parts
    return parts[0] if parts else ""


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    rel = str(path.relative_to(SRC.parent))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(Import(rel, node.lineno, node.module))
            # ``from cowshed.api import image`` imports cowshed.api.image
            found += [Import(rel, node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _violations() -> list[str]:
    out: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        layer = _layer(rel)
        banned = FORBIDDEN.get(layer, frozenset())
        libs = FORBIDDEN_LIBS.get(layer, frozenset())
        for imp in _imports(path):
            top = imp.target.split(".")[0]
            if top in libs:
                out.append(f"{imp.module}:{imp.line} {layer}/ imports {imp.target}")
            if top != "cowshed":
                continue
            inner = imp.target.removeprefix("cowshed.")
            allowed = ALLOWED.get(layer, frozenset())
            if any(inner == a or inner.startswith(a + ".") for a in allowed):
                continue
            if any(inner == b or inner.startswith(b + ".") for b in banned):
                out.append(f"{imp.module}:{imp.line} {layer}/ imports {imp.target}")
            out += _private_reach(rel, imp)
    return out


def _private_reach(rel: Path, imp: Import) -> list[str]:
    """One service package never imports another service package's private modules."""
    parts = imp.target.split(".")
    if len(parts) < 4 or parts[1] != "services" or not parts[3].startswith("_"):
        return []
    mine = rel.parts[1] if rel.parts[0] == "services" and len(rel.parts) > 2 else None
    if parts[2] == mine:
        return []
    return [f"{imp.module}:{imp.line} reaches into private {imp.target}"]


def test_layers_import_only_what_the_design_allows() -> None:
    assert _violations() == []


@pytest.mark.parametrize(("layer", "target"), [
    ("backends", "cowshed.db.repository"),
    ("api", "cowshed.db.repository"),
    ("domain", "sqlalchemy"),
])
def test_the_checker_catches_a_forbidden_import(tmp_path: Path, layer: str, target: str) -> None:
    """The checker itself can fail: a planted bad import is reported."""
    global SRC
    fake = tmp_path / "cowshed" / layer
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(f"import {target}\n")
    real, SRC = SRC, tmp_path / "cowshed"
    try:
        assert _violations() == [f"cowshed/{layer}/bad.py:1 {layer}/ imports {target}"]
    finally:
        SRC = real


def test_private_modules_of_another_service_are_caught() -> None:
    imp = Import("cowshed/services/volumes/x.py", 3, "cowshed.services.images._secret")
    assert _private_reach(Path("services/volumes/x.py"), imp)
    assert not _private_reach(Path("services/images/x.py"), imp)
