"""Run locks: exclusive, freed when the owner dies or the lock goes stale, never stolen."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from spe_analysis.sweep.locks import HOST, is_free, read_owner, try_claim


def test_a_claimed_lock_is_exclusive_until_released(tmp_path):
    path = tmp_path / "locks" / "abc.lock"
    lock = try_claim(path)
    assert lock is not None
    owner = read_owner(path)
    assert owner["host"] == HOST and owner["pid"] == os.getpid() and owner["token"]
    assert try_claim(path) is None
    lock.release()
    assert not path.exists()
    with try_claim(path) as again:
        assert again is not None
    assert not path.exists()


def test_a_lock_of_a_dead_local_process_is_free(tmp_path):
    path = tmp_path / "dead.lock"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    path.write_text(json.dumps({"host": HOST, "pid": int(child.stdout), "start": "1", "token": "t"}))
    assert is_free(path, stale_after=3600)
    lock = try_claim(path, stale_after=3600)
    assert lock is not None and read_owner(path)["pid"] == os.getpid()
    lock.release()


def test_a_reused_pid_does_not_keep_a_lock(tmp_path):
    path = tmp_path / "reused.lock"
    # Our own pid, but a different process start time: the owner died and its pid came back.
    path.write_text(json.dumps({"host": HOST, "pid": os.getpid(), "start": "0", "token": "t"}))
    assert is_free(path, stale_after=3600)


def test_another_hosts_lock_is_free_only_when_stale(tmp_path):
    path = tmp_path / "remote.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    assert not is_free(path, stale_after=60)
    assert try_claim(path, stale_after=60) is None
    old = time.time() - 120
    os.utime(path, (old, old))
    assert is_free(path, stale_after=60)
    lock = try_claim(path, stale_after=60)
    assert lock is not None and read_owner(path)["host"] == HOST
    lock.release()


def test_a_live_owner_keeps_its_lock_fresh(tmp_path):
    path = tmp_path / "beat.lock"
    lock = try_claim(path, stale_after=0.4)  # heartbeat every 0.1 s
    old = time.time() - 100
    os.utime(path, (old, old))
    deadline = time.monotonic() + 60  # however busy the machine, the heartbeat comes
    while path.stat().st_mtime < old + 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_mtime > old + 50, "the heartbeat never refreshed the lock"
    assert not is_free(path, stale_after=60)
    lock.release()


def test_releasing_never_removes_someone_elses_lock(tmp_path):
    path = tmp_path / "taken.lock"
    lock = try_claim(path)
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "theirs"}))
    lock.release()
    assert read_owner(path)["token"] == "theirs"
