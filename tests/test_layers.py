"""The packages are layers (DESIGN.md, Layout): each imports only itself and the layers below.

The import graph is read from the source with `ast`, imports inside functions included
(they are how a cycle hides); migrations and tests are left out. Only files of this
repository are read.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: lowest first
LAYERS = ("core", "jsonapi", "accounts", "memberships", "billing", "portal")
RANK = {package: rank for rank, package in enumerate(LAYERS)}
CONFIG_MODULES = {"settings", "urls", "wsgi", "asgi"}


def source_files(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "migrations" in parts or "tests" in parts or "__pycache__" in parts:
            continue
        yield path


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(source, package):
    """(line, dotted name) of every module `source` imports, anywhere in it; `package` is the
    dotted package the source lives in, against which relative imports are resolved."""
    package = package.split(".") if package else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module


def file_imports(path):
    package = module_name(path)
    if path.name != "__init__.py":
        package = package[:-1]
    return imported_modules(path.read_text(encoding="utf-8"), ".".join(package))


def import_graph():
    """{package: [(file, line, imported top-level package)]} between the layered packages."""
    graph = {}
    for package in LAYERS:
        edges = graph.setdefault(package, [])
        for path in source_files(package):
            for line, module in file_imports(path):
                top = module.split(".")[0]
                if top in RANK and top != package:
                    edges.append((path.relative_to(ROOT).as_posix(), line, top))
    return graph


def test_the_graph_sees_imports_inside_functions_and_resolves_relative_ones():
    source = (
        "import core.db\n"
        "from . import services\n"
        "def late():\n"
        "    from ..portal import views\n"
        "    class Inner:\n"
        "        import billing.models\n"
    )
    assert sorted(module for _, module in imported_modules(source, "accounts.api")) == [
        "accounts.api", "accounts.portal", "billing.models", "core.db"]
    assert [module for _, module in imported_modules("from .. import x", "memberships.api")] == ["memberships"]


def test_every_layer_exists():
    assert [package for package in LAYERS if not (ROOT / package / "__init__.py").is_file()] == []


@pytest.mark.parametrize("package", LAYERS)
def test_no_package_imports_a_higher_layer(package):
    upward = [f"{file}:{line} imports {target}" for file, line, target in import_graph()[package]
              if RANK[target] > RANK[package]]
    assert not upward, f"{package} may import only {', '.join(LAYERS[:RANK[package]]) or 'no other layer'}:\n" + \
        "\n".join(upward)


def test_config_holds_only_settings_urls_wsgi_and_asgi():
    config = ROOT / "config"
    modules = {path.stem for path in config.iterdir()
               if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").is_file())}
    assert modules - CONFIG_MODULES == set(), f"config/ holds {sorted(modules - CONFIG_MODULES)}"
