"""The `halmstad-bot` command: serve, chat, knowledge tools, agent and backend accounts."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from backends.activation.app import add_account
from backends.dsr.app import add_staff, disable_staff, remove_staff
from bot import staff_tools
from bot.accesslog import PrivateAccessLogger
from bot.app import ServeConfig, build_app, build_chat
from bot.channels.console import run_console
from bot.clock import parse_now
from bot.handoff.agents import add_agent, disable_agent, remove_agent
from bot.knowledge import KnowledgeError, default_knowledge_dir
from bot.staff_page import accounts as staff_page_accounts, reviews as staff_page_reviews
from bot.store.memory import MemoryStore
from common.gcpolicy import freeze_long_lived
from common.netaddr import parse_trusted_proxies
from common.redis_conn import DEFAULT_PREFIX, check_prefix

try:  # serve's event loop in C (pyproject.toml says why); asyncio's own where it is not installed
    import uvloop
except ImportError:  # pragma: no cover - Windows
    uvloop = None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("./var"), help="where every file is written")
    p.add_argument("--knowledge-dir", type=Path, default=default_knowledge_dir(), help="the knowledge files")


def _serve_parser(sub) -> None:
    serve = sub.add_parser("serve", help="run the assistant: web chat, chat API, agent console, backends")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _add_common(serve)
    serve.add_argument("--demo", action="store_true", help="register a demo guardian and agent")
    serve.add_argument("--now", help="fix the clock at this Stockholm time, e.g. 2026-12-24T10:00")
    serve.add_argument("--public-url", help="base of links in e-mails (default http://HOST:PORT)")
    serve.add_argument("--rate-limit-per-address", type=int, default=1200, metavar="N")
    serve.add_argument("--rate-limit-per-session", type=int, default=30, metavar="N")
    serve.add_argument("--smtp-host", default=os.environ.get("HALMSTAD_SMTP_HOST"))
    serve.add_argument("--smtp-port", type=int, default=int(os.environ.get("HALMSTAD_SMTP_PORT", "25")))
    _add_backend_urls(serve, "the one mounted here")
    serve.add_argument("--trusted-proxy", metavar="CIDR[,CIDR…]",
                       default=os.environ.get("HALMSTAD_TRUSTED_PROXIES"),
                       help="reverse proxies whose X-Forwarded-For names the client (default: none)")
    serve.add_argument("--session-hours", type=float, metavar="H",
                       default=float(os.environ.get("HALMSTAD_SESSION_HOURS", "12")),
                       help="agent and staff sessions end this long after login (default 12)")
    serve.add_argument("--redis-url", metavar="URL", default=os.environ.get("HALMSTAD_REDIS_URL"),
                       help="share conversations, queue, sessions and pushes with other serve processes "
                            "through this Redis, e.g. redis://127.0.0.1:6379/0 (default: none, one process)")
    serve.add_argument("--redis-prefix", default=os.environ.get("HALMSTAD_REDIS_PREFIX", DEFAULT_PREFIX),
                       help=f"prefix of every Redis key (default {DEFAULT_PREFIX})")


def _add_backend_urls(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--activation-url", default=os.environ.get("HALMSTAD_ACTIVATION_URL"),
                   help=f"the activation backend's base URL (default: {default})")
    p.add_argument("--dsr-url", default=os.environ.get("HALMSTAD_DSR_URL"),
                   help=f"the data-rights backend's base URL (default: {default})")


def _chat_parser(sub) -> None:
    chat = sub.add_parser("chat", help="a conversation in the terminal (the backends run in-process)")
    _add_common(chat)
    chat.add_argument("--demo", action="store_true", help="register the demo guardian demo@example.com")
    chat.add_argument("--now", help="fix the clock at this Stockholm time")
    _add_backend_urls(chat, "the reference backends, in this process")


def _login_parsers(subparsers, add: str, add_help: str, changes: dict[str, str]) -> argparse.ArgumentParser:
    """Add `add USERNAME --password-stdin` and the commands that disable or remove a login."""
    parser = subparsers.add_parser(add, help=add_help)
    parser.add_argument("username")
    parser.add_argument("--password-stdin", action="store_true", required=True)
    _add_common(parser)
    for name, what in changes.items():
        change = subparsers.add_parser(name, help=what)
        change.add_argument("username")
        _add_common(change)
    return parser


def _accounts_parsers(sub) -> None:
    agents = sub.add_parser("agents", help="agent logins for the console")
    asub = agents.add_subparsers(dest="agents_command", required=True)
    _login_parsers(asub, "add", "create or update an agent login", {
        "disable": "refuse an agent's logins and end their sessions (add enables again)",
        "remove": "delete an agent login and end its sessions"}).add_argument("--display-name")
    backend = sub.add_parser("backend", help="accounts in the reference backends")
    bsub = backend.add_subparsers(dest="backend_command", required=True)
    acc = bsub.add_parser("add-account", help="register a guardian's e-mail in the activation backend")
    acc.add_argument("email")
    _add_common(acc)
    _login_parsers(bsub, "add-staff", "create a staff login for the data-rights backend", {
        "disable-staff": "refuse a staff login and end its sessions (add-staff enables again)",
        "remove-staff": "delete a staff login and end its sessions"})
    page = sub.add_parser("staff-page", help="logins for the knowledge page /staff/")
    psub = page.add_subparsers(dest="staff_page_command", required=True)
    _login_parsers(psub, "add", "create or update a knowledge page login", {
        "disable": "refuse a knowledge page login and end its sessions (add enables again)",
        "remove": "delete a knowledge page login and end its sessions"}).add_argument(
        "--role", choices=staff_page_accounts.ROLES, default="editor",
        help="editor saves drafts; publisher also publishes (default editor)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="halmstad-bot", description="Halmstads kommun's Skola24 assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _chat_parser(sub)
    knowledge = sub.add_parser("knowledge", help="check and try the knowledge files")
    ksub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    check = ksub.add_parser("check", help="validate the knowledge files")
    check.add_argument("--dir", type=Path, default=default_knowledge_dir())
    check.add_argument("--lang", choices=("sv", "en"), default="en")
    staff_tools.add_commands(ksub)
    staff_page_reviews.add_command(ksub)
    _accounts_parsers(sub)
    return parser


def _check_options(args) -> str | None:
    """Return what is wrong with serve's or chat's options, or None."""
    try:
        if args.now:
            parse_now(args.now)
        parse_trusted_proxies(getattr(args, "trusted_proxy", None))
    except ValueError as exc:
        return str(exc)
    if not getattr(args, "session_hours", 1) > 0:
        return "--session-hours must be more than 0"
    if os.environ.get("HALMSTAD_EVENT_LOOP", "uvloop") not in ("uvloop", "asyncio"):
        return "HALMSTAD_EVENT_LOOP must be uvloop or asyncio"
    url = getattr(args, "redis_url", None)
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        return "--redis-url must start with redis://, rediss:// or unix://, e.g. redis://127.0.0.1:6379/0"
    return check_prefix(args.redis_prefix) if url else None


def _knowledge_refused(exc: KnowledgeError) -> int:
    print("error: the knowledge files are not valid; not starting:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_serve(args) -> int:
    problem = _check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    config = ServeConfig(
        host=args.host, port=args.port, data_dir=args.data_dir, knowledge_dir=args.knowledge_dir,
        demo=args.demo, now=args.now, public_url=args.public_url,
        rate_limit_per_address=args.rate_limit_per_address,
        rate_limit_per_session=args.rate_limit_per_session, smtp_host=args.smtp_host,
        smtp_port=args.smtp_port, activation_url=args.activation_url, dsr_url=args.dsr_url,
        trusted_proxies=args.trusted_proxy, session_hours=args.session_hours,
        redis_url=args.redis_url, redis_prefix=args.redis_prefix,
    )
    try:
        app = build_app(config)
    except KnowledgeError as exc:
        return _knowledge_refused(exc)
    except ValueError as exc:  # a setting that cannot work (Telegram polling on several processes, …)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.demo:
        _demo_accounts(config, agent=True)
    _print_addresses(config, args.now)
    app.on_startup.append(_freeze_long_lived)  # last: after every part has started
    web.run_app(app, host=config.host, port=config.port, print=None, shutdown_timeout=10,
                access_log_class=PrivateAccessLogger, loop=_event_loop())
    return 0


def _event_loop() -> asyncio.AbstractEventLoop | None:
    """Return uvloop's event loop for serve, or None (aiohttp makes asyncio's own) when uvloop is
    not installed or HALMSTAD_EVENT_LOOP=asyncio asks for asyncio's (to compare, or to rule it out;
    `_check_options` refuses any other value)."""
    if os.environ.get("HALMSTAD_EVENT_LOOP") == "asyncio" or uvloop is None:
        logging.getLogger("bot.serve").info("event loop: asyncio")
        return None
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.getLogger("bot.serve").info("event loop: uvloop")
    return loop


async def _freeze_long_lived(app) -> None:
    """Keep the garbage collector off what lives as long as the process (common/gcpolicy.py)."""
    freeze_long_lived()


def _print_addresses(config: ServeConfig, now: str | None) -> None:
    base = config.base_url
    print(f"Halmstad Skola24 assistant serving on http://{config.host}:{config.port}")
    print(f"  web chat:        {base}/")
    print(f"  chat API:        {base}/api/chat")
    print(f"  agent console:   {base}/agent/")
    print(f"  activation:      {base}/activation/")
    print(f"  data rights:     {base}/dsr/")
    print(f"  knowledge page:  {base}/staff/")
    print(f"  health:          {base}/healthz")
    print("  telegram:        " + ("on" if os.environ.get("TELEGRAM_BOT_TOKEN") else "off (TELEGRAM_BOT_TOKEN not set)"))
    if now:
        print(f"  clock starts at: {now} (Europe/Stockholm)")
    sys.stdout.flush()


def _demo_accounts(config: ServeConfig, *, agent: bool) -> None:
    add_account(config.data_dir, "demo@example.com")
    where = config.data_dir / "outbox" if not config.smtp_host else f"{config.smtp_host}:{config.smtp_port}"
    print(f"demo guardian account: demo@example.com (activation e-mails go to {where})")
    if agent:
        add_agent(config.data_dir, "agent", "demo-agent-password", display_name="Alex")
        print("demo agent login: agent / demo-agent-password")
        for user in staff_page_accounts.ROLES:
            staff_page_accounts.add_login(config.data_dir, user, f"demo-{user}-password", role=user)
            print(f"demo knowledge page login ({user}): {user} / demo-{user}-password")


def cmd_chat(args) -> int:
    """The terminal chat, built like `serve` with the backends in this process. Log lines go to
    DATA_DIR/chat.log, never into the conversation."""
    problem = _check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    config = ServeConfig(data_dir=args.data_dir, knowledge_dir=args.knowledge_dir, demo=args.demo, now=args.now,
                         activation_url=args.activation_url, dsr_url=args.dsr_url)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(config.data_dir / "chat.log")

    if args.demo:  # before the backends open their databases, as `serve --demo` does
        _demo_accounts(config, agent=False)

    async def main() -> int:
        try:
            chat = await build_chat(config, MemoryStore())
        except KnowledgeError as exc:
            return _knowledge_refused(exc)
        try:
            await run_console(chat.engine)
        finally:
            await chat.close()
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def _log_to_file(path: Path) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(os.environ.get("HALMSTAD_LOG_LEVEL", "INFO"))


def _read_password() -> str | None:
    password = sys.stdin.readline().rstrip("\n")
    return password or None


def _change_login(change, args, done: str) -> int:
    """Disable or remove a login with `change(data_dir, username)`; 1 when there is none."""
    try:
        change(args.data_dir, args.username)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.username} {done}; their sessions have ended")
    return 0


def _add_login(add, args, **extra) -> int:
    """Create or update a login whose password comes on standard input."""
    password = _read_password()
    if not password:
        print("error: give the password on standard input", file=sys.stderr)
        return 2
    try:
        add(args.data_dir, args.username, password, **extra)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_agents(args) -> int:
    if args.agents_command == "add":
        status = _add_login(add_agent, args, display_name=args.display_name)
        if status == 0:
            print(f"agent {args.username} saved")
        return status
    disable = args.agents_command == "disable"
    return _change_login(disable_agent if disable else remove_agent, args, "disabled" if disable else "removed")


def cmd_backend(args) -> int:
    command = args.backend_command
    if command in ("disable-staff", "remove-staff"):
        disable = command == "disable-staff"
        return _change_login(disable_staff if disable else remove_staff, args, "disabled" if disable else "removed")
    if command == "add-staff":
        status = _add_login(add_staff, args)
        if status == 0:
            print(f"staff {args.username} saved")
        return status
    try:
        add_account(args.data_dir, args.email)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("account registered")
    return 0


def cmd_staff_page(args) -> int:
    """`staff-page add|disable|remove USER`: the knowledge page's logins."""
    command = args.staff_page_command
    if command == "add":
        status = _add_login(staff_page_accounts.add_login, args, role=args.role)
        if status == 0:
            print(f"knowledge page login {args.username} saved ({args.role})")
        return status
    return _change_login(lambda d, u: staff_page_accounts.change_login(d, u, remove=command == "remove"), args,
                         "removed" if command == "remove" else "disabled")


def cmd_knowledge(args) -> int:
    if args.knowledge_command == "remind":
        return staff_page_reviews.cmd_remind(args)
    return staff_tools.run_command(args)


COMMANDS = {"serve": cmd_serve, "chat": cmd_chat, "knowledge": cmd_knowledge, "agents": cmd_agents,
            "backend": cmd_backend, "staff-page": cmd_staff_page}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    default_level = "INFO" if args.command == "serve" else "WARNING"
    for stream in (sys.stdout, sys.stderr):  # staff's Swedish messages as real UTF-8, never escapes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    logging.basicConfig(level=os.environ.get("HALMSTAD_LOG_LEVEL", default_level),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
