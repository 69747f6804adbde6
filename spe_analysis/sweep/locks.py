"""Claiming a run with an exclusive-create lock file, so that sweeps sharing a directory (on
one machine or on several sharing a file system) never run the same run twice.

A lock file records its owner (host, pid, the process's start time, a random token).  It is
free again when its owner is a dead process on this host, or when nobody has refreshed it
for ``stale_after`` seconds: a live owner refreshes it (a heartbeat thread touches it), so
only locks of owners on other machines that vanished ever wait for the stale limit.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

from ..errors import SpeError
from ..names import DEFAULT_STALE_AFTER

HOST = socket.gethostname()


def _process_start(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot, None when there is no such
    process (or it is a zombie).  Guards against a pid reused by a new process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]


def this_owner(claim: str | None = None) -> dict:
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "start": _process_start(pid), "token": uuid.uuid4().hex,
            "time": time.time(), "claim": claim}


def owner_alive(owner: dict) -> bool | None:
    """Whether the owner process lives; None when it runs on another host (unknowable here)."""
    if owner.get("host") != HOST or not isinstance(owner.get("pid"), int):
        return None
    if Path("/proc/self/stat").exists():
        start = _process_start(owner["pid"])
        return start is not None and start == owner.get("start", start)
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def read_owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


class Lock:
    """A held lock file; ``release`` removes it (only if it is still ours)."""

    def __init__(self, path: Path, owner: dict, heartbeat: float | None):
        self.path, self.owner = path, owner
        self._stop = threading.Event()
        self._thread = None
        if heartbeat:
            self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
            self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        current = read_owner(self.path)
        if current is not None and current.get("token") == self.owner["token"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_free(path: Path, stale_after: float) -> bool:
    """Whether an existing lock file may be taken over: dead local owner, or stale."""
    owner = read_owner(path)
    alive = owner_alive(owner) if owner is not None else None
    if alive is not None:
        return not alive
    try:  # another host's lock, or one whose owner is still writing it: judge by age
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > stale_after


def _break(path: Path, stale_token: str | None) -> None:
    """Remove a free lock without removing a fresh one that a rival created meanwhile."""
    tomb = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.rename(path, tomb)
    except FileNotFoundError:
        return  # a rival broke it first
    taken = read_owner(tomb)
    if taken is not None and taken.get("token") != stale_token:
        with contextlib.suppress(OSError):  # not the stale lock we judged: put it back
            os.link(tomb, path)
    tomb.unlink(missing_ok=True)


def try_claim(path: str | os.PathLike, stale_after: float = DEFAULT_STALE_AFTER,
              heartbeat: bool = True, claim: str | None = None) -> Lock | None:
    """Take the lock at ``path``, or return None when another live owner holds it.

    ``claim`` names who sent this process (a sweep task): it goes into the lock file, so that
    the sender can tell the locks its worker took if the worker is lost (:func:`claimed_by`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        owner = this_owner(claim)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not is_free(path, stale_after):
                return None
            stale = read_owner(path)
            _break(path, stale.get("token") if stale else None)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(owner, fh)
            fh.flush()
            os.fsync(fh.fileno())
        interval = min(60.0, stale_after / 4) if heartbeat else None
        return Lock(path, owner, interval)
    return None


def claimed_by(path: str | os.PathLike, claim: str) -> bool:
    """Whether the lock at ``path`` exists and was taken for ``claim``."""
    owner = read_owner(Path(path))
    return owner is not None and owner.get("claim") == claim


def release_claimed(path: str | os.PathLike, claim: str) -> None:
    """Remove the lock at ``path`` if it was taken for ``claim``: the lock of a lost worker,
    removed on its behalf by the sweep that sent it, never a lock someone else took since."""
    owner = read_owner(Path(path))
    if owner is not None and owner.get("claim") == claim:
        _break(Path(path), owner.get("token"))


@contextlib.contextmanager
def held(path: str | os.PathLike, wait: float = 60.0, stale_after: float = 60.0) -> Iterator[Lock]:
    """Hold a short-lived lock, waiting up to ``wait`` seconds for it."""
    deadline = time.monotonic() + wait
    while (lock := try_claim(path, stale_after)) is None:
        if time.monotonic() > deadline:
            raise SpeError(f"{path} is held by {read_owner(Path(path))}; remove it if no sweep runs")
        time.sleep(0.05)
    with lock:
        yield lock
