"""Fixtures for the staff tools: a breakable copy of the shipped knowledge."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.knowledge import default_knowledge_dir


@pytest.fixture
def kdir(tmp_path) -> Path:
    """A copy of the shipped knowledge, named `knowledge` so messages read knowledge/...:line."""
    target = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), target)
    return target
