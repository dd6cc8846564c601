"""The knowledge page's small JSON files in DATA_DIR (logins, handled gaps, sent reminders, the
draft's notes): read as a dict ({} when missing or damaged), replaced atomically."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

from common.atomic import write_atomic

LOCK = threading.Lock()  # one read-change-write of these files at a time (CLI and server threads)


def read_dict(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_dict(path: Path, data: dict) -> None:
    write_atomic(Path(path), json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


def update_dict(path: Path, change: Callable[[dict], None]) -> None:
    """Read the file, let `change` edit the dict, write it back (under the lock)."""
    with LOCK:
        data = read_dict(path)
        change(data)
        write_dict(path, data)
