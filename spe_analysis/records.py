"""Run records (``spe.run/1``): run identity, atomic writes, and reading a run directory.

One finished run is one JSON file ``DIR/runs/<run_id>.json``.  Files are written to a
temporary name, fsynced and renamed, so a reader sees either nothing or a whole record.
Any other file there (truncated by a full disk, another schema) is listed with the reason it
could not be read, so that the readers can name and count it: no record is dropped silently.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .atomic import atomic_write_text
from .errors import SpeError

SCHEMA = "spe.run/1"
STATUSES = ("ok", "diverged", "failed")


def run_id(identity: dict[str, Any]) -> str:
    """Stable 12-hex-digit id of a resolved run configuration (same config, same id, anywhere)."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def runs_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "runs"


def record_path(out_dir: str | os.PathLike, rid: str) -> Path:
    return runs_dir(out_dir) / f"{rid}.json"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_record(out_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    path = record_path(out_dir, record["run_id"])
    # Non-finite numbers are written as null: JSON has no NaN and readers must not choke.
    atomic_write_text(path, json.dumps(_finite_or_none(record), indent=1, sort_keys=False) + "\n")
    return path


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


class Unreadable(NamedTuple):
    """A file under ``runs/`` that is not a readable ``spe.run/1`` record, and why."""
    path: Path
    reason: str


class Records(list):
    """Run records read from a directory (a list, sorted by run id), with the files under
    ``runs/`` that could not be read in ``unreadable``: readers name and count them, so no
    record is ever dropped silently."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), unreadable: Iterable[Unreadable] = ()):
        super().__init__(records)
        self.unreadable: list[Unreadable] = list(unreadable)


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def check_record(path: str | os.PathLike) -> tuple[dict[str, Any] | None, str | None]:
    """(the record at ``path``, None), or (None, why it is not a readable ``spe.run/1`` record)."""
    try:
        record = json.loads(Path(path).read_bytes())
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    except ValueError as exc:  # truncated or otherwise broken JSON, or not text at all
        return None, f"not valid JSON, perhaps truncated ({exc})"
    if not isinstance(record, dict):
        return None, f"not a run record (the JSON is {_JSON_TYPES.get(type(record), 'not an object')})"
    if record.get("schema") != SCHEMA:
        return None, f"not a {SCHEMA} record (schema {record.get('schema')!r})"
    if not isinstance(record.get("config"), dict):
        return None, "a run record without its config object"
    return record, None


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record at ``path``, or None when it is not a readable ``spe.run/1`` record."""
    return check_record(path)[0]


def load_records(out_dir: str | os.PathLike) -> Records:
    """Every readable run record under ``out_dir/runs``, sorted by run id; the other files
    there are listed in the result's ``unreadable``."""
    records, unreadable = [], []
    for path in sorted(runs_dir(out_dir).glob("*.json")):
        record, reason = check_record(path)
        if record is None:
            unreadable.append(Unreadable(path, reason))
        else:
            records.append(record)
    return Records(records, unreadable)


def load_sweep_records(out_dir: str | os.PathLike) -> Records:
    """The run records of a sweep (or train) directory, as :func:`load_records`; SpeError
    when there are none to read."""
    if not Path(out_dir).is_dir():
        raise SpeError(f"{out_dir} is not a directory; give a sweep directory "
                       "(the --out of spe sweep or spe train)")
    records = load_records(out_dir)
    if not records:
        bad = records.unreadable
        why = (f" ({len(bad)} unreadable file(s), e.g. {bad[0].path}: {bad[0].reason})"
               if bad else "")
        raise SpeError(f"no run records in {runs_dir(out_dir)}{why}; run "
                       f"'spe sweep --out {out_dir}' first")
    return records


def finished_ids(out_dir: str | os.PathLike) -> set[str]:
    return {p.stem for p in runs_dir(out_dir).glob("*.json")}


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(device: str) -> dict[str, Any]:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
           "threads": torch.get_num_threads(), "git_sha": git_sha(),
           "hostname": socket.gethostname()}
    if device.startswith("cuda"):
        env["accelerator"] = torch.cuda.get_device_name(torch.device(device))
    return env
