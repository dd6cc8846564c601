"""The data-protection officer's workplace over a real loopback server (issue 15, items 10-13):
the list's filters and days-left column, the statuses that match practice with their deadline
effects on dates, notes, assignees, corrections, the response letter in Swedish and English,
the link to the conversation and the audit entry a view leaves."""
from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.backends.test_dsr_staff import AUTH, STHLM, csrf_of, start

BODY = {"right": "access", "on_behalf_of": "self",
        "requester": {"name": "Anna Andersson", "email": "anna@example.com"},
        "description": "Jag vill se vad ni har sparat.", "language": "sv", "channel": "web"}


@pytest.fixture
async def staff(tmp_path):
    s = await start(tmp_path)
    yield s
    await s.client.close()


def at(*parts) -> datetime:
    return datetime(*parts, 10, 0, tzinfo=STHLM)


async def file(staff, key: str, when: datetime, **changes) -> str:
    """File a request at `when` (the backend's clock) and return its reference."""
    staff.clock.at = when
    resp = await staff.client.post(staff.url("api/requests"), json={**BODY, **changes},
                                   headers={**AUTH, "Idempotency-Key": key})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["reference"]


async def post(staff, ref: str, action: str, **fields):
    """Post one of the case page's forms (with its CSRF token)."""
    return await staff.post_form(f"cases/{ref}/{action}", ref, **fields)


async def move(staff, ref: str, *statuses: str, reason: str = "") -> None:
    for status in statuses:
        resp = await post(staff, ref, "status", status=status, reason=reason)
        assert resp.status == 303, (status, await resp.text())


async def listing(staff, query: str = "") -> str:
    resp = await staff.client.get(staff.url("cases" + query))
    assert resp.status == 200
    return await resp.text()


def rows(page: str) -> list[str]:
    """The table rows of a list page, in order."""
    if "<tbody>" not in page:
        return []
    return re.findall(r"<tr>.*?</tr>", page.split("<tbody>")[1].split("</tbody>")[0])


def row_of(page: str, ref: str) -> str:
    [row] = [r for r in rows(page) if ref in r]
    return row


def refs(page: str) -> list[str]:
    return [re.search(r"DSR-\d{4}-\d{5}", r).group(0) for r in rows(page)]


async def test_the_list_filters_open_overdue_this_week_mine_closed_and_all(staff):
    overdue = await file(staff, "a", at(2026, 10, 1))         # due 2026-11-02
    this_week = await file(staff, "b", at(2026, 11, 3))       # due 2026-12-03, a Thursday
    later = await file(staff, "c", at(2026, 11, 24), requester={"name": "Bo Berg", "phone": "035-123456"})
    closed = await file(staff, "d", at(2026, 10, 5))          # due 2026-11-05
    waiting = await file(staff, "e", at(2026, 11, 20))
    await staff.login()
    staff.clock.at = at(2026, 11, 4)
    await move(staff, closed, "identity_verified", "in_progress", "answered")
    staff.clock.at = at(2026, 11, 21)
    await move(staff, waiting, "waiting_for_requester", reason="Bett om BankID-inloggning i e-tjänsten")
    staff.clock.at = at(2026, 11, 30)                           # a Monday

    default = await listing(staff)
    assert refs(default) == [overdue, this_week, later, waiting]   # waiting last: clock stopped
    assert refs(await listing(staff, "?filter=open")) == refs(default)
    assert refs(await listing(staff, "?filter=overdue")) == [overdue]
    assert refs(await listing(staff, "?filter=week")) == [this_week]
    assert refs(await listing(staff, "?filter=closed")) == [closed]
    assert refs(await listing(staff, "?filter=all")) == [overdue, this_week, later, waiting, closed]
    assert refs(await listing(staff, "?filter=mine")) == []
    assert refs(await listing(staff, "?filter=nonsense")) == refs(default)

    # The days-left column in words, the requester's name, the right, the assignee.
    assert "28 dagar försenad" in row_of(default, overdue) and "Försenad" in row_of(default, overdue)
    assert "3 dagar kvar" in row_of(default, this_week)
    assert "28 dagar kvar" in row_of(default, later) and "Bo Berg" in row_of(default, later)
    assert "Väntar på den sökande" in row_of(default, waiting)
    everything = await listing(staff, "?filter=all")
    assert "Avslutad i tid" in row_of(everything, closed)
    for header in ("Den som begär", "Rättighet", "Dagar kvar", "Handläggare"):
        assert f'<th scope="col">{header}</th>' in default
    assert "Anna Andersson" in row_of(default, overdue) and "Tillgång" in row_of(default, overdue)
    # The filters are links; the chosen one is marked for assistive technology, with counts.
    assert re.search(r'aria-current="page">Öppna \(4\)', default)
    assert re.search(r'aria-current="page">Försenade \(1\)', await listing(staff, "?filter=overdue"))

    # "Mina ärenden": the cases given to me.
    resp = await post(staff, this_week, "assign", assignee="handlaggare")
    assert resp.status == 303
    mine = await listing(staff, "?filter=mine")
    assert refs(mine) == [this_week] and "handlaggare" in row_of(mine, this_week)
    # English, with the filter kept by the language switch.
    english = await listing(staff, "?filter=overdue&lang=en")
    assert "28 days overdue" in english and "filter=overdue" in english.split('hreflang="sv"')[0][-200:]


async def test_assigning_needs_a_known_staff_member_and_is_audited(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    resp = await post(staff, ref, "assign", assignee="nobody")
    assert resp.status == 400 and "Det finns ingen sådan handläggare" in await resp.text()
    assert (await post(staff, ref, "assign", assignee="handlaggare")).status == 303
    assert staff.case(ref)["assignee"] == "handlaggare"
    assert (await post(staff, ref, "assign", assignee="")).status == 303
    assert staff.case(ref)["assignee"] is None
    assigned = [e for e in staff.audit(ref) if e["action"] == "assigned"]
    assert [e["to"] for e in assigned] == ["handlaggare", None]


async def test_waiting_for_the_requester_stops_the_clock_and_moves_the_due_date(staff):
    ref = await file(staff, "a", at(2026, 11, 24))             # due 2026-12-28
    await staff.login()
    staff.clock.at = at(2026, 11, 25)
    resp = await post(staff, ref, "status", status="waiting_for_requester", reason="")
    assert resp.status == 400 and "Skriv vad ni har bett den sökande om" in await resp.text()
    await move(staff, ref, "waiting_for_requester", reason="Bett om inloggning med BankID")
    # Past the first due date while waiting: not overdue, not in the overdue list.
    staff.clock.at = at(2026, 12, 30)
    assert refs(await listing(staff, "?filter=overdue")) == []
    page = await staff.case_page(ref)
    assert "Klockan har stått still 35 dagar" in page and "Försenad" not in page.split("<dl>")[1]
    # The extension waits until the wait is over.
    resp = await post(staff, ref, "extend", reason="Komplicerat", told_on="2026-11-30")
    assert resp.status == 400 and staff.case(ref)["extension"] is None
    # The requester answers on 2026-12-05 (recorded that day): 10 days stood still.
    staff.clock.at = at(2026, 12, 5)
    await move(staff, ref, "identity_verified")
    case = staff.case(ref)
    # 2026-12-24 + 10 days = 2027-01-03, a Sunday → Monday 2027-01-04.
    assert case["due_date"] == "2027-01-04" and case["original_due_date"] == "2026-12-28"
    assert case["waits"][0]["from"] == "2026-11-25" and case["waits"][0]["until"] == "2026-12-05"
    [resumed] = [e for e in staff.audit(ref) if e["action"] == "status" and e["from"] == "waiting_for_requester"]
    assert resumed["due_date"] == "2027-01-04"
    public = await staff.client.get(staff.url(f"api/requests/{ref}"), headers=AUTH)
    assert (await public.json())["due_date"] == "2027-01-04"
    # The first month (for telling of an extension) moved too: told on 2027-01-02 is in time.
    staff.clock.at = at(2027, 1, 2)
    resp = await post(staff, ref, "extend", reason="Många system att söka i", told_on="2027-01-02")
    assert resp.status == 303
    # 2027-02-24 + 10 days = 2027-03-06, a Saturday → Monday 2027-03-08.
    assert staff.case(ref)["due_date"] == "2027-03-08"
    staff.clock.at = at(2027, 1, 5)
    assert refs(await listing(staff, "?filter=overdue")) == []


async def test_a_case_overdue_when_the_wait_began_stays_overdue(staff):
    ref = await file(staff, "a", at(2026, 10, 1))              # due 2026-11-02
    await staff.login()
    staff.clock.at = at(2026, 11, 10)
    await move(staff, ref, "waiting_for_requester", reason="Bett om legitimation vid besök")
    staff.clock.at = at(2026, 11, 20)
    assert refs(await listing(staff, "?filter=overdue")) == [ref]
    # The 10 days stood still are added to the month's end (Sunday 2026-11-01) before it moves
    # off a non-working day: 2026-11-11, nine days before today.
    assert "9 dagar försenad" in row_of(await listing(staff), ref)


async def test_partly_granted_needs_granted_and_refused_parts_and_closes_the_case(staff):
    ref = await file(staff, "a", at(2026, 11, 24), right="erasure")   # due 2026-12-28
    await staff.login()
    await move(staff, ref, "identity_verified", "in_progress")
    resp = await post(staff, ref, "status", status="partly_granted", reason="Se delarna")
    assert resp.status == 400 and "minst en beviljad och en avslagen del" in await resp.text()
    resp = await post(staff, ref, "parts", text="Radering av chattloggen", outcome="granted", ground="")
    assert resp.status == 303
    resp = await post(staff, ref, "parts", text="Radering av frånvarouppgifter", outcome="refused",
                      ground="", explanation="")
    assert resp.status == 400 and "Välj den rättsliga grunden" in await resp.text()
    resp = await post(staff, ref, "parts", text="Radering av frånvarouppgifter", outcome="refused",
                      ground="other", explanation="")
    assert resp.status == 400 and "Förklara grunden" in await resp.text()
    resp = await post(staff, ref, "parts", text="Radering av frånvarouppgifter", outcome="refused",
                      ground="archive_law", explanation="Frånvaro sparas i fem år för CSN.")
    assert resp.status == 303
    parts = staff.case(ref)["parts"]
    assert [(p["outcome"], p["ground"]) for p in parts] == [("granted", None), ("refused", "archive_law")]
    # Answered (granted in full) does not fit a refused part.
    resp = await post(staff, ref, "status", status="answered", reason="")
    assert resp.status == 400 and "En del är avslagen" in await resp.text()
    resp = await post(staff, ref, "status", status="partly_granted", reason="")
    assert resp.status == 400
    staff.clock.at = at(2026, 12, 30)                           # two days after the due date
    await move(staff, ref, "partly_granted", reason="Frånvarouppgifter ska bevaras enligt arkivlagen.")
    case = staff.case(ref)
    assert case["status"] == "partly_granted"
    # Closed: no longer overdue, listed with the closed ones, two days late in words.
    staff.clock.at = at(2027, 3, 1)
    assert refs(await listing(staff, "?filter=overdue")) == [] and refs(await listing(staff)) == []
    assert "Avslutad 2 dagar för sent" in row_of(await listing(staff, "?filter=closed"), ref)
    # The parts no longer change on a closed case.
    resp = await post(staff, ref, "parts", text="Något mer", outcome="granted", ground="")
    assert resp.status == 400 and len(staff.case(ref)["parts"]) == 2


async def test_a_decision_part_can_be_removed_while_the_case_is_open(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    await post(staff, ref, "parts", text="Kopia av frånvarouppgifter", outcome="granted", ground="")
    part_id = str(staff.case(ref)["parts"][0]["id"])
    assert (await post(staff, ref, "parts/remove", part="999")).status == 400
    assert (await post(staff, ref, "parts/remove", part=part_id)).status == 303
    assert staff.case(ref)["parts"] == []
    actions = [e["action"] for e in staff.audit(ref)]
    assert "part_added" in actions and "part_removed" in actions


async def test_withdrawn_closes_an_overdue_case_without_calling_it_late(staff):
    ref = await file(staff, "a", at(2026, 11, 24))             # due 2026-12-28
    await staff.login()
    staff.clock.at = at(2026, 12, 30)
    assert refs(await listing(staff, "?filter=overdue")) == [ref]
    resp = await post(staff, ref, "status", status="withdrawn", reason="")
    assert resp.status == 400 and "hur och när den sökande återkallade" in await resp.text()
    await move(staff, ref, "withdrawn", reason="Ringde 2026-12-30 och återkallade begäran.")
    assert refs(await listing(staff, "?filter=overdue")) == []
    row = row_of(await listing(staff, "?filter=closed"), ref)
    assert "Återkallad" in row and "för sent" not in row and "Försenad" not in row


async def test_a_note_keeps_the_status_and_is_audited(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    assert (await post(staff, ref, "note", text="   ")).status == 400
    resp = await post(staff, ref, "note", text="Ringde, inget svar. Försöker igen i morgon.")
    assert resp.status == 303
    case = staff.case(ref)
    assert case["status"] == "received" and len(case["history"]) == 1
    assert case["notes"][0]["text"].startswith("Ringde") and case["notes"][0]["by"] == "handlaggare"
    [entry] = [e for e in staff.audit(ref) if e["action"] == "note"]
    assert entry["by"] == "handlaggare" and entry["reason"].startswith("Ringde")
    assert "Ringde, inget svar" in await staff.case_page(ref)


async def test_a_closed_case_is_corrected_and_its_history_kept(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    resp = await post(staff, ref, "correct", status="refused", reason="x")
    assert resp.status == 400                               # an open case is not corrected
    await move(staff, ref, "identity_verified", "in_progress", "answered")
    resp = await post(staff, ref, "correct", status="refused", reason="")
    assert resp.status == 400 and "Skriv varför ärendet rättas" in await resp.text()
    resp = await post(staff, ref, "correct", status="answered", reason="Samma")
    assert resp.status == 400
    resp = await post(staff, ref, "correct", status="refused",
                      reason="Fel status: begäran avslogs enligt art. 12.5.")
    assert resp.status == 303
    case = staff.case(ref)
    assert [h["status"] for h in case["history"]] == [
        "received", "identity_verified", "in_progress", "answered", "refused"]
    assert case["history"][-1]["correction"] is True and case["history"][-1]["by"] == "handlaggare"
    [entry] = [e for e in staff.audit(ref) if e["action"] == "corrected"]
    assert (entry["from"], entry["to"]) == ("answered", "refused")
    page = await staff.case_page(ref)
    assert "(rättelse)" in page and "Besvarad (beviljad)" in page
    # Opened again for more work, then closed anew.
    assert (await post(staff, ref, "correct", status="in_progress", reason="Mer att göra")).status == 303
    assert staff.case(ref)["status"] == "in_progress"
    await move(staff, ref, "answered")


async def test_no_extension_form_on_an_overdue_case(staff):
    ref = await file(staff, "a", at(2026, 11, 24))             # due 2026-12-28
    await staff.login()
    page = await staff.case_page(ref)
    assert 'id="told-on"' in page
    staff.clock.at = at(2026, 12, 29)
    page = await staff.case_page(ref)
    assert 'id="told-on"' not in page and "kan inte förlängas" in page
    resp = await post(staff, ref, "extend", reason="Många begäranden", told_on="2026-12-15")
    assert resp.status == 400 and "försenat (sista svarsdag var 2026-12-28)" in await resp.text()
    assert staff.case(ref)["extension"] is None and staff.case(ref)["due_date"] == "2026-12-28"


async def test_viewing_a_case_or_its_letter_leaves_an_audit_entry(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    staff.clock.at = datetime(2026, 11, 26, 14, 5, tzinfo=STHLM)
    await staff.case_page(ref)
    resp = await staff.client.get(staff.url(f"cases/{ref}/letter?lang=en"))
    assert resp.status == 200
    entries = [e for e in staff.audit(ref) if e["action"] in ("viewed", "letter")]
    assert entries == [
        {"reference": ref, "at": "2026-11-26T14:05:00+01:00", "by": "handlaggare",
         "action": "viewed", "reason": None},
        {"reference": ref, "at": "2026-11-26T14:05:00+01:00", "by": "handlaggare",
         "action": "letter", "reason": None, "language": "en"}]
    page = await staff.case_page(ref)
    assert "Öppnade ärendet" in page and "Öppnade svarsbrevet (Engelska)" in page
    # Not audited for a visitor without a login (redirected) nor for an unknown case.
    staff.client.session.cookie_jar.clear()
    await staff.client.get(staff.url(f"cases/{ref}"), allow_redirects=False)
    assert len([e for e in staff.audit(ref) if e["action"] == "viewed"]) == 2


async def _decided_case(staff) -> str:
    ref = await file(staff, "a", at(2026, 11, 24), right="erasure", on_behalf_of="child",
                     child={"name": "Bo Andersson", "school": "Söndrumsskolan"},
                     description="Radera <b>allt</b> om Bo.")
    await staff.login()
    await move(staff, ref, "identity_verified", "in_progress")
    await post(staff, ref, "parts", text="Radering av chattloggen", outcome="granted", ground="")
    await post(staff, ref, "parts", text="Radering av frånvarouppgifter", outcome="refused",
               ground="art17_3_b", explanation="Frånvaro sparas i fem år för rapportering till CSN.")
    staff.clock.at = datetime(2026, 12, 10, 9, 0, tzinfo=STHLM)
    await move(staff, ref, "partly_granted", reason="Frånvarouppgifter ska bevaras.")
    return ref


async def test_the_letter_in_swedish_has_every_field(staff):
    ref = await _decided_case(staff)
    resp = await staff.client.get(staff.url(f"cases/{ref}/letter"))    # the requester's language
    assert resp.status == 200
    letter = await resp.text()
    assert '<html lang="sv">' in letter and "@media print" in letter
    body = letter.split('<article class="letter">')[1]
    for field in ("Utbildnings- och arbetsmarknadsnämnden", "Anna Andersson", "anna@example.com",
                  f"Vårt ärende: {ref}", "Datum: 2026-12-10",
                  "Den 2026-11-24 fick vi din begäran", "Radering (art. 17)",
                  "Begäran gäller ditt barn Bo Andersson",
                  "Radera &lt;b&gt;allt&lt;/b&gt; om Bo.",              # escaped, as typed
                  "Vi beviljar din begäran delvis", "Radering av chattloggen", "Beviljas",
                  "Radering av frånvarouppgifter", "Avslås", "Skälen för avslag",
                  "Artikel 17.3 b i dataskyddsförordningen",
                  "Frånvaro sparas i fem år för rapportering till CSN.",
                  "Motivering: Frånvarouppgifter ska bevaras.",
                  "Integritetsskyddsmyndigheten (IMY)", "Box 8114, 104 20 Stockholm",
                  "överklaga beslutet till förvaltningsrätten", f"Ange ärendenummer {ref}"):
        assert field in body, field
    assert "UTKAST" not in body and "<b>allt" not in letter


async def test_the_letter_in_english_has_every_field(staff):
    ref = await _decided_case(staff)
    letter = await (await staff.client.get(staff.url(f"cases/{ref}/letter?lang=en"))).text()
    assert '<html lang="en">' in letter
    body = letter.split('<article class="letter">')[1]
    for field in ("The Education and Labour Market Committee", f"Our reference: {ref}",
                  "Date: 2026-12-10", "Dear Anna Andersson,",
                  "On 2026-11-24 we received your request", "Erasure (Art. 17)",
                  "The request concerns your child Bo Andersson", "We grant your request in part",
                  "Granted", "Refused", "Reasons for the refusal", "Article 17(3)(b) GDPR",
                  "Swedish Authority for Privacy Protection", "lodge a complaint",
                  "appeal against the decision", f"Give the reference {ref}"):
        assert field in body, field


async def test_the_letter_of_an_open_case_is_a_draft_without_appeal(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    letter = await (await staff.client.get(staff.url(f"cases/{ref}/letter"))).text()
    assert "UTKAST – ärendet är inte avslutat" in letter and "överklaga" not in letter
    assert "Integritetsskyddsmyndigheten" in letter
    assert (await staff.client.get(staff.url("cases/DSR-2026-99999/letter"))).status == 404


async def test_the_conversation_reference_is_kept_for_staff_only(tmp_path):
    s = await start(tmp_path, conversation_url="/agent/conversations/{conversation}")
    try:
        ref = await file(s, "a", at(2026, 11, 24), conversation="web-3f9a2c")
        bad = await s.client.post(s.url("api/requests"), json={**BODY, "conversation": "a b/c"},
                                  headers={**AUTH, "Idempotency-Key": "bad"})
        assert bad.status == 422 and "conversation" in (await bad.json())["error"]
        assert s.case(ref)["conversation"] == "web-3f9a2c"
        public = await (await s.client.get(s.url(f"api/requests/{ref}"), headers=AUTH)).json()
        assert "web-3f9a2c" not in str(public)
        await s.login()
        assert 'href="/agent/conversations/web-3f9a2c"' in await s.case_page(ref)
        staff_api = await (await s.client.get(s.url("api/staff/cases"))).text()
        letter = await (await s.client.get(s.url(f"cases/{ref}/letter"))).text()
        assert "web-3f9a2c" not in staff_api and "web-3f9a2c" not in letter
    finally:
        await s.client.close()


async def test_a_request_without_a_conversation_hashes_as_before(staff):
    # The same body under the same key replays: the optional field does not change old hashes.
    ref = await file(staff, "k", at(2026, 11, 24))
    again = await staff.client.post(staff.url("api/requests"), json=BODY,
                                    headers={**AUTH, "Idempotency-Key": "k"})
    assert again.status == 200 and (await again.json())["reference"] == ref
    other = await staff.client.post(staff.url("api/requests"), json={**BODY, "conversation": "x"},
                                    headers={**AUTH, "Idempotency-Key": "k"})
    assert other.status == 409
    assert "conversation" not in staff.case(ref)


async def test_every_form_needs_the_csrf_token(staff):
    ref = await file(staff, "a", at(2026, 11, 24))
    await staff.login()
    await staff.case_page(ref)
    for action, fields in (("note", {"text": "x"}), ("assign", {"assignee": "handlaggare"}),
                           ("parts", {"text": "x", "outcome": "granted"}),
                           ("correct", {"status": "refused", "reason": "x"})):
        resp = await staff.client.post(staff.url(f"cases/{ref}/{action}"), allow_redirects=False,
                                       data={**fields, "csrf": "forged"})
        assert resp.status == 403, action
    case = staff.case(ref)
    assert not case.get("notes") and not case.get("assignee") and not case.get("parts")
    assert csrf_of(await staff.case_page(ref))
