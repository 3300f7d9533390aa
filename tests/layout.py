"""The shape of the code, read from its imports (grimp, the graph import-linter builds): the
import-linter contract that no module imports itself by way of others (`AcyclicModules`, run by
`make lint`), and the package map docs/architecture.md shows (tests/test_architecture.py keeps
the page and the code the same)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

ROOT = Path(__file__).resolve().parent.parent


def cycles(graph: grimp.ImportGraph, packages: set[str]) -> list[list[str]]:
    """Every group of modules that import one another round in a circle (the strongly
    connected components of more than one module, by Tarjan's algorithm, without recursion)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in packages)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            step = next((t for t in targets if t in edges), None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(edges[step])))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


class AcyclicModules(Contract):
    """No circle of imports between modules, wherever they are (import-linter's own
    `acyclic_siblings` looks only at siblings of one package)."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        found = cycles(graph, set(self.packages))  # type: ignore[arg-type]
        return ContractCheck(kept=not found, metadata={"cycles": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for group in check.metadata["cycles"]:
            output.print_error("These import each other in a circle:")
            for module in group:
                output.indent_cursor()
                output.print(f"- {module}")
            output.new_line()


def config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def layers() -> list[list[str]]:
    """The layers contract's packages, top layer first."""
    (contract,) = [c for c in config()["contracts"] if c["id"] == "layers"]
    return [[p.strip() for p in layer.replace("|", ":").split(":")] for layer in contract["layers"]]


def package_of(module: str, known: set[str]) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return None


def package_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Which package imports which, for the packages the layers name, the partner library and
    the reference partner."""
    known = {p for layer in layers() for p in layer} | {
        "tillit_partner",
        "tillit.reference_partner",
    }
    out: dict[str, set[str]] = {p: set() for p in known}
    for module in graph.modules:
        source = package_of(module, known)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = package_of(imported, known)
            if target and target != source:
                out[source].add(target)
    return out
