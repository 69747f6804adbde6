"""Tidy tables of a sweep directory: one row per run, or one row per run and epoch.

Columns: ``run_id``, ``status``, every config field (``dataset``, ``pool``, ``alpha``...),
every metric (``final_test_acc``...), timings (``started_at``, ``finished_at``,
``wall_seconds``), ``error`` and the environment as ``env_*``; with history, the epoch's
fields (``epoch``, ``train_loss``, ``test_acc``, ``epoch_lr``, ``lam``...) instead of the metrics.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, TextIO

from ..errors import SpeError, choose
from ..names import EXPORT_FORMATS
from .estimate import wall_seconds

FORMATS = EXPORT_FORMATS
PARQUET_INSTALL = 'pip install -e ".[parquet]"'


def _run_columns(record: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": record.get("run_id"), "status": record.get("status"), **(record.get("config") or {})}


def run_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run: config, metrics, status, timings, error, environment."""
    return [{**_run_columns(r), **(r.get("metrics") or {}), "epochs_done": len(r.get("history") or []),
             "started_at": r.get("started_at"), "finished_at": r.get("finished_at"),
             "wall_seconds": wall_seconds(r), "error": r.get("error"),
             **{f"env_{k}": v for k, v in (r.get("env") or {}).items()}}
            for r in records]


def history_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run and epoch: the run's config and status, then that epoch's history.

    An epoch field named like a config field (``lr``: the rate in that epoch, not the base
    rate) becomes ``epoch_lr``."""
    rows = []
    for record in records:
        run = _run_columns(record)
        for row in record.get("history") or []:
            rows.append({**run, **{f"epoch_{k}" if k in run else k: v for k, v in row.items()}})
    return rows


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _csv_cell(value: Any) -> Any:
    # Lists (milestones, per-block lam) as JSON text: one cell, readable back with json.loads.
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_csv(rows: list[dict[str, Any]], stream: TextIO) -> None:
    writer = csv.DictWriter(stream, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)


def write_jsonl(rows: list[dict[str, Any]], stream: TextIO) -> None:
    columns = _columns(rows)
    for row in rows:
        stream.write(json.dumps({k: row.get(k) for k in columns}) + "\n")


def write_parquet(rows: list[dict[str, Any]], path: str | os.PathLike) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SpeError(f"--format parquet needs pyarrow, which is not installed: {PARQUET_INSTALL}") from None
    columns = _columns(rows)
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows]), path)


def export(records: Iterable[dict[str, Any]], fmt: str, out: str | os.PathLike | None = None,
           history: bool = False) -> str | None:
    """Write the table of run ``records`` (e.g. ``load_sweep_records(DIR)``) in ``fmt`` to the
    file ``out``; without ``out`` return it as text (csv and jsonl only)."""
    choose("format", fmt, FORMATS)
    if fmt == "parquet" and out is None:
        raise SpeError("--format parquet writes a binary file: give --out FILE.parquet")
    rows = history_rows(records) if history else run_rows(records)
    if fmt == "parquet":
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_parquet(rows, out)
        return None
    buffer = io.StringIO()
    (write_csv if fmt == "csv" else write_jsonl)(rows, buffer)
    if out is None:
        return buffer.getvalue()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(buffer.getvalue(), encoding="utf-8")
    return None
