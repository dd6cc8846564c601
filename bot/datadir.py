"""Keep the data directory private: folders 0700, files 0600.

File names under DATA_DIR are session ids, the only secret that protects a transcript, and the
outbox holds activation links. So `serve` sets the process umask to 077 before it writes anything
(every folder and file made afterwards is the owner's alone, whichever part makes it), and
tightens the folders an older version left 0755.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def secure_data_dir(data_dir: Path, depth: int = 2) -> None:
    """Make `data_dir` (created if missing) and the folders up to `depth` levels below it 0700,
    and have every folder and file this process makes from now on private."""
    os.umask(PRIVATE_UMASK)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    level = [data_dir]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            _private(folder, 0o700)
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and folder == data_dir:
                    _private(Path(entry.path), 0o600)  # the top-level databases and logins
        level = below


def _private(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass
