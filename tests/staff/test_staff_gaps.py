"""`knowledge gaps`: what guardians asked that the bot could not answer, masked and grouped."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.engine import Engine
from flows.ports import Services
from common.messages import Inbound
from bot.store.tinydb_store import TinyDBStore
from flows.registry import all_flows
from tests.staff.staffkit import cli

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))


async def _talk(holder, data_dir, when: datetime, conversations: dict[str, list[str]]) -> None:
    store = TinyDBStore(data_dir / "sessions")
    engine = Engine(source=holder, store=store, flows=all_flows(), clock=lambda: when, services=Services())
    try:
        for session, texts in conversations.items():
            for text in texts:
                await engine.handle(Inbound(session=session, text=text))
    finally:
        await store.close()


async def test_each_stored_question_records_its_outcome(holder, tmp_path):
    await _talk(holder, tmp_path, NOW, {"s1": ["när har ni öppet?", "hur söker jag bygglov", "meny"]})
    store = TinyDBStore(tmp_path / "sessions")
    entries = [e for e in await store.transcript("s1") if e["from"] == "user"]
    await store.close()
    assert [e["outcome"] for e in entries] == ["flow:contact_hours", "fallback", "cmd:menu"]


async def test_gaps_groups_masks_and_orders_by_frequency(holder, tmp_path):
    await _talk(holder, tmp_path, NOW - timedelta(days=2), {
        "a1": ["när är det studiedag", "när har ni öppet?"],
        "a2": ["När är det studiedag?"],
        "a3": ["när är det studiedag"],
        "a4": ["studiedag nästa vecka?"],
        "b1": ["min mejl är anna.svensson@example.com, skicka beslutet om parkeringen dit"],
        "b2": ["ring mig på 070-123 45 67 om parkeringen"],
        "c1": ["hur söker jag bygglov för 19121212-1212"],
    })
    # Older than the retention window (90 days in settings.yaml): not reported.
    await _talk(holder, tmp_path, NOW - timedelta(days=120), {"old": ["vem vann melodifestivalen"]})

    run = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--now", NOW.strftime("%Y-%m-%dT%H:%M"))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0] == ("Questions that got the fallback or a clarification in the last 90 days: 7, in 4 group(s), "
                        "most frequent first")
    assert lines[1] == '4 × "när är det studiedag"  (fallback 4, clarify 0)'
    assert '    also: "När är det studiedag?"' in lines[2:5]
    assert '    also: "studiedag nästa vecka?"' in lines[2:5]
    assert lines[-1].startswith("Add the common ones as phrasings")
    # Masked: no e-mail, phone or personnummer reaches the report.
    for secret in ("anna.svensson", "example.com", "070-123", "45 67", "19121212", "1212"):
        assert secret not in out
    assert "[EMAIL]" in out and "[PHONE]" in out and "[PNR]" in out
    # Answered questions and old ones are not gaps.
    assert "öppet" not in out and "melodifestivalen" not in out
    assert out.index("studiedag") < out.index("parkeringen")  # most frequent first

    narrow = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--now", NOW.strftime("%Y-%m-%dT%H:%M"),
                 "--days", "1", "--lang", "sv")
    assert narrow.returncode == 0
    assert narrow.stdout.strip() == ("Ingen fråga fick reservsvaret eller ett förtydligande de senaste 1 dagarna.")

    wide = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--now", NOW.strftime("%Y-%m-%dT%H:%M"),
               "--days", "200", "--lang", "sv")
    assert "melodifestivalen" in wide.stdout
    assert wide.stdout.splitlines()[0].startswith("Frågor som fick reservsvaret eller ett förtydligande de senaste 200")


async def test_gaps_counts_clarifications(holder, tmp_path, kdir):
    from tests.staff.test_staff_try_eval import TWO_STAFF_DAYS
    from bot.holder import KnowledgeHolder

    (kdir / "faq" / "skola.yaml").write_text(TWO_STAFF_DAYS, encoding="utf-8")
    local = KnowledgeHolder(kdir, all_flows())
    await _talk(local, tmp_path, NOW, {"x1": ["studiedagar hösten och våren"], "x2": ["studiedagar hösten och våren"]})
    run = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--now", NOW.strftime("%Y-%m-%dT%H:%M"),
              "--dir", str(kdir))
    assert '2 × "studiedagar hösten och våren"  (fallback 0, clarify 2)' in run.stdout.splitlines()


def test_gaps_refuses_a_data_dir_without_conversations(tmp_path):
    run = cli("knowledge", "gaps", "--data-dir", str(tmp_path / "vaar"), "--days", "7", "--lang", "sv")
    assert run.returncode == 2 and run.stdout == ""
    assert f"hittar inga samtal i {tmp_path / 'vaar'}" in run.stderr
    (tmp_path / "sessions").mkdir()
    empty = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--days", "7")
    assert empty.returncode == 2 and "finds no conversations" in empty.stderr


async def test_gaps_with_conversations_but_no_gaps(holder, tmp_path):
    await _talk(holder, tmp_path, NOW, {"s1": ["när har ni öppet?"]})
    run = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--days", "7",
              "--now", NOW.strftime("%Y-%m-%dT%H:%M"))
    assert run.returncode == 0
    assert run.stdout.strip() == "No question got the fallback or a clarification in the last 7 days."
    bad = cli("knowledge", "gaps", "--data-dir", str(tmp_path), "--days", "0")
    assert bad.returncode == 2 and "--days" in bad.stderr
