"""The plugin manager: built-in defaults, entry points and the project's own plugins.

Sources, in registration order:
1. `engine.defaults` — the built-in field types and expression functions, registered through
   the same hooks third-party plugins use;
2. installed packages exposing the entry-point group `tailor.plugins`;
3. names listed under `plugins:` in tailor.yaml (every layer's list, base first): a bundled
   plugin in `plugins/NAME.py` or `plugins/NAME/`, a path relative to the project
   (`./local_plugin.py`), or an importable module.

Any function named `tailor_*` in a plugin is a hook implementation, decorated or not, so a
misspelt hook is caught: an implementation of an unknown hook fails start-up with E702.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import Position, Problems, did_you_mean
from .paths import PLUGINS

ENTRY_POINT_GROUP = "tailor.plugins"


class TailorPluginManager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin, name):
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("tailor_") and callable(getattr(plugin, name, None)):
            return {}
        return opts


def hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("tailor_"))


def make_plugin_manager(requests: list[tuple[str, Path, Position]] | None = None,
                        problems: Problems | None = None, *, entry_points: bool = True) -> TailorPluginManager:
    """Build the manager. `requests` are (plugin name, project folder, YAML position)."""
    problems = problems if problems is not None else Problems()
    pm = TailorPluginManager("tailor")
    pm.add_hookspecs(hookspecs)
    from . import defaults

    pm.register(defaults, name="tailor.defaults")
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken installed plugin must not crash start-up silently
            problems.add("E703", f"an installed plugin (entry point group {ENTRY_POINT_GROUP}) failed to load: {exc}",
                         Position("<installed plugins>"))
    for name, project_dir, where in requests or []:
        if name.startswith((".", "/")) or name.endswith(".py"):
            key = str((project_dir / name).resolve())  # each layer's ./local.py is its own plugin
        else:
            key = name
        if pm.has_plugin(key):
            continue
        module = _import_plugin(name, project_dir, where, problems)
        if module is None:
            continue
        try:
            pm.register(module, name=key)
        except ValueError as exc:
            problems.add("E704", f"plugin '{name}' is registered twice: {exc}", where)
            continue
        except pluggy.PluginValidationError as exc:
            problems.add("E702", f"plugin '{name}': {exc}", where)
            continue
    _check_unknown_hooks(pm, problems)
    return pm


def _check_unknown_hooks(pm: TailorPluginManager, problems: Problems) -> None:
    known = set(hook_names())
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        for attr in dir(plugin):
            if attr.startswith("tailor_") and attr not in known and callable(getattr(plugin, attr, None)):
                file = getattr(plugin, "__file__", None) or name
                problems.add("E702", f"plugin '{name}' implements unknown hook '{attr}'", Position(str(file)),
                             did_you_mean(attr, known) or "see docs/plugins.md for the hooks")
                pm.unregister(plugin)
                break


def _import_plugin(name: str, project_dir: Path, where: Position, problems: Problems) -> ModuleType | None:
    candidates: list[Path] = []
    if name.startswith((".", "/")) or name.endswith(".py"):
        candidates.append((project_dir / name).resolve())
    else:
        candidates += [PLUGINS / f"{name}.py", PLUGINS / name / "__init__.py"]
    for path in candidates:
        if path.is_dir():
            path = path / "__init__.py"
        if path.is_file():
            return _load_file(name, path, where, problems)
    if name.startswith((".", "/")) or name.endswith(".py"):
        problems.add("E701", f"plugin file not found: {name}", where, f"looked for {candidates[0]}")
        return None
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            bundled = sorted(p.stem for p in PLUGINS.glob("*.py") if not p.stem.startswith("_"))
            bundled += sorted(p.name for p in PLUGINS.iterdir() if (p / "__init__.py").is_file())
            problems.add("E701", f"plugin '{name}' not found", where,
                         did_you_mean(name, bundled) or f"bundled plugins: {', '.join(bundled) or 'none'}")
            return None
        problems.add("E703", f"plugin '{name}' failed to import: {exc}", where)
    except Exception as exc:
        problems.add("E703", f"plugin '{name}' failed to import: {type(exc).__name__}: {exc}", where)
    return None


def _load_file(name: str, path: Path, where: Position, problems: Problems) -> ModuleType | None:
    module_name = "tailor_plugin_" + "".join(c if c.isalnum() else "_" for c in str(path))
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        problems.add("E703", f"plugin '{name}' cannot be loaded from {path}", where)
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        problems.add("E703", f"plugin '{name}' failed to import: {type(exc).__name__}: {exc}", where)
        return None
    return module
