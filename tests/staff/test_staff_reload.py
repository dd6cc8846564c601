"""Live reload in `serve`: a valid edit is served within 5 s; an invalid one is refused and the
last valid knowledge keeps answering; a new entry written by following only the staff guide is
answered by the running server."""
from __future__ import annotations

import itertools
import re
import signal
import time

import pytest

from bot.reload import Reloader
from tests.serving import Server
from tests.staff.staffkit import ROOT, cli, replace_once

RELOAD_LIMIT = 5.0
_sessions = itertools.count()


@pytest.fixture
def server(tmp_path, kdir):
    srv = Server(tmp_path / "data", "--knowledge-dir", str(kdir), "--now", "2026-12-01T10:00",
                 "--rate-limit-per-address", "0", "--rate-limit-per-session", "0").start()
    yield srv
    srv.kill(signal.SIGTERM)


def ask(server: Server, text: str) -> str:
    """Ask as a new guardian (a fresh conversation) and return everything the bot said."""
    status, body = server.chat(f"staff-reload-{next(_sessions)}", text)
    assert status == 200, body
    return Server.texts(body)


def wait_for(predicate, limit: float = RELOAD_LIMIT + 5) -> float:
    """Poll `predicate` every 0.1 s; return the seconds it took to become true."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not true within {limit} s")


def health(server: Server) -> dict:
    status, body = server.get("/healthz")
    assert status == 200
    return body


QUESTION = "fel frånvaro registrerad"
OLD = "Kontakta ditt barns mentor eller skolan"
NEW = "Ring ditt barns mentor i dag"


def test_a_valid_edit_is_served_within_5_seconds(server, kdir):
    assert OLD in ask(server, QUESTION)
    version = health(server)["knowledge_version"]
    replace_once(kdir / "faq" / "absence.yaml", OLD, NEW)
    elapsed = wait_for(lambda: NEW in ask(server, QUESTION))
    assert elapsed < RELOAD_LIMIT, elapsed
    body = health(server)
    assert body["knowledge_version"] != version and body["last_reload_error"] is None


def test_an_invalid_edit_is_refused_and_the_last_valid_answers_keep_coming(server, kdir):
    faq = kdir / "faq" / "absence.yaml"
    good = faq.read_text(encoding="utf-8")
    version = health(server)["knowledge_version"]

    faq.write_text(good.replace(OLD, NEW, 1) + "  - id: [broken\n", encoding="utf-8")
    elapsed = wait_for(lambda: health(server)["last_reload_error"] is not None)
    assert elapsed < RELOAD_LIMIT
    body = health(server)
    assert body["knowledge_version"] == version
    assert "knowledge/faq/absence.yaml:" in body["last_reload_error"]
    assert "YAML syntax error" in body["last_reload_error"]
    for _ in range(3):
        text = ask(server, QUESTION)
        assert OLD in text and NEW not in text

    # A phrasing that another entry would answer is refused too (the matcher's collision check).
    faq.write_text(good, encoding="utf-8")
    (kdir / "faq" / "zz.yaml").write_text(
        "entries:\n  - id: zz-clash\n    phrasings:\n      sv: [\"öppettider era\", \"zz test\"]\n"
        "      en: [\"zz test en\", \"zz other\"]\n    answer: {sv: \"x\", en: \"y\"}\n    owner: x\n"
        "    review_by: 2030-01-01\n", encoding="utf-8")
    wait_for(lambda: "is answered with the entry 'hours-overview'" in (health(server)["last_reload_error"] or ""))
    assert health(server)["knowledge_version"] == version

    # Fixing the files lifts the refusal.
    (kdir / "faq" / "zz.yaml").unlink()
    faq.write_text(good.replace(OLD, NEW, 1), encoding="utf-8")
    wait_for(lambda: health(server)["last_reload_error"] is None)
    assert NEW in ask(server, QUESTION)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "knowledge reload refused errors=1" in log
    assert QUESTION not in log  # guardians' messages never reach the log


# Following only the staff guide ----------------------------------------------------------------

GUIDE = ROOT / "knowledge" / "README.md"
STUDIEDAG_SV = ["när är det studiedag", "studiedag", "har skolan studiedag", "studiedagar i skolan",
                "vad är en studiedag", "vilka dagar är det studiedag"]
STUDIEDAG_EN = ["when is the staff day", "staff day", "inset day", "teacher training day",
                "which days are staff days"]
ANSWER_SV = "Studiedagarna står i läsårets kalender på skolans webbplats. Fråga skolan om du undrar något."
ANSWER_EN = "The staff days are in the school year's calendar on the school's website. Ask the school if you wonder."


def _guide_section(number: int) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"\n## {number}. ")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _fill_in_template(template: str) -> str:
    """Do what the guide says with its template: a new id, our phrasings and our answer."""
    out, state = [], None
    for line in template.splitlines():
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        if stripped.startswith("- id: "):
            out.append(f"{indent}- id: studiedag")
        elif stripped == "phrasings:":
            state = "phrasings"
            out.append(line)
        elif state in ("phrasings", "list") and stripped in ("sv:", "en:"):
            state = "list"
            out.append(line)
            ours = STUDIEDAG_SV if stripped == "sv:" else STUDIEDAG_EN
            out.extend(f'{indent}  - "{p}"' for p in ours)
        elif state == "list" and stripped.startswith("- "):
            continue  # the example's phrasings: replaced by ours
        elif stripped == "answer:":
            state = "answer"
            out.append(line)
        elif state == "answer" and stripped.startswith(('sv: "', 'en: "')):
            answer = ANSWER_SV if stripped.startswith("sv") else ANSWER_EN
            out.append(f'{indent}{stripped[:3]} "{answer}"')
        else:
            state = None
            out.append(line)
    return "\n".join(out) + "\n"


def test_a_new_entry_added_by_following_the_staff_guide_is_answered(server, kdir):
    section = _guide_section(4)
    # The guide tells staff where to put a new question and which file to start.
    assert "faq/skola.yaml" in section and "entries:" in section
    template = re.search(r"```yaml\n(entries:\n.*?)```", section, re.S).group(1)
    checks = re.findall(r"^\s*halmstad-bot knowledge check --lang sv$", _guide_section(3), re.M)
    assert checks, "the guide must show the check command"
    assert "inom fem sekunder" in _guide_section(3)

    question = "när är det studiedag?"
    assert ANSWER_SV not in ask(server, question)  # not known yet: the fallback

    new_file = kdir / "faq" / "skola.yaml"
    new_file.write_text(_fill_in_template(template), encoding="utf-8")
    written = new_file.read_text(encoding="utf-8")
    assert "id: studiedag" in written and "skollov" not in written and "höstlov" not in written

    # Step 3 of the guide: check (with --dir, as the guide says for another folder) and try.
    check = cli("knowledge", "check", "--lang", "sv", "--dir", str(kdir))
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stderr.startswith("ok: ")
    tried = cli("knowledge", "try", question, "--dir", str(kdir))
    assert "1. studiedag " in tried.stdout and "Beslut: svar" in tried.stdout, tried.stdout

    # The running server answers it, in both languages, without a restart.
    wait_for(lambda: ANSWER_SV in ask(server, question))
    assert ANSWER_EN in ask(server, "when is the staff day?")


# The watcher itself, in process ------------------------------------------------------------------


async def test_reloader_refuses_errors_and_swaps_valid_knowledge(kdir):
    from bot.holder import KnowledgeHolder
    from flows.registry import all_flows

    holder = KnowledgeHolder(kdir, all_flows())
    before = holder.knowledge
    reloader = Reloader(holder)
    faq = kdir / "faq" / "absence.yaml"
    good = faq.read_text(encoding="utf-8")
    faq.write_text(good + "  - nonsense\n", encoding="utf-8")
    assert await reloader.reload_now() is False
    assert holder.knowledge is before and "knowledge/faq/absence.yaml" in holder.last_error
    faq.write_text(good.replace(OLD, NEW, 1), encoding="utf-8")
    assert await reloader.reload_now() is True
    assert holder.last_error is None and holder.knowledge is not before
    assert NEW in holder.knowledge.entries["absence-wrong"].answer["sv"]
    assert (reloader.reloads, reloader.refusals) == (1, 1)
