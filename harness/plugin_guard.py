"""What a plugin's import may not do: end the process, or rebind the library functions the harness relies on.

A plugin file or module runs arbitrary code when imported. Two things it could do
would make a command silently lie: end the process (``sys.exit(0)``,
``os._exit(0)``, a signal: ``check`` would exit 0 with nothing checked), or
replace ``numpy.matmul`` & co. (the reference, the tolerance checks and the peak
measurement use them). So :func:`probe_import` first imports the plugin in a
separate, throw-away Python process and reads how that ended, and
:class:`RebindGuard` snapshots the guarded modules around the real import and
undoes any rebinding. Each problem is one :class:`harness.plugins.PluginError`.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile

#: Seconds a plugin may take to import in the probe process (numpy, numba, torch imports included).
PROBE_TIMEOUT_S = 120.0
#: Top-level packages whose functions and classes a plugin must not rebind or delete while importing.
GUARDED_ROOTS = ("numpy", "time", "math", "kernels", "harness", "threadpoolctl")
_PROBE_CODE = ("import os, sys\n"
               "import kernels\n"
               "from harness.plugins import PluginError, load_plugin\n"
               "try:\n    names = load_plugin(sys.argv[1])\n"
               "except PluginError:\n    names = []  # the real import reports it the same way\n"
               "sys.stdout.write('\\n' + sys.argv[2] + ':imported\\n'); sys.stdout.flush()\n"
               "for name in names:  # what `list` asks every backend in the sweep's own process\n"
               "    try:\n        kernels.get_backend(name).unavailable_reason(); kernels.get_backend(name).description\n"
               "    except BaseException:\n        pass\n"
               "sys.stdout.write('\\n' + sys.argv[2] + '\\n'); sys.stdout.flush(); sys.stderr.flush()\n"
               "os._exit(0)  # never wait for threads the plugin started\n")


def how_it_ended(returncode: int) -> str:
    """"exit code 0" or "signal 9 (SIGKILL)": how a process ended, from its return code."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {-returncode} ({signal.Signals(-returncode).name})"
    except ValueError:
        return f"signal {-returncode}"


def _search_path() -> str:
    """This process's module search path as PYTHONPATH, so the probe imports the same harness and plugins."""
    parts = [p or os.getcwd() for p in sys.path] + [os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


def _last_line(fh) -> str:
    fh.seek(0)
    lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def probe_import(ref: str) -> str | None:
    """Import plugin ``ref`` in a separate Python process and ask its backends whether they are available (as
    ``list`` does); return why that process did not get through (it exited, was killed, or hung), or None when
    it did (also after an ordinary import error, which the real import reports)."""
    token = f"convbench-probe-{secrets.token_hex(8)}"
    env = dict(os.environ, PYTHONPATH=_search_path())
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files, not pipes: a process the
        proc = subprocess.Popen([sys.executable, "-c", _PROBE_CODE, ref, token],  # plugin starts keeps no pipe
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        try:
            proc.wait(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return f"importing it (and asking its backends whether they are available) took over " \
                   f"{PROBE_TIMEOUT_S:g} s"
        finally:
            try:  # whatever the import started (a subprocess) goes with it
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        out.seek(0)
        said = out.read()
        if f"{token}\n".encode() in said:
            return None
        last = _last_line(err)
        doing = "asking its backends whether they are available" if f"{token}:imported".encode() in said \
            else "importing it"
        return f"{doing} ended the process ({how_it_ended(proc.returncode)})" + (f": {last[:200]}" if last
                                                                                       else "")


class RebindGuard:
    """Snapshots the functions and classes of the guarded modules; :meth:`undo` restores any a plugin rebound
    or deleted and returns their names. (Data attributes are left alone: importing pandas rebinds
    ``time.tzname``, and that is no attack.)"""

    def __init__(self):
        self.before = {}
        for name, module in list(sys.modules.items()):
            if module is not None and name.split(".")[0] in GUARDED_ROOTS:
                try:
                    functions = {attr: value for attr, value in vars(module).items()
                                 if callable(value) and not attr.startswith("__")}
                except TypeError:  # no __dict__
                    continue
                self.before[name] = (module, functions)

    def undo(self) -> list[str]:
        """Put back every guarded attribute the import changed; return them as ``module.name``."""
        missing = object()
        changed = []
        for name, (module, old) in self.before.items():
            now = vars(module)
            for attr, value in old.items():
                if now.get(attr, missing) is not value:
                    changed.append(f"{name}.{attr}")
                    setattr(module, attr, value)
        return changed
