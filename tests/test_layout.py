"""The package's layout: stage subpackages, no import cycle (function-level imports included), small modules."""
import ast
from pathlib import Path

import effv2nb

PKG = Path(effv2nb.__file__).parent
MAX_LINES = 400
STAGES = ("core", "data", "model", "export", "formats", "compile", "device", "cluster", "quant", "bench", "ui", "cli")


def _modules() -> dict:
    """``{dotted name: path}`` of every module under ``effv2nb/`` (packages as their ``__init__``)."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, modules: dict) -> set:
    """Modules of the package that ``name`` imports anywhere in its file (top level and inside functions)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:      # ``import effv2nb.x.y`` of a module: the longest known prefix
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(n, stack):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m, stack)
                if found:
                    return found
        stack.pop()
        state[n] = "done"
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n, [])
            if found:
                return found
    return None


def test_no_import_cycle():
    modules = _modules()
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    assert len(graph) > 40 and sum(len(v) for v in graph.values()) > 100, "the import graph was not read"
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_function_level_imports_are_edges(tmp_path):
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n    from .c import x\n")
    modules = {"p": pkg / "__init__.py", "p.a": pkg / "a.py", "p.b": pkg / "b.py", "p.c": pkg / "c.py"}
    assert _imports("p.a", pkg / "a.py", modules) == {"p.b", "p.c"}


def test_no_module_over_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}


def test_stage_subpackages():
    subpackages = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert len(subpackages) >= 6 and set(subpackages) == set(STAGES), subpackages
    flat = sorted(p.name for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not flat, f"modules outside a stage folder: {flat}"


def test_every_module_names_its_notebook_or_command():
    """Each module's docstring opens with the notebook or the CLI step it serves."""
    missing = []
    for n, p in _modules().items():
        if n == "effv2nb":
            continue
        doc = ast.get_docstring(ast.parse(p.read_text())) or ""
        opening = doc.split("\n\n")[0].lower()
        if not ("notebook" in opening or "python -m effv2nb" in opening):
            missing.append(n)
    assert not missing, missing
