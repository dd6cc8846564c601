"""`halmstad-bot chat`: the terminal chat is built like `serve`, with the reference backends in its
own process, so an app activation typed as text sends its e-mail with no server running."""
from __future__ import annotations

import email
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chat(tmp_path: Path, lines: list[str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--demo", "--data-dir", str(tmp_path / "data"),
         "--now", "2026-12-01T10:00", *extra],
        input="\n".join(lines + ["exit"]) + "\n", capture_output=True, text=True, timeout=180, cwd=ROOT,
    )


def port_8080_is_free() -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 8080)) != 0


def test_chat_demo_activates_the_app_by_text_and_the_mail_lands_in_the_outbox(tmp_path):
    assert port_8080_is_free(), "a server on 8080 would make this test prove nothing"
    done = chat(tmp_path, ["jag vill aktivera appen", "demo@example.com", "ja"])
    assert done.returncode == 0, done.stderr
    assert "Klart!" in done.stdout and "demo@example.com" in done.stdout
    mails = list((tmp_path / "data" / "outbox" / "new").iterdir())
    assert len(mails) == 1
    message = email.message_from_bytes(mails[0].read_bytes())
    assert message["To"] == "demo@example.com"
    body = message.get_payload(decode=True) if not message.is_multipart() else \
        message.get_payload(0).get_payload(decode=True)
    assert b"/activation/" in body, "the mail carries the activation link"


def test_chat_log_lines_go_to_a_file_not_into_the_conversation(tmp_path):
    done = chat(tmp_path, ["när har ni öppet?"])
    assert done.returncode == 0, done.stderr
    assert " INFO " not in done.stdout and " INFO " not in done.stderr
    log = (tmp_path / "data" / "chat.log").read_text()
    assert "halmstad.engine turn" in log
    assert "öppet" not in log, "no message text in the log"


def test_chat_with_bad_knowledge_says_why_and_stops(tmp_path):
    broken = tmp_path / "knowledge"
    broken.mkdir()
    (broken / "settings.yaml").write_text("menu: [", encoding="utf-8")
    done = chat(tmp_path, [], "--knowledge-dir", str(broken))
    assert done.returncode == 1
    assert "not valid" in done.stderr
