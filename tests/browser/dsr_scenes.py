"""A week at the data-protection officer's desk: data-rights cases in every state, for the
browser tests (test_dsr_workplace.py) and the screenshots (dsr_screenshots.py).

On Monday 2026-11-30 the officer `handlaggare` finds: an overdue access request, an erasure
request for a child due this Thursday (given to her), a rectification waiting for the requester's
identity, a fresh objection in English, and an erasure closed last month as partly granted with
its decision per part.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from backends.dsr import cases, parts
from backends.dsr.app import DsrConfig, add_staff, create_app, load_texts
from backends.dsr.store import DsrStore
from tests.backends.test_dsr_staff import Clock

__all__ = ["Clock", "seed", "make_app", "log_in", "put_case", "TODAY"]

STHLM = ZoneInfo("Europe/Stockholm")
ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime(2026, 11, 30, 10, 0, tzinfo=STHLM)
USERNAME = "handlaggare"
PASSWORD = "browser password 123"
TOKEN = "dsr-scenes-token"


def body(name: str, right: str, **more) -> dict:
    """A request as the bot files it."""
    email = f"{name.split()[0].lower()}@example.com"
    return {"right": right, "on_behalf_of": "self", "requester": {"name": name, "email": email},
            "description": "", "language": "sv", "channel": "web", **more}


async def put_case(store: DsrStore, key: str, when: datetime, fields: dict,
                   receipt: bool = False) -> str:
    """File a case straight in the store, received at `when`; return its reference."""
    answer, _ = await store.create_case(
        key, key, lambda data: cases.new_case(fields, data["cases"], when.astimezone(STHLM),
                                              receipt=receipt))
    return answer["reference"]


async def _act(store: DsrStore, ref: str, when: datetime, change) -> None:
    at = when.isoformat(timespec="seconds")
    await store.update_case(ref, lambda case: change(case, at))


def day(month: int, date: int) -> datetime:
    return datetime(2026, month, date, 10, 0, tzinfo=STHLM)


async def seed(data_dir: Path) -> dict[str, str]:
    """Fill `data_dir` with the week's cases and two staff logins; return name -> reference."""
    add_staff(data_dir, USERNAME, PASSWORD)
    add_staff(data_dir, "dso.lars", PASSWORD)
    store = DsrStore(data_dir)
    refs = {
        "overdue": await put_case(store, "a", day(10, 1), body("Anna Andersson", "access",
                                  description="Jag vill ha ett registerutdrag.")),
        "week": await put_case(store, "b", day(11, 3), body(
            "Karin Lind", "erasure", on_behalf_of="child", child={"name": "Leo Lind", "school": "Söndrumsskolan"},
            description="Radera Leos frånvarouppgifter och chattloggen.")),
        "waiting": await put_case(store, "c", day(11, 20), body("Omar Hassan", "rectification",
                                  description="Min adress är fel.")),
        "fresh": await put_case(store, "d", day(11, 24), body("Eve Ek", "objection", language="en",
                                description="I object to the processing of my contact details.")),
        "closed": await put_case(store, "e", day(10, 5), body(
            "Maria Berg", "erasure", on_behalf_of="child", child={"name": "Sam Berg", "school": "Östergårdsskolan"},
            description="Radera allt om Sam i frånvarosystemet och chatten.")),
    }
    await _act(store, refs["week"], day(11, 4), lambda c, at: cases.assign(c, USERNAME, [USERNAME], USERNAME, at))
    await _act(store, refs["waiting"], day(11, 21), lambda c, at: cases.change_status(
        c, "waiting_for_requester", "Bett om inloggning med BankID i e-tjänsten", USERNAME, at))
    closed = refs["closed"]
    for status in ("identity_verified", "in_progress"):
        await _act(store, closed, day(10, 8), lambda c, at, s=status: cases.change_status(c, s, "", USERNAME, at))
    await _act(store, closed, day(10, 20), lambda c, at: parts.add_part(
        c, "Radering av chattloggen", "granted", "", "", USERNAME, at))
    await _act(store, closed, day(10, 20), lambda c, at: parts.add_part(
        c, "Radering av frånvarouppgifter", "refused", "archive_law",
        "Frånvarouppgifter sparas i fem år för rapportering till bland andra CSN.", USERNAME, at))
    await _act(store, closed, day(10, 21), lambda c, at: cases.change_status(
        c, "partly_granted", "Frånvarouppgifter ska bevaras enligt gallringsbeslutet.", USERNAME, at))
    await _act(store, closed, day(10, 21), lambda c, at: cases.add_note(
        c, "Brevet skickat med post och e-post.", USERNAME, at))
    store.close()
    return refs


def make_app(data_dir: Path, clock: Clock) -> web.Application:
    """The data-rights backend alone, on the scenes' data and clock."""
    return create_app(DsrConfig(data_dir=data_dir, token=TOKEN, texts=load_texts(ROOT / "knowledge"),
                                clock=clock, conversation_url="/agent/conversations/{conversation}"))


async def log_in(page, base: str) -> None:
    """Sign in as the officer in a Playwright page."""
    await page.goto(base + "cases")
    await page.fill("#username", USERNAME)
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/cases**")
