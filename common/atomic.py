"""A TinyDB storage that writes atomically: temp file, fsync, os.replace.

TinyDB's stock JSONStorage rewrites the file in place, and a kill during that write leaves a
truncated file. This storage writes the whole document to a temporary file beside the target,
fsyncs it and renames it over the target, so a reader sees the old file or the new one, never half
of either. Used by the session store and by both reference backends.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

TMP_PREFIX = ".tmp-"


def write_atomic(path: Path, data: bytes, *, fsync_dir: bool = False, sole_writer: bool = False) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content.

    `sole_writer=True` (a caller that is the only one ever writing `path`, one write at a time)
    uses the fixed temp name `.tmp-<name>.part` beside it instead of searching for a random free one.
    """
    try:
        fd, tmp = _temp_file(path, sole_writer)
    except FileNotFoundError:  # first write into this directory; not checked on every write
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temp_file(path, sole_writer)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync_dir:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _temp_file(path: Path, sole_writer: bool) -> tuple[int, str]:
    if not sole_writer:
        return tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    tmp = str(path.with_name(TMP_PREFIX + path.name + ".part"))  # not "*.json": globs must not find it
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), tmp


def clean_stale_temp_files(root: Path) -> int:
    """Remove temp files left by a crash mid-write under `root`; return how many were removed."""
    removed = 0
    if not root.exists():
        return 0
    for tmp in root.rglob(TMP_PREFIX + "*"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


class AtomicJSONStorage(Storage):
    """A TinyDB storage backed by one JSON file, replaced atomically on every write."""

    def __init__(self, path: str | os.PathLike, fsync_dir: bool = False, **_: Any) -> None:
        self.path = Path(path)
        self.fsync_dir = fsync_dir

    def read(self) -> dict | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        return json.loads(raw)

    def write(self, data: dict) -> None:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        write_atomic(self.path, payload, fsync_dir=self.fsync_dir)

    def close(self) -> None:
        pass
