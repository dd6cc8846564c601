"""Helpers for the staff tool tests: the CLI as a process, lines in files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `halmstad-bot ARGS` as staff would, from the project folder."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def line_of(path: Path, needle: str, start: int = 1) -> int:
    """Return the 1-based number of the first line at or after `start` containing `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if number >= start and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file, failing when it is not there (the copy changed)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
