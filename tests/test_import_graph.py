"""Project modules import each other at module level, and those imports form no cycle.

Function-local imports of project modules are kept to the modules that load names lazily on purpose: the package
`__init__`s that keep `import featherweight...` free of torch (PEP 562), and the CLI, which imports only the
invoked command (by name, through importlib).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"featherweight": ROOT / "featherweight",
           **{f"featherweight.{side}": ROOT / side for side in ("students", "embeddings", "augment", "analysis")}}
LAZY_BY_DESIGN = {"featherweight", "featherweight.deploy", "featherweight.embeddings", "featherweight.students",
                  "featherweight.compression.quantized"}


def project_modules() -> dict[str, Path]:
    """{dotted module name: file} of every module the package installs."""
    modules = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "featherweight" and parts[0] in ("students", "embeddings", "augment", "analysis"):
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            modules[name] = path
    return modules


MODULES = project_modules()


def imported_module(node, importer: str, name: str | None = None) -> list[str]:
    """The project modules an import statement names (a `from M import x` names M.x when x is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    package = importer if MODULES[importer].name == "__init__.py" else importer.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        package = package.rsplit(".", 1)[0]
    base = (f"{package}.{node.module}" if node.module else package) if node.level else node.module
    if base not in MODULES:
        return []
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]


def module_level_imports(name: str) -> set[str]:
    """What `name` imports when it is imported: its statements outside functions and classes."""
    found, todo = set(), list(ast.parse(MODULES[name].read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(imported_module(node, name))
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found - {name}


def function_local_imports(name: str) -> list[str]:
    """`module:line` of every project import inside a function of `name`."""
    local = []
    for function in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local += [f"{name}:{node.lineno}" for node in ast.walk(function)
                      if isinstance(node, (ast.Import, ast.ImportFrom)) and imported_module(node, name)]
    return local


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a path, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_graph_has_no_cycle():
    graph = {name: module_level_imports(name) for name in MODULES}
    assert sum(len(targets) for targets in graph.values()) > 100  # the walk sees the imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_project_imports_are_at_module_level():
    local = [place for name in MODULES if name not in LAZY_BY_DESIGN for place in function_local_imports(name)]
    assert local == []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
