"""Placeholder values in the staff's knowledge, kept from guardians until staff fill them in.

`knowledge/settings.yaml` ships an example disposal decision (gallringsbeslut) with a made-up
decision number. It is marked as a placeholder by the line `retention_decision_placeholder: true`
next to it in the `privacy:` section (docs/KNOWLEDGE-FORMAT.md). While it is marked:

- `public_retention_decision` gives what a guardian may be told instead: the wording of
  `privacy.retention_decision_unnamed` ("kommunens gallringsbeslut"), the retention period
  without a decision number;
- `placeholder_problems` (a check for `knowledge check` and every reload) warns by name, and
  refuses a marked decision without that unnamed wording in both languages.

Staff write their decision in `retention_decision` and delete the marker line.
"""
from __future__ import annotations

import re
from pathlib import Path

from bot.knowledge import Knowledge, Problem
from common.privacy import (
    PLACEHOLDER_MARKER as MARKER, UNNAMED_DECISION as UNNAMED, is_placeholder, privacy_settings as _privacy,
    public_retention_decision,
)

__all__ = ["is_placeholder", "placeholder_problems", "public_retention_decision"]
SETTINGS = "settings.yaml"
LANGS = ("sv", "en")


def _line_of(root: Path, key: str) -> int:
    """Return the line of `key:` in settings.yaml (1 when it cannot be found)."""
    try:
        lines = (Path(root) / SETTINGS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*:")
    return next((i for i, line in enumerate(lines, 1) if pattern.match(line)), 1)


def placeholder_problems(knowledge: Knowledge) -> list[Problem]:
    """Warn about a retention decision still marked as a placeholder; refuse a marker that is
    not true/false, or a placeholder without the wording to say instead."""
    privacy = _privacy(knowledge.settings)
    if MARKER not in privacy:
        return []
    line = _line_of(knowledge.root, MARKER)
    where = f"{Path(knowledge.root).name}/{SETTINGS}"
    if not isinstance(privacy[MARKER], bool):
        return [Problem(where, line, f"privacy.{MARKER} must be true or false",
                        "write 'true' while the decision is an example, or delete the line")]
    if not privacy[MARKER]:
        return []
    problems = [Problem(
        where, line,
        "privacy.retention_decision is a placeholder: guardians are told the retention period "
        "without a decision number until you fill it in",
        f"write your municipality's disposal decision in retention_decision and delete the line "
        f"'{MARKER}: true'", severity="warning")]
    unnamed = privacy.get(UNNAMED)
    missing = [lang for lang in LANGS
               if not isinstance(unnamed, dict) or not str(unnamed.get(lang) or "").strip()]
    if missing:
        problems.append(Problem(
            where, _line_of(knowledge.root, UNNAMED) if UNNAMED in privacy else line,
            f"privacy.{UNNAMED} has no {' and no '.join(missing)} text, so the privacy answer "
            "would have a hole while the decision is a placeholder",
            f"add '{UNNAMED}:' with 'sv:' and 'en:', e.g. sv: \"kommunens gallringsbeslut\""))
    return problems
