"""The `halmstad-bot` command: serve, chat, knowledge tools, agent and backend accounts."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bot.knowledge import default_knowledge_dir


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("./var"), help="where every file is written")
    p.add_argument("--knowledge-dir", type=Path, default=default_knowledge_dir(), help="the knowledge files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="halmstad-bot", description="Halmstads kommun's Skola24 assistant")
    sub = parser.add_subparsers(dest="command", required=True)

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
    serve.add_argument("--activation-url", default=os.environ.get("HALMSTAD_ACTIVATION_URL"),
                       help="the activation backend's base URL (default: the one mounted here)")
    serve.add_argument("--dsr-url", default=os.environ.get("HALMSTAD_DSR_URL"),
                       help="the data-rights backend's base URL (default: the one mounted here)")
    serve.add_argument("--trusted-proxy", metavar="CIDR[,CIDR…]",
                       default=os.environ.get("HALMSTAD_TRUSTED_PROXIES"),
                       help="reverse proxies whose X-Forwarded-For names the client (default: none)")
    serve.add_argument("--session-hours", type=float, metavar="H",
                       default=float(os.environ.get("HALMSTAD_SESSION_HOURS", "12")),
                       help="agent and staff sessions end this long after login (default 12)")

    chat = sub.add_parser("chat", help="a conversation in the terminal")
    _add_common(chat)
    chat.add_argument("--now", help="fix the clock at this Stockholm time")
    chat.add_argument("--activation-url", default=os.environ.get("HALMSTAD_ACTIVATION_URL",
                                                                 "http://127.0.0.1:8080/activation"))
    chat.add_argument("--dsr-url", default=os.environ.get("HALMSTAD_DSR_URL", "http://127.0.0.1:8080/dsr"))

    knowledge = sub.add_parser("knowledge", help="check and try the knowledge files")
    ksub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    check = ksub.add_parser("check", help="validate the knowledge files")
    check.add_argument("--dir", type=Path, default=default_knowledge_dir())
    check.add_argument("--lang", choices=("sv", "en"), default="en")

    agents = sub.add_parser("agents", help="agent logins for the console")
    asub = agents.add_subparsers(dest="agents_command", required=True)
    add = asub.add_parser("add", help="create or update an agent login")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", required=True)
    add.add_argument("--display-name")
    _add_common(add)
    for name, what in (("disable", "refuse an agent's logins and end their sessions (add enables again)"),
                       ("remove", "delete an agent login and end its sessions")):
        change = asub.add_parser(name, help=what)
        change.add_argument("username")
        _add_common(change)

    backend = sub.add_parser("backend", help="accounts in the reference backends")
    bsub = backend.add_subparsers(dest="backend_command", required=True)
    acc = bsub.add_parser("add-account", help="register a guardian's e-mail in the activation backend")
    acc.add_argument("email")
    _add_common(acc)
    staff = bsub.add_parser("add-staff", help="create a staff login for the data-rights backend")
    staff.add_argument("username")
    staff.add_argument("--password-stdin", action="store_true", required=True)
    _add_common(staff)
    for name, what in (("disable-staff", "refuse a staff login and end its sessions (add-staff enables again)"),
                       ("remove-staff", "delete a staff login and end its sessions")):
        change = bsub.add_parser(name, help=what)
        change.add_argument("username")
        _add_common(change)
    _extend(ksub)
    return parser


def _extend(knowledge_subparsers) -> None:
    """Let plug-in modules add `knowledge` subcommands (try/eval/gaps, ...)."""
    for name in ("bot.staff_tools",):
        try:
            module = __import__(name, fromlist=["add_commands"])
        except ImportError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.add_commands(knowledge_subparsers)


def cmd_knowledge_check(args) -> int:
    try:  # the staff tools add --lang sv messages and phrasing collisions
        from bot.staff_tools import cmd_check
    except ImportError:
        cmd_check = None
    if cmd_check is not None:
        return cmd_check(args)
    from bot.app import knowledge_checks
    from bot.knowledge import check_knowledge
    from flows.registry import all_flows

    knowledge, problems = check_knowledge(args.dir, extra_checks=knowledge_checks(all_flows()))
    extra = []
    try:
        from bot.staff_tools import collision_problems
        if knowledge is not None:
            extra = collision_problems(knowledge)
    except ImportError:
        pass
    problems = problems + extra
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(knowledge.entries)} entries, {len(knowledge.texts)} texts", file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    from aiohttp import web

    from bot.app import ServeConfig, build_app, parse_now
    from bot.knowledge import KnowledgeError
    from common.netaddr import parse_trusted_proxies

    try:
        if args.now:
            parse_now(args.now)
        parse_trusted_proxies(args.trusted_proxy)
        if not args.session_hours > 0:
            raise ValueError("--session-hours must be more than 0")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ServeConfig(
        host=args.host, port=args.port, data_dir=args.data_dir, knowledge_dir=args.knowledge_dir,
        demo=args.demo, now=args.now, public_url=args.public_url,
        rate_limit_per_address=args.rate_limit_per_address,
        rate_limit_per_session=args.rate_limit_per_session, smtp_host=args.smtp_host,
        smtp_port=args.smtp_port, activation_url=args.activation_url, dsr_url=args.dsr_url,
        trusted_proxies=args.trusted_proxy, session_hours=args.session_hours,
    )
    try:
        app = build_app(config)
    except KnowledgeError as exc:
        print("error: the knowledge files are not valid; not starting:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.demo:
        _demo_accounts(config)
    base = config.base_url
    print(f"Halmstad Skola24 assistant serving on http://{config.host}:{config.port}")
    print(f"  web chat:        {base}/")
    print(f"  chat API:        {base}/api/chat")
    print(f"  agent console:   {base}/agent/")
    print(f"  activation:      {base}/activation/")
    print(f"  data rights:     {base}/dsr/")
    print(f"  health:          {base}/healthz")
    print("  telegram:        " + ("on" if os.environ.get("TELEGRAM_BOT_TOKEN") else "off (TELEGRAM_BOT_TOKEN not set)"))
    if args.now:
        print(f"  clock starts at: {args.now} (Europe/Stockholm)")
    sys.stdout.flush()
    from bot.accesslog import PrivateAccessLogger

    web.run_app(app, host=config.host, port=config.port, print=None, shutdown_timeout=10,
                access_log_class=PrivateAccessLogger)
    return 0


def _demo_accounts(config) -> None:
    from backends.activation.app import add_account

    add_account(config.data_dir, "demo@example.com")
    print("demo guardian account: demo@example.com (activation e-mails go to "
          f"{config.data_dir / 'outbox'} unless --smtp-host is set)")
    try:
        from bot.handoff.agents import add_agent
    except ImportError:
        return
    add_agent(config.data_dir, "agent", "demo-agent-password", display_name="Alex")
    print("demo agent login: agent / demo-agent-password")


def cmd_chat(args) -> int:
    from bot.app import KnowledgeHolder, make_clock
    from bot.channels.console import run_console
    from bot.engine import Engine, Services
    from bot.knowledge import KnowledgeError
    from bot.store.memory import MemoryStore
    from flows.registry import all_flows

    flows = all_flows()
    try:
        holder = KnowledgeHolder(args.knowledge_dir, flows)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1

    async def main() -> None:
        services = Services()
        engine = Engine(source=holder, store=MemoryStore(), flows=flows, clock=make_clock(args.now),
                        services=services)
        closers = []
        try:
            from bot import clients
            closers = clients.wire_standalone(services, activation_url=args.activation_url,
                                              dsr_url=args.dsr_url, data_dir=args.data_dir)
        except (ImportError, AttributeError):
            pass
        try:
            await run_console(engine)
        finally:
            for close in closers:
                await close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def _read_password() -> str | None:
    password = sys.stdin.readline().rstrip("\n")
    return password or None


def cmd_agents_add(args) -> int:
    try:
        from bot.handoff.agents import add_agent
    except ImportError:
        print("error: the agent console is not installed in this version", file=sys.stderr)
        return 1
    password = _read_password()
    if not password:
        print("error: give the password on standard input", file=sys.stderr)
        return 2
    try:
        add_agent(args.data_dir, args.username, password, display_name=args.display_name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"agent {args.username} saved")
    return 0


def _change_login(change, args, done: str) -> int:
    """Disable or remove a login with `change(data_dir, username)`; 1 when there is none."""
    try:
        change(args.data_dir, args.username)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.username} {done}; their sessions have ended")
    return 0


def cmd_agents(args) -> int:
    if args.agents_command == "add":
        return cmd_agents_add(args)
    from bot.handoff.agents import disable_agent, remove_agent

    disable = args.agents_command == "disable"
    return _change_login(disable_agent if disable else remove_agent, args,
                         "disabled" if disable else "removed")


def cmd_backend(args) -> int:
    if args.backend_command in ("disable-staff", "remove-staff"):
        from backends.dsr.app import disable_staff, remove_staff

        disable = args.backend_command == "disable-staff"
        return _change_login(disable_staff if disable else remove_staff, args,
                             "disabled" if disable else "removed")
    try:
        if args.backend_command == "add-account":
            from backends.activation.app import add_account

            add_account(args.data_dir, args.email)
            print("account registered")
            return 0
        from backends.dsr.app import add_staff

        password = _read_password()
        if not password:
            print("error: give the password on standard input", file=sys.stderr)
            return 2
        add_staff(args.data_dir, args.username, password)
        print(f"staff {args.username} saved")
        return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    default_level = "INFO" if args.command == "serve" else "WARNING"
    logging.basicConfig(level=os.environ.get("HALMSTAD_LOG_LEVEL", default_level),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "chat":
        return cmd_chat(args)
    if args.command == "knowledge":
        if args.knowledge_command == "check":
            return cmd_knowledge_check(args)
        from bot.staff_tools import run_command
        return run_command(args)
    if args.command == "agents":
        return cmd_agents(args)
    if args.command == "backend":
        return cmd_backend(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
