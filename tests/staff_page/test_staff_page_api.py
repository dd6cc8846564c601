"""The knowledge page's API on a real app on loopback: logins, drafts, publish, history, restore,
problems next to their field, hours, preview."""
from __future__ import annotations

import copy
import json

import pytest
from aiohttp import web

from tests.staff_page.conftest import Browser

ENTRY = "absence-wrong"
OLD = "Kontakta ditt barns mentor eller skolan"
NEW = "Ring ditt barns mentor i dag"
QUESTION = "fel frånvaro registrerad"


def staff_routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) of the /staff/api/ routes, with sample values for variables."""
    for resource in app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/staff":
            sub = info["app"]
            break
    else:
        raise AssertionError("/staff/ is not mounted")
    found = []
    for route in sub.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/staff/api/") and route.method != "HEAD":
            found.append((route.method, path.format(id=ENTRY, commit="abc1234", key="k")))
    return found


async def test_every_api_route_answers_401_without_a_login(server, browsers):
    stranger = await browsers()
    routes = staff_routes(server.app)
    assert len(routes) >= 20, routes
    for method, path in routes:
        status, body = await stranger.call(method, path, {} if method != "GET" else None)
        assert status == 401, (method, path, status)
        assert body["error"] == "Logga in först."


async def test_wrong_password_and_unknown_user_get_no_session(server, browsers):
    browser = await browsers()
    assert await browser.login("editor", "wrong-password-1") == 401
    assert await browser.login("nobody", "wrong-password-1") == 401
    assert (await browser.call("GET", "/staff/api/entries"))[0] == 401


async def test_a_state_change_needs_the_csrf_token(server, browsers):
    editor = await browsers("editor")
    editor.csrf = "forged"
    status, body = await editor.call("DELETE", "/staff/api/draft")
    assert status == 403 and "Ladda om sidan" in body["error"]


async def _changed_entry(browser: Browser) -> dict:
    status, body = await browser.call("GET", f"/staff/api/entries/{ENTRY}")
    assert status == 200 and body["draft"] is False
    entry = copy.deepcopy(body["entry"])
    entry["answer"]["sv"] = entry["answer"]["sv"].replace(OLD, NEW)
    return entry


async def test_editor_saves_a_draft_publisher_publishes_and_the_chat_answers(server, browsers):
    editor, publisher = await browsers("editor"), await browsers("publisher")
    live = server.kdir / "faq" / "absence.yaml"
    before = live.read_text(encoding="utf-8")
    status, body = await editor.call("PUT", f"/staff/api/entries/{ENTRY}", {"entry": await _changed_entry(editor)})
    assert status == 200, body
    assert live.read_text(encoding="utf-8") == before  # the draft only
    assert OLD in await editor.chat("g-1", QUESTION)
    assert (await editor.call("GET", "/staff/api/draft"))[1] == {
        "changed": [{"id": ENTRY, "what": "changed"}], "by": ["editor"]}
    listed = (await editor.call("GET", "/staff/api/entries?q=frånvaro"))[1]["entries"]
    assert {"id": ENTRY, "draft": True}.items() <= next(e for e in listed if e["id"] == ENTRY).items()

    status, body = await editor.call("POST", "/staff/api/publish", {"message": ""})
    assert status == 403 and "publicerare" in body["error"]
    status, body = await publisher.call("POST", "/staff/api/publish", {"message": "Nytt svar om frånvaro"})
    assert status == 200, body
    assert body["reloaded"] is True and body["changed"] == [{"id": ENTRY, "what": "changed"}]
    after = live.read_text(encoding="utf-8")
    assert NEW in after and OLD not in after
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in after.splitlines() for line in comments)
    # Only the answer's line changed: order, quotes and every other entry are as they were.
    assert [a for a, b in zip(before.splitlines(), after.splitlines()) if a != b] == \
        [line for line in before.splitlines() if OLD in line]
    assert NEW in await publisher.chat("g-2", QUESTION)
    assert (await editor.call("GET", "/staff/api/draft"))[1] == {"changed": [], "by": []}


async def test_history_shows_who_and_what_and_restore_brings_the_old_answer_back(server, browsers):
    publisher = await browsers("publisher")
    await publisher.call("PUT", f"/staff/api/entries/{ENTRY}", {"entry": await _changed_entry(publisher)})
    status, published = await publisher.call("POST", "/staff/api/publish", {"message": "Kortare svar"})
    assert status == 200
    status, body = await publisher.call("GET", f"/staff/api/history?entry={ENTRY}")
    newest, first = body["versions"][0], body["versions"][-1]
    assert (newest["commit"], newest["author"], newest["message"], newest["changed"]) == \
        (published["commit"], "publisher", "Kortare svar", [ENTRY])
    assert first["message"] == "Starting point" and first["first"] and not newest["first"]
    status, version = await publisher.call("GET", f"/staff/api/history/{newest['commit']}?entry={ENTRY}")
    assert status == 200 and NEW in version["entry"]["answer"]["sv"]
    answer_diff = next(d for d in version["diff"] if d["field"] == "answer.sv")
    assert {"op": "added", "text": NEW.replace("mentor i dag", "mentor")} not in answer_diff["words"]
    assert any(w["op"] == "removed" and "Kontakta" in w["text"] for w in answer_diff["words"])
    assert any(w["op"] == "added" and "Ring" in w["text"] for w in answer_diff["words"])

    status, restored = await publisher.call("POST", f"/staff/api/history/{first['commit']}/restore", {"entry": ENTRY})
    assert status == 200, restored
    assert OLD in await publisher.chat("g-3", QUESTION)
    assert OLD in (server.kdir / "faq" / "absence.yaml").read_text(encoding="utf-8")
    versions = (await publisher.call("GET", f"/staff/api/history?entry={ENTRY}"))[1]["versions"]
    assert versions[0]["commit"] == restored["commit"] and versions[0]["author"] == "publisher"


async def test_an_editor_cannot_restore_when_review_is_needed(server, browsers):
    editor = await browsers("editor")
    first = (await editor.call("GET", "/staff/api/history"))[1]["versions"][-1]["commit"]
    status, _ = await editor.call("POST", f"/staff/api/history/{first}/restore", {"entry": ENTRY})
    assert status == 403


async def test_a_broken_field_is_422_with_its_field_and_nothing_changes(server, browsers):
    editor = await browsers("editor")
    entry = await _changed_entry(editor)
    entry["links"] = [{"label": {"sv": "Skolan", "en": "The school"}, "url": "www.halmstad.se/skola"}]
    del entry["answer"]["en"]
    files = {p: p.read_bytes() for p in server.kdir.rglob("*.yaml")}
    for lang, words in (("sv", "är inte en webbadress"), ("en", "is not a web address")):
        status, body = await editor.call("PUT", f"/staff/api/entries/{ENTRY}?lang={lang}", {"entry": entry})
        assert status == 422, body
        fields = {p["field"]: p["message"] for p in body["problems"] if p["severity"] == "error"}
        assert set(fields) == {"links.0.url", "answer.en"}, body["problems"]
        assert words in fields["links.0.url"] and fields["links.0.url"].startswith("knowledge/faq/absence.yaml:")
    assert {p: p.read_bytes() for p in server.kdir.rglob("*.yaml")} == files
    assert not (server.data_dir / "staff_draft" / "knowledge").exists()
    assert (await editor.call("GET", "/staff/api/draft"))[1]["changed"] == []


async def test_new_entry_then_remove_it_in_the_draft(server, browsers):
    editor = await browsers("editor")
    entry = {"id": "staff-day", "topic": "school",
             "phrasings": {"sv": ["när är det studiedag", "studiedag", "lärarna har studiedag"],
                           "en": ["when is the staff day", "staff day", "inset day"]},
             "answer": {"sv": "Studiedagarna står i skolans kalender.", "en": "The staff days are in the school's calendar."},
             "owner": "Utbildningsförvaltningen", "review_by": "2027-06-30"}
    status, body = await editor.call("POST", "/staff/api/entries", {"entry": entry, "file": "absence.yaml"})
    assert status == 201, body
    assert (await editor.call("POST", "/staff/api/entries", {"entry": entry, "file": "absence.yaml"}))[0] == 409
    status, got = await editor.call("GET", "/staff/api/entries/staff-day")
    assert got["entry"]["review_by"] == "2027-06-30" and got["entry"]["file"] == "absence.yaml"
    messages = (await editor.call("POST", "/staff/api/preview",
                                  {"text": "när är det studiedag", "session": "p1", "at": "2026-12-02T10:00"}))[1]
    assert "skolans kalender" in messages["messages"][0]["text"]
    assert (await editor.call("DELETE", "/staff/api/entries/staff-day"))[0] == 200
    assert (await editor.call("GET", "/staff/api/entries/staff-day"))[0] == 404
    assert (await editor.call("GET", "/staff/api/draft"))[1]["changed"] == []


async def test_preview_on_christmas_day_says_closed(server, browsers):
    editor = await browsers("editor")
    status, body = await editor.call("POST", "/staff/api/preview", {
        "text": "jag vill prata med en människa", "session": "jul", "at": "2026-12-25T10:00", "lang": "sv"})
    assert status == 200, body
    text = "\n".join(m["text"] for m in body["messages"])
    assert "har stängt just nu" in text and "28 december" in text, text
    status, body = await editor.call("POST", "/staff/api/preview", {
        "text": "jag vill prata med en människa", "session": "tisdag", "at": "2026-12-01T10:00", "lang": "sv"})
    assert "har stängt" not in "\n".join(m["text"] for m in body["messages"])
    assert server.app  # the live queue got nobody
    assert (await editor.call("POST", "/staff/api/preview", {"text": "x", "session": "s", "at": "jul"}))[0] == 400


async def test_hours_rule_warns_about_christmas_and_is_written_as_one_rule(server, browsers):
    editor = await browsers("editor")
    status, hours = await editor.call("GET", "/staff/api/hours")
    assert status == 200 and hours["hours"]["phone"]["fri"] == "07:00-16:00" and hours["warnings"] == []
    # The page's calendar marks every closed holiday of this year and the next, by name.
    assert {"date": "2026-12-25", "name": "Juldagen"} in hours["holidays"]
    assert {"date": "2027-06-25", "name": "Midsommarafton"} in hours["holidays"]
    hours["exceptions"].append({"rule": {"weekday": "fredag", "from": "2026-12-01", "to": "2026-12-31"},
                                "phone": "07:00-15:00", "open_on_holiday": True,
                                "note": {"sv": "Fredag i december", "en": "A Friday in December"}})
    hours["hours"]["phone"]["fri"] = "07:00-15:30"
    status, body = await editor.call("PUT", "/staff/api/hours", {"hours": hours["hours"], "exceptions": hours["exceptions"]})
    assert status == 200, body
    assert any("2026-12-25" in w["message"] and "Juldagen" in w["message"] for w in body["warnings"]), body
    draft = (server.data_dir / "staff_draft" / "knowledge" / "contact.yaml").read_text(encoding="utf-8")
    assert "rule:" in draft and "# Staff calendar of shortened hours" in draft
    assert 'fri: "07:00-15:30"}' in draft
    hours["hours"]["phone"]["fri"] = "15:00-07:00"
    status, body = await editor.call("PUT", "/staff/api/hours", {"hours": hours["hours"], "exceptions": hours["exceptions"]})
    assert status == 422
    assert [p["field"] for p in body["problems"] if p["severity"] == "error"] == ["hours.phone.fri"]


async def test_me_and_texts(server, browsers):
    editor = await browsers("editor")
    status, me = await editor.call("GET", "/staff/api/me")
    assert (status, me["user"], me["role"], me["review_needed"], me["may_publish"]) == (200, "editor", "editor", True, False)
    async with editor.http.get(f"{server.base}/staff/texts?lang=en") as resp:
        assert resp.status == 200 and (await resp.json())["lang"] == "en"
    async with editor.http.get(f"{server.base}/staff/?lang=en") as resp:
        html = await resp.text()
    assert resp.status == 200 and '<html lang="en">' in html and 'action="/staff/login"' in html
    assert "{{" not in html and "__DATA__" not in html and "Content-Security-Policy" in resp.headers
    async with editor.http.get(f"{server.base}/staff/static/staff.js") as resp:
        assert resp.status == 200 and "javascript" in resp.content_type
    async with editor.http.get(f"{server.base}/staff/static/..%2fpage.py") as resp:
        assert resp.status == 404
    async with editor.http.post(f"{server.base}/staff/login", allow_redirects=False,
                                data={"username": "editor", "password": "wrong-password", "lang": "en"}) as resp:
        assert resp.headers["Location"] == "/staff/?lang=en&login=failed"


@pytest.mark.parametrize("review_needed", [False])
async def test_an_editor_publishes_when_no_review_is_needed(tmp_path, kdir, review_needed):
    from tests.staff_page.conftest import running
    settings = kdir / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("review_needed: true", "review_needed: false"),
                        encoding="utf-8")
    async with running(tmp_path / "data", kdir) as srv:
        editor = Browser(srv.base)
        try:
            assert await editor.login("editor") == 303
            await editor.call("PUT", f"/staff/api/entries/{ENTRY}", {"entry": await _changed_entry(editor)})
            status, body = await editor.call("POST", "/staff/api/publish", {})
            assert status == 200, body
            assert json.loads(json.dumps(body))["reloaded"] is True
        finally:
            await editor.close()


async def test_a_login_posted_from_another_site_is_refused(server, browsers):
    browser = await browsers()
    form = {"username": "editor", "password": "demo-editor-password"}
    async with browser.http.post(f"{server.base}/staff/login", data=form, allow_redirects=False,
                                 headers={"Origin": "https://evil.example"}) as resp:
        assert resp.headers["Location"].endswith("login=failed")
    assert (await browser.call("GET", "/staff/api/me"))[0] == 401


async def test_disabling_a_login_ends_its_session_at_once(server, browsers):
    from bot.staff_page.accounts import change_login
    editor = await browsers("editor")
    assert (await editor.call("GET", "/staff/api/me"))[0] == 200
    change_login(server.data_dir, "editor", remove=False)
    assert (await editor.call("GET", "/staff/api/me"))[0] == 401
    assert await editor.login("editor") == 401


async def test_an_edit_made_in_the_files_meanwhile_is_kept_and_is_its_own_version(server, browsers):
    publisher = await browsers("publisher")
    entry = await _changed_entry(publisher)
    renamed = {**entry, "id": "absence-wrongly-registered"}
    status, body = await publisher.call("PUT", f"/staff/api/entries/{ENTRY}?lang=en", {"entry": renamed})
    assert status == 422  # the test cases still name the old id: said, with where they are
    assert any(p["file"].startswith("tests/") and f"unknown entry '{ENTRY}'" in p["message"] for p in body["problems"])
    assert (await publisher.call("PUT", f"/staff/api/entries/{ENTRY}", {"entry": entry}))[0] == 200
    await publisher.call("GET", "/staff/api/history")  # the history starts here
    contact = server.kdir / "faq" / "contact.yaml"
    edited = contact.read_text(encoding="utf-8").replace("utom helgdagar.", "utom helgdagar och klämdagar.", 1)
    contact.write_text(edited, encoding="utf-8")
    status, body = await publisher.call("POST", "/staff/api/publish", {"message": "Nytt id"})
    assert status == 200, body
    assert contact.read_text(encoding="utf-8") == edited
    versions = (await publisher.call("GET", "/staff/api/history"))[1]["versions"]
    assert [(v["author"], v["message"]) for v in versions[:2]] == [
        ("publisher", "Nytt id"), ("files", "Ändringar gjorda direkt i filerna")]
    assert "contact-phone" in versions[1]["changed"] or versions[1]["changed"]
    assert NEW in await publisher.chat("g-4", QUESTION)


async def test_guessing_passwords_is_throttled_as_every_login(server, browsers):
    browser = await browsers()
    seen = []
    for _ in range(7):
        async with browser.http.post(f"{server.base}/staff/login", allow_redirects=False,
                                     data={"username": "editor", "password": "guess-guess-guess"}) as resp:
            seen.append(resp.headers["Location"])
    assert seen[0] == "/staff/?lang=sv&login=failed"
    assert seen[-1].startswith("/staff/?lang=sv&login=throttled&wait=")
