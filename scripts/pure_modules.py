"""List the pure modules of ``src/anagen``: those that import no Django, directly or through
another anagen module (DESIGN.md: pure domain logic in modules that do not import Django).

    python scripts/pure_modules.py            # their file paths, one per line

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, so those count too.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Third-party packages that need Django configured.
DJANGO_PACKAGES = ("django", "ninja", "simple_history", "dj_database_url")


def modules(src: Path = SRC) -> dict[str, Path]:
    """Module name -> file, for every module of the anagen package but its migrations."""
    out = {}
    for path in sorted((src / "anagen").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Top-level packages and anagen modules that ``name`` imports (absolute names)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            # "from pkg import sub" imports the submodule when there is one.
            found.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known)
    out = set()
    for mod in found:
        parts = mod.split(".")
        # The module itself and every package above it run on import.
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in out if m in known or not m.startswith("anagen")}


def pure_modules(src: Path = SRC) -> dict[str, Path]:
    """The modules that can be imported without Django."""
    known = modules(src)
    graph = {}
    for name, path in known.items():
        parts = name.split(".")
        # Importing a module runs the packages above it first.
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        graph[name] = (imports(name, path, known) | parents) - {name}

    @cache
    def pure(name: str, stack: frozenset[str] = frozenset()) -> bool:
        for dep in graph[name]:
            if dep.split(".")[0] in DJANGO_PACKAGES:
                return False
            if dep in known and dep not in stack and not pure(dep, stack | {name}):
                return False
        return True

    return {name: path for name, path in known.items() if pure(name)}


if __name__ == "__main__":
    for p in pure_modules().values():
        print(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p)
    sys.exit(0)
