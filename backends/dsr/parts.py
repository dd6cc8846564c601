"""The decision on a case, part by part: what was asked, granted or refused, and on what ground.

A request often has more than one part ("delete the absence notes" and "delete the chat"), and
erasure is usually granted in part under the retention rules. Each part records its outcome and,
for a refusal, the legal ground (a key whose wording staff edit in
`knowledge/texts/dsr_letter.yaml`, `dsr_letter.ground.<key>`) with an optional explanation. The
parts feed the response letter (`letter.py`). They change only while the case is open; a closed
case is first corrected back to in progress (`cases.correct`).
"""
from __future__ import annotations

from .cases import Refused, check_reason, is_open

OUTCOMES = ("granted", "refused")
GROUNDS = ("art17_3_b", "archive_law", "art20_3", "art21_1", "art12_5", "art15_4", "secrecy",
           "accurate", "other")
MAX_PART = 500
MAX_PARTS = 20


def add_part(case: dict, text: str, outcome: str, ground: str, explanation: str,
             by: str, at: str) -> dict:
    """Record one part of the decision; a refusal needs a ground ("other" also an explanation).
    Return the audit entry."""
    if not is_open(case):
        raise Refused("err_parts_closed")
    if not text:
        raise Refused("err_part_text")
    if len(text) > MAX_PART:
        raise Refused("err_reason_too_long")
    if outcome not in OUTCOMES:
        raise Refused("err_part_outcome")
    if len(case.get("parts") or []) >= MAX_PARTS:
        raise Refused("err_too_many_parts")
    if outcome == "refused" and ground not in GROUNDS:
        raise Refused("err_part_ground")
    check_reason(explanation, "err_part_explanation" if ground == "other" and outcome == "refused"
                 else None)
    parts = case.setdefault("parts", [])
    part = {"id": 1 + max((p["id"] for p in parts), default=0), "text": text, "outcome": outcome,
            "ground": ground if outcome == "refused" else None,
            "explanation": explanation or None, "at": at, "by": by}
    parts.append(part)
    return {"reference": case["reference"], "at": at, "by": by, "action": "part_added",
            "outcome": outcome, "ground": part["ground"], "reason": text}


def remove_part(case: dict, part_id: str, by: str, at: str) -> dict:
    """Take a part out of the decision while the case is open; return the audit entry."""
    if not is_open(case):
        raise Refused("err_parts_closed")
    parts = case.get("parts") or []
    found = [p for p in parts if str(p["id"]) == part_id]
    if not found:
        raise Refused("err_no_such_part")
    parts.remove(found[0])
    return {"reference": case["reference"], "at": at, "by": by, "action": "part_removed",
            "outcome": found[0]["outcome"], "reason": found[0]["text"]}
