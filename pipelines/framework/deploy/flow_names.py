"""
The flows a flows module declares, read from its source: no import, no Prefect.

A fresh state folder has no discovery manifest, and `pipelines run` would import every flows
module (dbt alone takes seconds) to find one flow by its name. This scan reads each module's
syntax tree instead and answers only when the source says for certain: a flow declared with the
platform's `@flow(name=...)`, `instantiate(generic, name=...)` or the compat layer's Prefect 1
`Flow("name")`, its name a string, an f-string or a sum of them, made of literals, the module's
own constants and the members of the projects' `constants` Enums. Anything else at a module's top
level that could make a flow (another call, another decorator, a statement under `if` or `try`)
leaves that module undecided, and its caller imports it as discovery does.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from pipelines.framework.deploy.code_closure import ROOT_PACKAGE, module_path

_NAME_POSITION = {  # (module the maker comes from, its name) -> position of the flow's name
    ("pipelines.framework.runtime", "flow"): 0,
    ("pipelines.framework.runtime", "instantiate"): 1,
    ("pipelines.compat.prefect1", "Flow"): 0,
}
"""The makers of a flow the scan reads, and where their first positional name argument is."""
_PLATFORM = ("pipelines.framework", "pipelines.compat")
"""Packages whose names a flows module imports that are never a flow's copy."""
_COPIES = {"flow", "Flow", "instantiate", "with_options", "copy", "deepcopy"}
"""Calls whose result, imported into a flows module, may be a flow listed there as well."""
_MAX_DEPTH = 8
"""How many constants a name may go through (a constant naming another...) before giving up."""


@dataclass(frozen=True)
class DeclaredFlow:
    """A flow as its module's source declares it."""

    name: str
    module: str
    attribute: str

    @property
    def entrypoint(self) -> str:
        return f"{self.module}:{self.attribute}"


class _UndecidedError(Exception):
    """The source does not say for certain which flows the module declares."""


def declared_flows(modules: list[str]) -> dict[str, list[DeclaredFlow] | None]:
    """The flows each module declares, or None for a module whose source does not say for
    certain."""
    sources: dict[str, _Source | None] = {}
    return {module: _declared(module, sources) for module in modules}


def _declared(module: str, sources: dict[str, "_Source | None"]) -> list[DeclaredFlow] | None:
    source = _source(module, sources)
    if source is None or source.is_package:
        return None
    try:
        return [DeclaredFlow(name, module, attribute) for attribute, name in source.flows()]
    except _UndecidedError:
        return None


def _source(module: str, sources: dict[str, "_Source | None"]) -> "_Source | None":
    """A repository module's source, parsed once per scan; None for a library's or a file that
    does not parse (its import reports it)."""
    if module not in sources:
        path = module_path(module) if module.split(".")[0] == ROOT_PACKAGE else None
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path)) if path else None
        except (SyntaxError, ValueError, OSError):
            tree = None
        sources[module] = _Source(module, path, tree, sources) if path and tree else None
    return sources[module]


class _Source:
    """One repository module's syntax tree and the names its top level binds."""

    def __init__(
        self, module: str, path: Path, tree: ast.Module, sources: dict[str, "_Source | None"]
    ) -> None:
        self.module = module
        self.sources = sources
        self.is_package = path.name == "__init__.py"
        self.tree = tree
        self.imported: dict[str, tuple[str, str | None]] = {}
        """Local name -> (module, attribute), or (module, None) for `import a.b as c`."""
        self.assigned: dict[str, ast.expr] = {}
        for node in tree.body:
            self._bind(node)

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom):
            origin = self._absolute(node)
            for alias in node.names:
                self.imported[alias.asname or alias.name] = (origin, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imported[alias.asname] = (alias.name, None)
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            self.assigned[node.targets[0].id] = node.value

    def _absolute(self, node: ast.ImportFrom) -> str:
        """The module a `from ... import` names, relative ones resolved."""
        if not node.level:
            return node.module or ""
        package = self.module.split(".")
        if not self.is_package:
            package = package[:-1]
        base = package[: len(package) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])

    def flows(self) -> list[tuple[str, str]]:
        """(attribute, name) of each flow the top level declares; raises `_UndecidedError`."""
        found: list[tuple[str, str]] = []
        for node in self.tree.body:
            found += self._declared_by(node)
        return found

    def _declared_by(self, node: ast.stmt) -> list[tuple[str, str]]:
        if isinstance(node, ast.ImportFrom):
            return self._imported_copies(node)
        if isinstance(node, (ast.Import, ast.ClassDef, ast.Pass)):
            return []
        if isinstance(node, ast.Expr):  # a docstring, a call whose result is not kept
            return []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self._decorated(node)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            return self._assigned(node)
        if isinstance(node, ast.With):
            return self._prefect1(node)
        if isinstance(node, ast.If) and _runs_as_script(node.test):
            return []  # `if __name__ == "__main__":` runs nothing at import
        raise _UndecidedError

    def _imported_copies(self, node: ast.ImportFrom) -> list[tuple[str, str]]:
        """None, or `_UndecidedError`: a copy of a flow (`instantiate`, `with_options`...) made in
        another repository module is listed where it is imported too, as discovery sees it."""
        origin = self._absolute(node)
        for alias in node.names:
            if alias.name == "*" or _may_be_a_copy(origin, alias.name, self.sources):
                raise _UndecidedError
        return []

    def _decorated(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str]]:
        """A plain function, or one made a flow by `@flow(name=...)` alone."""
        if not node.decorator_list:
            return []
        decorator = node.decorator_list[0]
        if len(node.decorator_list) == 1 and self._is_task(decorator):
            return []
        if len(node.decorator_list) > 1 or not isinstance(decorator, ast.Call):
            raise _UndecidedError
        if self._maker(decorator.func) != "flow":
            raise _UndecidedError
        return [(node.name, self._flow_name(decorator))]

    def _is_task(self, decorator: ast.expr) -> bool:
        """`@task` or `@task(...)` of Prefect, the platform or the compat layer: no flow."""
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        if not isinstance(func, ast.Name) or func.id not in self.imported:
            return False
        origin, attribute = self.imported[func.id]
        return attribute == "task" and origin.split(".")[0] in ("prefect", ROOT_PACKAGE)

    def _assigned(self, node: ast.Assign | ast.AnnAssign) -> list[tuple[str, str]]:
        """`x = instantiate(...)` or `x = Flow(...)` declare a flow; setting an attribute or
        binding a literal declares none; any other call might."""
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if all(isinstance(target, (ast.Attribute, ast.Subscript)) for target in targets):
            return []
        value = node.value
        if isinstance(value, ast.Call) and self._maker(value.func):
            if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                raise _UndecidedError
            return [(targets[0].id, self._flow_name(value))]
        if value is None or _is_literal(value):
            return []
        raise _UndecidedError  # a call, or an alias of a flow (listed twice by discovery)

    def _prefect1(self, node: ast.With) -> list[tuple[str, str]]:
        """`with Flow("name", ...) as flow:`, its body the flow's tasks."""
        call, target = node.items[0].context_expr, node.items[0].optional_vars
        if len(node.items) > 1 or not isinstance(call, ast.Call):
            raise _UndecidedError
        if self._maker(call.func) != "Flow" or not isinstance(target, ast.Name):
            raise _UndecidedError
        return [(target.id, self._flow_name(call))]

    def _maker(self, func: ast.expr) -> str | None:
        """The maker's name (`flow`, `instantiate`, `Flow`) when `func` is one the scan reads."""
        if not isinstance(func, ast.Name) or func.id not in self.imported:
            return None
        origin, attribute = self.imported[func.id]
        for (package, name), _ in _NAME_POSITION.items():
            if attribute == name and (origin == package or origin.startswith(f"{package}.")):
                return name
        return None

    def _flow_name(self, call: ast.Call) -> str:
        maker = self._maker(call.func)
        position = next(pos for (_, name), pos in _NAME_POSITION.items() if name == maker)
        named = [keyword.value for keyword in call.keywords if keyword.arg == "name"]
        if named:
            return self.text(named[0])
        if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args):
            return self.text(call.args[position])
        raise _UndecidedError

    def text(self, node: ast.expr, depth: int = 0) -> str:
        """The string `node` evaluates to, computed from the source alone."""
        if depth > _MAX_DEPTH:
            raise _UndecidedError
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(self._part(value, depth) for value in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.text(node.left, depth + 1) + self.text(node.right, depth + 1)
        if isinstance(node, ast.Name):
            return self._constant(node.id, depth)
        if isinstance(node, ast.Attribute) and node.attr == "value":
            return self._member(node.value, depth)
        raise _UndecidedError

    def _part(self, node: ast.expr, depth: int) -> str:
        if isinstance(node, ast.FormattedValue):
            if node.conversion != -1 or node.format_spec is not None:
                raise _UndecidedError
            return self.text(node.value, depth + 1)
        return self.text(node, depth + 1)

    def _constant(self, name: str, depth: int) -> str:
        """A name the module binds to a string, or imports from a repository module that does."""
        if name in self.assigned:
            return self.text(self.assigned[name], depth + 1)
        origin, attribute = self.imported.get(name, ("", None))
        source = _source(origin, self.sources)
        if attribute is None or source is None:
            raise _UndecidedError
        return source._constant(attribute, depth + 1)  # pylint: disable=protected-access

    def _member(self, node: ast.expr, depth: int) -> str:
        """`Enum.MEMBER.value` of an Enum class this module defines or imports."""
        if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Name):
            raise _UndecidedError
        owner, member = node.value.id, node.attr
        source, class_name = self, owner
        if owner in self.imported:
            origin, attribute = self.imported[owner]
            source = _source(origin, self.sources)
            if source is None or attribute is None:
                raise _UndecidedError
            class_name = attribute
        value = source.enum_member(class_name, member)
        return source.text(value, depth + 1)

    def enum_member(self, class_name: str, member: str) -> ast.expr:
        """The value given to `member` in the Enum class `class_name` of this module."""
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                if not any(_names_enum(base) for base in node.bases):
                    raise _UndecidedError
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and len(statement.targets) == 1
                        and isinstance(statement.targets[0], ast.Name)
                        and statement.targets[0].id == member
                    ):
                        return statement.value
        raise _UndecidedError


def _may_be_a_copy(
    module: str, name: str, sources: dict[str, "_Source | None"], depth: int = 0
) -> bool:
    """True when `name` of a repository module may be a copy of a flow: bound there by a call
    that makes or copies one, or imported from where the scan cannot follow."""
    source = _source(module, sources)
    if source is None or module.startswith(_PLATFORM):
        return False
    if name in source.imported:
        origin, attribute = source.imported[name]
        return depth >= _MAX_DEPTH or (
            attribute is not None and _may_be_a_copy(origin, attribute, sources, depth + 1)
        )
    value = source.assigned.get(name)
    return isinstance(value, ast.Call) and _called_name(value.func) in _COPIES


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _runs_as_script(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _names_enum(base: ast.expr) -> bool:
    return (isinstance(base, ast.Name) and base.id.endswith("Enum")) or (
        isinstance(base, ast.Attribute) and base.attr.endswith("Enum")
    )


def _is_literal(node: ast.expr) -> bool:
    """A value that is no flow: a constant, or a container of constants."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
