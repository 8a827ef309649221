"""Writing run files so that a crash or a kill never leaves them half-written or shared.

* :func:`append_line` appends one complete line with one ``write()`` on an
  ``O_APPEND`` descriptor, then fsyncs: a reader sees the whole line or none of it
  (a kill can at worst leave a torn *last* line, which :func:`drop_torn_tail` removes).
* :func:`atomic_write_text` writes a temp file opened ``O_EXCL | O_NOFOLLOW`` (never
  through a planted symlink), fsyncs it and renames it over the target.
* :func:`write_status` is the last resort of a sweep that can no longer write (disk full, folder made
  read-only): it frees what a cut-short append took, then replaces the metadata atomically, or, where only the
  folder refuses new files, rewrites the existing file in place.
* :func:`read_store` reads a JSON store (``peak.json``, ``noise.json``); :func:`store_to_update` reads one about to
  be rewritten, and moves a damaged one aside first, so that the rewrite loses nothing.
* :class:`RunLock` holds ``fcntl.flock`` on ``RUN_ID.lock`` for a sweep's lifetime,
  with the holder's pid and host in the file, and removes the file when the run ends;
  the kernel drops the lock when the process dies, so a killed sweep leaves at most
  an unlocked file, which the next sweep takes over.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import warnings
from collections.abc import Callable
from pathlib import Path


def append_line(path: Path, line: str, header: str | None = None) -> None:
    """Append ``line`` (plus ``header`` first if the file is new or empty) in one write, then fsync."""
    text = line if line.endswith("\n") else line + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        if header is not None and os.fstat(fd).st_size == 0:
            text = (header if header.endswith("\n") else header + "\n") + text
        data = text.encode()
        written = os.write(fd, data)
        while written < len(data):  # a regular file takes it all at once; be correct anyway
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as exc:  # a full disk: say which file
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable, follow_symlink: bool = False) -> None:
    """Replace ``path`` atomically with what ``write(fh)`` writes to a binary file (temp file + fsync + rename),
    keeping the mode of the file it replaces: a cut-short write (a full disk) leaves the old file and no temporary
    one. The temporary name is created exclusively and never through a link. A symlink at ``path`` is replaced,
    never followed, unless ``follow_symlink`` (a file the user named: written through the link, at its target).
    An OSError names ``path``."""
    path = Path(path)
    if follow_symlink and path.is_symlink():
        path = path.resolve()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:  # left by a killed process with our pid (or planted): remove the name, retry once
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o644)
    try:
        with contextlib.suppress(FileNotFoundError):
            old = os.lstat(path)
            if stat.S_ISREG(old.st_mode):
                os.fchmod(fd, stat.S_IMODE(old.st_mode))  # a 0600 file stays 0600
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, "", str(tmp)):  # full at fsync, rename: name the file
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def atomic_write_text(path: Path, text: str, follow_symlink: bool = False) -> None:
    """:func:`atomic_write` of ``text`` in UTF-8."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), follow_symlink)


def read_store(path: Path) -> tuple[dict, str | None]:
    """``(entries, problem)`` of a JSON store (``peak.json``, ``noise.json``): its object and None, ``({}, None)``
    when there is no file, ``({}, why)`` when the file is no JSON object (damaged, hand-edited, unreadable)."""
    if not path.is_file():
        return {}, None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {}, f"not readable JSON ({' '.join(str(exc).split())[:80]})"
    return (stored, None) if isinstance(stored, dict) else ({}, f"a JSON {type(stored).__name__}, not an object")


def store_to_update(path: Path, what: str) -> dict:
    """The JSON object in ``path`` ({} when there is none yet) that a store is about to rewrite. A file that is no
    JSON object (damaged, hand-edited) is renamed ``PATH.damaged`` first, with a warning naming ``what`` it held:
    the rewrite would otherwise drop every entry in it without a word."""
    stored, problem = read_store(path)
    if problem is None:
        return stored
    aside = path.with_name(path.name + ".damaged")
    path.replace(aside)
    warnings.warn(f"{path} held {problem}: moved to {aside} and a new one started ({what} measured before are in "
                  "it)", stacklevel=3)
    return {}


def split_torn_tail(data: bytes) -> tuple[bytes, bytes]:
    """(whole lines, torn tail) of a file's bytes: the tail is a last line without its newline (a write cut short
    by a kill), empty when the data ends whole."""
    keep = len(data) if not data or data.endswith(b"\n") else data.rfind(b"\n") + 1
    return data[:keep], data[keep:]


def drop_torn_tail(path: Path) -> str | None:
    """Cut a last line that lacks its newline (a write cut short by a kill); return it, or None if intact."""
    if not path.is_file():
        return None
    keep, torn = split_torn_tail(path.read_bytes())
    if not torn:
        return None
    with path.open("r+b") as fh:
        fh.truncate(len(keep))
        fh.flush()
        os.fsync(fh.fileno())
    return torn.decode(errors="replace")


def write_status(path: Path, text: str, appended: tuple = ()) -> bool:
    """Best effort to record a run's final metadata ``text`` after a write failed: cut the torn tails of the
    ``appended`` files (a full disk's last, partial lines: freeing their blocks), then write ``path`` atomically,
    or in place when the folder is not writable but the file is. Returns whether it was written."""
    import errno

    for other in appended:
        try:
            drop_torn_tail(Path(other))
        except OSError:
            pass
    try:
        atomic_write_text(path, text)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM) or not os.access(path, os.W_OK):
            return False  # a full or read-only disk: an in-place write could tear the file
    try:
        with path.open("r+b") as fh:
            fh.write(text.encode())
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        return False


class RunLockedError(Exception):
    """Another live process holds the run's lock; the message names it."""


class RunLock:
    """An exclusive ``flock`` on ``path`` holding ``pid host`` of the owner; released (file removed) on release,
    released (file left, unlocked) on death.

    Removing a lock file is safe because the holder removes it while still holding the lock, and a process
    that takes a lock checks afterwards that the path still names the file it locked: one that locked a
    file removed in between lets it go and takes the new one instead.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` naming the holder (never waits)."""
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunLockedError(f"{self.path} is held by {holder}") from None
            if self._names(fd):
                break
            os.close(fd)  # its last holder removed this file between our open and our flock: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def _names(self, fd: int) -> bool:
        """Whether ``self.path`` still names the file open as ``fd``."""
        try:
            there = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        here = os.fstat(fd)
        return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order: see the class docstring)."""
        if self.fd is not None:
            try:
                if self._names(self.fd):
                    os.unlink(self.path)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
