"""Backends from outside the repository: ``--plugin PATH_OR_MODULE`` and the ``convbench.backends`` entry points.

A plugin is a Python file or importable module whose backends register with the
same public ``kernels.register`` decorator the built-ins use (fused chain backends with
``kernels.register_chain``). Every way a plugin
can be broken (missing, syntax error, failing import, duplicate name, not a
Backend, ending the process or rebinding ``numpy.matmul`` & co. while importing:
see :mod:`harness.plugin_guard`) becomes one :class:`PluginError` naming the
plugin and the problem.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import kernels

from .plugin_guard import RebindGuard, probe_import

ENTRY_POINT_GROUP = "convbench.backends"
_LOADED: dict[str, list[str]] = {}  # plugin key (a file's resolved path, or a module name) -> backend names
_ENTRY_POINTS: set[str] = set()  # keys loaded by load_entry_points (every worker loads those itself)


class PluginError(Exception):
    """A plugin that cannot be used; the message names the plugin and what is wrong."""


def registered_names() -> list[str]:
    """Every registered backend name a plugin can add: convolution backends, then fused chain backends."""
    return kernels.list_backends() + kernels.list_fused_backends()


def _import_file(path: Path):
    name = f"convbench_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import(ref: str, path: Path) -> None:
    """Import plugin ``ref`` (file ``path`` or a module name); every failure is a PluginError saying which."""
    try:
        if names_a_file(path):
            _import_file(path)
        else:
            importlib.import_module(ref)
    except PluginError:
        raise
    except SystemExit as exc:
        raise PluginError(f"plugin {ref}: called sys.exit({exc.code!r}) while importing; a plugin must only "
                          "define and register backends") from None
    except SyntaxError as exc:
        raise PluginError(f"plugin {ref}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except ModuleNotFoundError as exc:
        if exc.name == ref.split(".")[0] and not path.suffix:
            raise PluginError(f"plugin {ref}: no such file or module") from None
        raise PluginError(f"plugin {ref}: import failed: {type(exc).__name__}: {exc}") from None
    except (ValueError, TypeError) as exc:  # raised by kernels.register: duplicate name, not a Backend
        raise PluginError(f"plugin {ref}: {exc}") from None
    except Exception as exc:
        raise PluginError(f"plugin {ref}: import failed: {type(exc).__name__}: {exc}") from None


def names_a_file(path: Path) -> bool:
    """Whether a plugin reference is a file (``x.py``, or anything that exists) rather than a module name."""
    return path.suffix == ".py" or path.exists()


def plugin_key(ref: str | Path) -> str:
    """One name per plugin: a file's resolved path (``./a.py`` and ``a.py`` are one plugin), else the module."""
    path = Path(ref)
    return str(path.resolve()) if names_a_file(path) else str(ref)


def still_registered(names: list[str]) -> bool:
    """Whether every backend a plugin registered is still in the registry (none was unregistered behind its back)."""
    registered = set(registered_names())
    return all(name in registered for name in names)


def loaded_plugins() -> dict[str, list[str]]:
    """{plugin: its backend names} of the plugins (files and modules, not entry points) loaded in this process
    whose backends are all still registered, in load order."""
    return {key: list(names) for key, names in _LOADED.items()
            if key not in _ENTRY_POINTS and names and still_registered(names)}


def load_plugin(ref: str | Path, probe: bool = False) -> list[str]:
    """Import plugin ``ref`` (a .py path or a module name) and return the backend names it registered.

    ``probe``: first import it in a throw-away process (:func:`harness.plugin_guard.probe_import`), so that a
    plugin that ends the process while importing (``sys.exit``, ``os._exit``, a signal) or hangs is a
    PluginError here instead of the end of this process. Commands probe; worker processes need not.
    """
    key, ref = plugin_key(ref), str(ref)
    if key in _LOADED:
        if still_registered(_LOADED[key]):
            return _LOADED[key]
        unload_plugin(ref)  # one of its backends was unregistered directly: import the plugin afresh
    path = Path(ref)
    if names_a_file(path) and not path.is_file():
        raise PluginError(f"plugin {ref}: no such file")
    problem = probe_import(ref) if probe else None
    if problem:
        raise PluginError(f"plugin {ref}: {problem}; a plugin must only define and register backends")
    before = set(registered_names())
    guard = RebindGuard()
    try:
        _import(ref, path)
    finally:
        rebound = guard.undo()  # also after a failed import: this process stays as it was
    added = [name for name in registered_names() if name not in before]
    if rebound:
        for name in added:
            kernels.unregister(name)
            kernels.unregister_chain(name)
        raise PluginError(f"plugin {ref}: replaced {', '.join(rebound[:5])}{' ...' if len(rebound) > 5 else ''} "
                          "while importing (undone): the harness's reference, checks and timing use these; a "
                          "plugin must only define and register backends")
    if not added:
        raise PluginError(f"plugin {ref} registered no backend: decorate a kernels.Backend subclass "
                          "with @kernels.register")
    _LOADED[key] = added
    return added


def unload_plugin(ref: str | Path) -> list[str]:
    """Forget plugin ``ref``: unregister the backends it added, so it can be loaded again (after an edit,
    in a notebook) or a test can leave the registry as it found it. Returns the names removed."""
    names = _LOADED.pop(plugin_key(ref), [])
    for name in names:
        kernels.unregister(name)
        kernels.unregister_chain(name)
    return names


def load_entry_points() -> list[str]:
    """Load every installed ``convbench.backends`` entry point; return the backend names they added."""
    from importlib.metadata import entry_points

    added = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _LOADED:
            continue
        before = set(registered_names())
        try:
            ep.load()
        except SystemExit as exc:
            raise PluginError(f"entry point {ep.name} ({ep.value}): called sys.exit({exc.code!r}) while "
                              "importing") from None
        except (ValueError, TypeError) as exc:
            raise PluginError(f"entry point {ep.name} ({ep.value}): {exc}") from None
        except Exception as exc:
            raise PluginError(f"entry point {ep.name} ({ep.value}): import failed: "
                              f"{type(exc).__name__}: {exc}") from None
        new = [name for name in registered_names() if name not in before]
        _LOADED[ep.value] = new
        _ENTRY_POINTS.add(ep.value)
        added += new
    return added


def plugin_refs(argv: list[str]) -> list[str]:
    """The values of every ``--plugin X`` / ``--plugin=X`` in ``argv`` (read before the full parse)."""
    refs = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            refs.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            refs.append(arg.split("=", 1)[1])
    return refs


def unimportable_backends(names) -> list[str]:
    """The backends among ``names`` defined in an interactive ``__main__`` (a notebook cell, the REPL): worker
    processes start fresh and cannot import them. A script's ``__main__`` is imported again, so it is fine."""
    main = sys.modules.get("__main__")
    if os.path.isfile(getattr(main, "__file__", None) or ""):  # a script ("python -" says "<stdin>": not one)
        return []
    fused = set(kernels.list_fused_backends())
    return [name for name in names if type(kernels.get_chain_backend(name) if name in fused else
                                           kernels.get_backend(name)).__module__ == "__main__"]
