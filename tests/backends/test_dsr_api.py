"""The data-rights backend's machine API over a real loopback server: filing, idempotency,
references, deadlines, validation and the bearer token."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backends.dsr.app import DsrConfig, create_app, load_texts
from backends.dsr.store import read_tables

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-backend-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STHLM = ZoneInfo("Europe/Stockholm")


class Clock:
    """A settable clock for the backend."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def request_body(**overrides):
    body = {
        "right": "access",
        "on_behalf_of": "child",
        "requester": {"name": "Anna Andersson", "email": "anna@example.com", "phone": "070-123 45 67"},
        "child": {"name": "Bo Andersson", "school": "Söndrumsskolan"},
        "description": "Jag vill ha ett registerutdrag.",
        "language": "sv",
        "channel": "web",
    }
    body.update(overrides)
    return body


class Backend:
    def __init__(self, client: TestClient, clock: Clock, data_dir: Path, prefix: str = "/") -> None:
        self.client, self.clock, self.data_dir, self.prefix = client, clock, data_dir, prefix

    async def file(self, body=None, key="key-1", headers=None):
        hdrs = {**AUTH, "Idempotency-Key": key}
        hdrs.update(headers or {})
        return await self.client.post(self.prefix + "api/requests", json=body or request_body(),
                                      headers=hdrs)

    def stored(self, table="cases") -> list[dict]:
        return list(read_tables(self.data_dir)[table].values())

    def raw(self) -> dict[str, bytes]:
        """Every stored file's bytes (to check that nothing was written)."""
        return {p.name: p.read_bytes() for p in self.data_dir.iterdir() if p.is_file()}


async def start(data_dir: Path, clock: Clock, mount: str | None = None) -> Backend:
    config = DsrConfig(data_dir=data_dir, token=TOKEN, texts=load_texts(ROOT / "knowledge"),
                       clock=clock)
    app = create_app(config)
    if mount:
        root = web.Application()
        root.add_subapp(mount, app)
        app = root
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Backend(client, clock, data_dir, prefix=mount or "/")


@pytest.fixture
async def backend(tmp_path):
    b = await start(tmp_path, Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM)))
    yield b
    await b.client.close()


async def test_a_request_gets_a_reference_received_time_and_due_date(backend):
    resp = await backend.file()
    assert resp.status == 201
    data = await resp.json()
    assert data == {"reference": "DSR-2026-00001", "received_at": "2026-11-24T10:00:00+01:00",
                    "due_date": "2026-12-28", "status": "received"}
    [case] = backend.stored()
    assert case["reference"] == "DSR-2026-00001"
    assert case["requester"]["email"] == "anna@example.com"
    assert case["child"] == {"name": "Bo Andersson", "school": "Söndrumsskolan"}


async def test_the_received_date_is_the_stockholm_local_date(backend):
    # 23:30 UTC on 30 January is 00:30 on 31 January in Stockholm.
    backend.clock.at = datetime.fromisoformat("2026-01-30T23:30:00+00:00")
    data = await (await backend.file()).json()
    assert data["received_at"] == "2026-01-31T00:30:00+01:00"
    assert data["due_date"] == "2026-03-02"


async def test_midsommar_deadline_through_the_api(backend):
    backend.clock.at = datetime(2026, 5, 19, 9, 0, tzinfo=STHLM)
    assert (await (await backend.file()).json())["due_date"] == "2026-06-22"


async def test_references_are_sequential_per_year_and_unique(backend):
    refs = [(await (await backend.file(key=f"k{i}")).json())["reference"] for i in range(3)]
    assert refs == ["DSR-2026-00001", "DSR-2026-00002", "DSR-2026-00003"]
    backend.clock.at = datetime(2027, 1, 5, 9, 0, tzinfo=STHLM)
    data = await (await backend.file(key="k-next-year")).json()
    assert data["reference"] == "DSR-2027-00001"


async def test_concurrent_requests_with_different_keys_get_distinct_references(backend):
    responses = await asyncio.gather(*(backend.file(key=f"c{i}") for i in range(25)))
    assert {r.status for r in responses} == {201}
    refs = sorted([(await r.json())["reference"] for r in responses])
    assert refs == [f"DSR-2026-{i:05d}" for i in range(1, 26)]
    assert len(backend.stored()) == 25


async def test_the_same_key_and_body_again_gives_the_same_answer_and_no_new_case(backend):
    first = await backend.file(key="same")
    second = await backend.file(key="same")
    assert first.status == 201 and second.status in (200, 201)
    assert await first.json() == await second.json()
    assert len(backend.stored()) == 1


async def test_the_same_body_in_another_key_order_counts_as_the_same_request(backend):
    body = request_body()
    reordered = dict(reversed(list(body.items())))
    first = await backend.file(body, key="order")
    resp = await backend.client.post("/api/requests", data=json.dumps(reordered),
                                     headers={**AUTH, "Idempotency-Key": "order",
                                              "Content-Type": "application/json"})
    assert resp.status in (200, 201)
    assert await resp.json() == await first.json()
    assert len(backend.stored()) == 1


async def test_the_same_key_with_another_body_is_a_conflict(backend):
    await backend.file(key="k")
    before = backend.raw()
    resp = await backend.file(request_body(right="erasure"), key="k")
    assert resp.status == 409
    assert isinstance((await resp.json())["error"], str)
    assert backend.raw() == before


async def test_concurrent_requests_with_one_key_make_exactly_one_case(backend):
    responses = await asyncio.gather(*(backend.file(key="burst") for _ in range(20)))
    assert {r.status for r in responses} <= {200, 201}
    answers = [await r.json() for r in responses]
    assert all(a == answers[0] for a in answers)
    assert len(backend.stored()) == 1
    assert len(backend.stored("idempotency")) == 1


async def test_an_answered_request_survives_a_restart_and_its_key_still_replays(tmp_path):
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM))
    first = await start(tmp_path, clock)
    answer = await (await first.file(key="durable")).json()
    await first.client.close()

    second = await start(tmp_path, clock)
    try:
        replay = await second.file(key="durable")
        assert replay.status in (200, 201)
        assert await replay.json() == answer
        nxt = await (await second.file(key="other")).json()
        assert nxt["reference"] == "DSR-2026-00002"
        assert len(second.stored()) == 2
    finally:
        await second.client.close()


def _with_requester(**requester):
    return request_body(requester=requester)


BAD_BODIES = [
    ("unknown right", request_body(right="forget_me")),
    ("right of wrong type", request_body(right=5)),
    ("missing contact", _with_requester(name="Anna")),
    ("blank contact", _with_requester(name="Anna", email="", phone="  ")),
    ("bad e-mail", _with_requester(name="Anna", email="anna(at)example")),
    ("bad phone", _with_requester(name="Anna", phone="call me maybe")),
    ("missing name", _with_requester(email="anna@example.com")),
    ("empty name", _with_requester(name=" ", email="anna@example.com")),
    ("long name", _with_requester(name="A" * 201, email="anna@example.com")),
    ("requester not an object", request_body(requester="Anna, anna@example.com")),
    ("unknown requester field", _with_requester(name="Anna", email="a@example.com", pnr="x")),
    ("unknown field", request_body(personnummer="190101-0101")),
    ("long description", request_body(description="x" * 5001)),
    ("description not a string", request_body(description=["a"])),
    ("bad on_behalf_of", request_body(on_behalf_of="neighbour")),
    ("bad language", request_body(language="de")),
    ("bad channel", request_body(channel="<b>web</b>")),
    ("child not an object", request_body(child="Bo")),
    ("child without name", request_body(child={"school": "X"})),
    ("a list", [request_body()]),
    ("a string", "hello"),
]


@pytest.mark.parametrize("name, body", BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
async def test_a_bad_body_is_refused_with_a_clear_error_and_nothing_is_stored(backend, name, body):
    await backend.file(key="existing")
    before = backend.raw()
    resp = await backend.client.post("/api/requests", data=json.dumps(body),
                                     headers={**AUTH, "Idempotency-Key": "bad",
                                              "Content-Type": "application/json"})
    assert resp.status in (400, 422), name
    error = (await resp.json())["error"]
    assert isinstance(error, str) and len(error) > 5
    assert backend.raw() == before


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe", b'{"right": NaN}', b"[" * 100000])
async def test_a_body_that_is_not_json_is_a_400(backend, raw):
    await backend.file(key="existing")
    before = backend.raw()
    resp = await backend.client.post("/api/requests", data=raw,
                                     headers={**AUTH, "Idempotency-Key": "raw",
                                              "Content-Type": "application/json"})
    assert resp.status == 400
    assert "error" in await resp.json()
    assert backend.raw() == before


async def test_a_one_megabyte_description_is_refused_and_nothing_is_stored(backend):
    await backend.file(key="existing")
    before = backend.raw()
    resp = await backend.file(request_body(description="x" * 1024 * 1024), key="huge")
    assert resp.status == 413
    assert "too large" in (await resp.json())["error"]
    assert backend.raw() == before


async def test_a_one_megabyte_description_is_refused_when_mounted(tmp_path):
    b = await start(tmp_path, Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM)), mount="/dsr/")
    try:
        resp = await b.file(request_body(description="x" * 1024 * 1024), key="huge")
        assert resp.status == 413
        assert "error" in await resp.json()
        assert b.stored() == []
    finally:
        await b.client.close()


@pytest.mark.parametrize("key", [None, "", "k" * 129, "has space", "ünïcode"])
async def test_a_missing_or_invalid_idempotency_key_is_a_400(backend, key):
    headers = dict(AUTH)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await backend.client.post("/api/requests", json=request_body(),
                                     headers={k: v.encode("utf-8").decode("latin-1")
                                              for k, v in headers.items()})
    assert resp.status == 400
    assert "Idempotency-Key" in (await resp.json())["error"]
    assert backend.stored() == []


async def test_a_128_character_key_is_accepted(backend):
    assert (await backend.file(key="k" * 128)).status == 201


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"bearer{TOKEN}"])
async def test_without_the_right_token_the_api_answers_401(backend, auth):
    headers = {"Idempotency-Key": "k"}
    if auth is not None:
        headers["Authorization"] = auth
    resp = await backend.client.post("/api/requests", json=request_body(), headers=headers)
    assert resp.status == 401
    assert "error" in await resp.json()
    assert backend.stored() == []
    status = await backend.client.get("/api/requests/DSR-2026-00001", headers=headers)
    assert status.status == 401


async def test_the_bot_can_ask_for_a_cases_public_status(backend):
    ref = (await (await backend.file()).json())["reference"]
    resp = await backend.client.get(f"/api/requests/{ref}", headers=AUTH)
    assert resp.status == 200
    data = await resp.json()
    assert data["reference"] == ref
    assert data["status"] == "received"
    assert data["due_date"] == "2026-12-28"
    assert "anna" not in json.dumps(data).lower()    # no personal data in the status answer
    missing = await backend.client.get("/api/requests/DSR-2026-09999", headers=AUTH)
    assert missing.status == 404 and "error" in await missing.json()
    malformed = await backend.client.get("/api/requests/..%2Fetc", headers=AUTH)
    assert malformed.status == 404


async def test_phone_only_and_null_email_are_accepted(backend):
    body = request_body(requester={"name": "Anna", "email": None, "phone": "+46 70 123 45 67"},
                        child=None, on_behalf_of="self", channel="telegram", language="en")
    resp = await backend.file(body)
    assert resp.status == 201
    [case] = backend.stored()
    assert case["requester"] == {"name": "Anna", "email": None, "phone": "+46 70 123 45 67"}
    assert case["child"] is None


async def test_mounted_under_dsr_the_api_works_at_the_prefix(tmp_path):
    b = await start(tmp_path, Clock(datetime(2026, 11, 24, 10, 0, tzinfo=STHLM)), mount="/dsr/")
    try:
        resp = await b.file()
        assert resp.status == 201
        assert (await resp.json())["due_date"] == "2026-12-28"
    finally:
        await b.client.close()
