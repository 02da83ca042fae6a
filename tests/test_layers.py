"""The layering in the README's Layout table holds for every import in `dagfn`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "dagfn"


def layer_table() -> dict[str, int]:
    """Module or package (``_graph``, ``store``) -> its layer's number, top (0) to bottom."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    layers: dict[str, int] = {}
    for number, row in enumerate(rows[1:]):  # rows[0] is the header
        modules = row.split("|")[2]
        for name in re.findall(r"`([\w/]+?)(?:\.py|/)`", modules):
            assert name not in layers, f"{name} is in two layers of the README's table"
            layers[name] = number
    return layers


def module_of(path: Path) -> str:
    """``dagfn.store._sqlite`` for dagfn/store/_sqlite.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The table's name for a dagfn module: its first part below ``dagfn``."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every dagfn module ``path`` imports, wherever the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("dagfn")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "dagfn":  # from dagfn import _expr
                found += [(node.lineno, f"dagfn.{a.name}") for a in node.names]
            elif base.startswith("dagfn"):
                found.append((node.lineno, base))
    return found


def test_every_dagfn_module_is_in_the_layer_table() -> None:
    layers = layer_table()
    units = {unit_of(module_of(p)) for p in PACKAGE.rglob("*.py")}
    assert sorted(units - set(layers)) == []


def test_every_import_goes_to_the_same_layer_or_one_above() -> None:
    layers = layer_table()
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = unit_of(module_of(path))
        for line, imported in imports_of(path):
            theirs = unit_of(imported)
            if theirs in layers and layers[theirs] > layers[mine]:
                where = f"{path.relative_to(ROOT)}:{line}"
                wrong.append(f"{where} imports {imported} (a layer below {mine})")
    assert wrong == []


def test_the_layer_check_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "dagfn" / "_graph.py"
    bad.parent.mkdir()
    bad.write_text("from dagfn._interpret import run\nfrom . import _plan\n")
    global ROOT
    saved = ROOT
    ROOT = tmp_path
    try:
        found = imports_of(bad)
    finally:
        ROOT = saved
    layers = layer_table()
    assert found == [(1, "dagfn._interpret"), (2, "dagfn._plan")]
    assert all(layers[unit_of(m)] > layers["_graph"] for _, m in found)


def test_the_package_docstring_states_the_layers_in_the_same_order() -> None:
    import dagfn

    doc = dagfn.__doc__ or ""
    names = ["foundation", "expression", "plan", "interpreter", "edges", "views"]
    places = [doc.find(f"- {name}:") for name in names]
    assert -1 not in places and places == sorted(places), places
