"""docs/architecture.md's table is the layering: no module imports a room below its own, nor hides an import
of the provider inside a function, except the ones the page names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_axiom"
#: Imports of the provider inside a function that the page names, and why they are there.
INSIDE_A_FUNCTION = {
    ("_connection", "exceptions"),  # Airflow imports _connection while it loads providers
    (PACKAGE, "_connection"),  # the provider info, read when Airflow asks for it
    ("contract_check", "hooks.axiom"),  # its command
}


def rows() -> list[list[str]]:
    """The rooms of each row of the table, in order (a row may name several: `operators`, `sensors`, ...)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    out = []
    for line in text.splitlines():
        if line.startswith("| `"):
            first, owns = line.split("|")[1:3]
            # a room a row owns without a row of its own is named in its text: `_contract_run_ids`
            out.append(re.findall(r"`([\w.]+)`", first) + re.findall(r"\(`(_[a-z_]+)`:", owns))
    return out


def row_of(module: str, table: list[list[str]]) -> int:
    for i, names in enumerate(table):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    raise AssertionError(f"{module} is in no row of docs/architecture.md")


def imports() -> list[tuple[str, str, bool]]:
    """(module, provider module it imports, whether at the top), type-checking imports left out."""
    found = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        rel = path.relative_to(ROOT / PACKAGE).with_suffix("")
        if rel.parts[0] in ("testing", "example_dags"):
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        module = ".".join(parts) or PACKAGE
        tree = ast.parse(path.read_text())
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE)):
                continue
            if id(node) in typing_only:
                continue
            if node.module == PACKAGE:
                targets = [a.name for a in node.names]
            else:
                targets = [node.module.removeprefix(PACKAGE + ".")]
            found += [(module, t, id(node) in top) for t in targets]
    return found


def test_no_import_runs_up_a_layer_or_hides_in_a_function():
    table = rows()
    wrong = []
    for module, target, at_top in imports():
        if target in ("__version__", "get_provider_info"):
            continue  # the package's own root
        if not at_top:
            if (module, target) not in INSIDE_A_FUNCTION:
                wrong.append(f"{module} imports {target} inside a function")
            continue
        if module != PACKAGE and row_of(target, table) > row_of(module, table):
            wrong.append(f"{module} imports {target}, a room below it in the table")
    assert not wrong, wrong
