"""A durable per-job journal: every finished batch is appended, flushed and synced, so a job
killed at any point (preemption, node failure, kill -9) resumes where it stopped.

The first line is a header holding the job's fingerprint (model, weights revision, scored texts
source, seed, data). A restart with the same fingerprint replays the journaled batches and skips
their rows; a different fingerprint moves the old journal aside and starts fresh, so results of
two configurations never mix. A trailing half-written line (the kill came mid-write) is cut off.
The journal lives outside Snakemake's declared outputs, which Snakemake deletes when a job fails.
An exclusive lock keeps two processes from working on the same cell.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from mubench.errors import MubenchError


class JournalLocked(MubenchError):
    pass


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.fingerprint = None
        self._lock_handle = None
        self._handle = None

    def __enter__(self) -> "Journal":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_handle = open(self.path.with_name(self.path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_handle.close()
            raise JournalLocked(f"another process is evaluating this cell (lock {self.path}.lock)") from exc
        return self

    def __exit__(self, *exc_info) -> None:
        if self._handle:
            self._handle.close()
        fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
        self._lock_handle.close()

    def resume(self, fingerprint: dict) -> list[dict]:
        """Batches already done (same fingerprint), and open the journal for appending."""
        self.fingerprint = fingerprint
        records = self._read_valid() if self.path.exists() else None
        if records is None:
            self._start_fresh()
            return []
        self._handle = open(self.path, "a")
        return records

    def _read_valid(self) -> list[dict] | None:
        good_bytes, records, header = 0, [], None
        with open(self.path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # written by a killed process: drop it, recompute that batch
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    break
                if header is None:
                    header = entry
                else:
                    records.append(entry)
                good_bytes += len(line)
        if header is None or header.get("fingerprint") != self.fingerprint:
            if self.path.exists():
                self.path.rename(self.path.with_name(f"{self.path.name}.stale-{int(time.time())}"))
            return None
        with open(self.path, "r+b") as handle:
            handle.truncate(good_bytes)
        return records

    def _start_fresh(self) -> None:
        self._handle = open(self.path, "w")
        self._write({"fingerprint": self.fingerprint, "created": time.time()})

    def append(self, record: dict) -> None:
        self._write(record)

    def _write(self, entry: dict) -> None:
        self._handle.write(json.dumps(entry) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def finish(self) -> None:
        """The job's outputs are written: the journal has served its purpose."""
        self._handle.close()
        self._handle = None
        self.path.unlink(missing_ok=True)


def read_progress(path: Path) -> int:
    """Rows journaled so far (for `mubench status`), without taking the lock."""
    rows = 0
    try:
        with open(path, "rb") as handle:
            next(handle, None)
            for line in handle:
                if line.endswith(b"\n"):
                    try:
                        rows += json.loads(line).get("rows", 0)
                    except json.JSONDecodeError:
                        break
    except FileNotFoundError:
        return 0
    return rows
