"""The ``qiaoqiao`` command: serve, migrate, init.

Every command accepts ``--db URL`` (or ``QIAOQIAO_DATABASE_URL``) and
``--data DIR``. A database or setting that cannot be used ends the command
with one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from sqlmodel import Session

from qiaoqiao.intake.settings import Settings, SettingsError
from qiaoqiao.mailbox.clock import system_clock
from qiaoqiao.mailbox.audit import verify_chain
from qiaoqiao.mailbox.database import DatabaseUnusable, is_empty, make_engine
from qiaoqiao.mailbox.errors import InvalidInput, WeakPassphrase
from qiaoqiao.mailbox.schema import is_current, migrate
from qiaoqiao.mailbox.schools import create_school, list_schools
from qiaoqiao.mailbox.sources import add_kiosk, add_poster

USAGE_ERROR = 2
WEAK_REASONS = {
    "too_short": "it needs at least 10 characters (a short sentence is best)",
    "too_repetitive": "it uses too few different characters",
    "too_common": "it is too easy to guess",
    "contains_username": "it is mostly the user name",
}


class CommandFailed(Exception):
    """Ends a command with one line on stderr and exit status 2."""


def _parser() -> argparse.ArgumentParser:
    # The common options are accepted before or after the command name; on the
    # command they default to SUPPRESS so they do not erase the earlier value.
    def common_options(default):
        options = argparse.ArgumentParser(add_help=False)
        options.add_argument("--db", metavar="URL", default=default, help="database URL (default: SQLite in the data directory)")
        options.add_argument("--data", metavar="DIR", default=default, help="data directory (default: ./data)")
        return options

    common = common_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="qiaoqiao", description="悄悄话信箱 — the whisper mailbox", parents=[common_options(None)]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--public-url", metavar="URL", help="the address people use (for links and QR codes)")
    serve.add_argument("--no-dispatcher", action="store_true", help="do not send alerts from this process (run qiaoqiao worker instead)")

    worker = commands.add_parser("worker", parents=[common], help="send alerts and escalate them (any number may run)")
    worker.add_argument("--public-url", metavar="URL", help="the address the links in alerts point to")
    worker.add_argument("--interval", type=float, default=2.0, help="seconds between rounds (default 2)")

    commands.add_parser("migrate", parents=[common], help="bring the database schema up to date")

    init = commands.add_parser("init", parents=[common], help="create a school without the web setup page")
    init.add_argument("--school", required=True, metavar="NAME")
    init.add_argument("--admin", required=True, metavar="USER")
    init.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE (default: stdin)")
    for noun, label in (("kiosk", "NAME"), ("poster", "LABEL")):
        group = commands.add_parser(noun, parents=[common], help=f"register a {noun}")
        actions = group.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", parents=[common], help=f"add a {noun} and print its URL")
        add.add_argument("label", metavar=label)
        add.add_argument("--school", metavar="SLUG", help="which school (needed when there are several)")
        add.add_argument("--public-url", metavar="URL", help="the address people use (or QIAOQIAO_PUBLIC_URL)")
        if noun == "poster":
            add.add_argument("--qr", metavar="FILE", help="also write the QR code to FILE (.png or .svg)")
    commands.add_parser(
        "screen", parents=[common], help='screen JSON lines {"text": ...} from stdin; one JSON result per line (offline)'
    )

    audit = commands.add_parser("audit", parents=[common], help="check the audit log")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser("verify", parents=[common], help="walk each school's hash chain; report the first broken link")
    verify.add_argument("--school", metavar="SLUG", help="only this school")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return Settings.from_env(database_url=args.db, data_dir=args.data, public_url=getattr(args, "public_url", None))
    except SettingsError as exc:
        raise CommandFailed(str(exc)) from None


def _engine(settings: Settings):
    try:
        return make_engine(settings.database_url)
    except DatabaseUnusable as exc:
        raise CommandFailed(str(exc)) from None


def cmd_migrate(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    migrate(engine)
    print("database schema is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from qiaoqiao.intake.app import create_app

    settings = _settings(args)
    engine = _engine(settings)
    if engine.dialect.name == "sqlite":
        # The embedded database belongs to this one server: keep it current.
        migrate(engine)
    elif is_empty(engine):
        migrate(engine)
    elif not is_current(engine):
        raise CommandFailed("the database schema is not current: run `qiaoqiao migrate` first")
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    settings = settings.with_(
        public_url=settings.public_url or f"http://{shown_host}:{args.port}", run_dispatcher=not args.no_dispatcher
    )
    app = create_app(settings, engine=engine)
    # Bind before announcing, so "running" is only ever said of a server that is.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as exc:
        listener.close()
        raise CommandFailed(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    # No access log: URLs can carry school slugs and record ids, and the
    # mailbox promises not to keep who came when.
    config = uvicorn.Config(app, access_log=False, log_level="warning")
    print(f"qiaoqiao is running. Open http://{shown_host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def cmd_screen(args: argparse.Namespace) -> int:
    """Screen notes offline: no database, no settings, the shipped lexicon only."""
    import json

    from qiaoqiao.mailbox.lexicon import Lexicon
    from qiaoqiao.mailbox.screening import Screener, screen_safely

    screener = Screener(Lexicon.load())
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandFailed(f"line {number} is not a JSON object with a text string ({type(exc).__name__})") from None
        print(json.dumps(screen_safely(screener, text).as_json(), ensure_ascii=False), flush=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver and escalate alerts until stopped; safe to run several at once."""
    import os

    from qiaoqiao.mailbox.dispatch import DispatchConfig, Dispatcher

    settings = _settings(args)
    engine = _engine(settings)
    if not is_current(engine):
        raise CommandFailed("the database schema is not current: run `qiaoqiao migrate` first")
    config = DispatchConfig(
        base_url=_public_url(settings), server_key=settings.secret_key.reveal(), worker_id=f"{socket.gethostname()}:{os.getpid()}"
    )
    print("qiaoqiao worker is delivering alerts (Ctrl+C stops it)", flush=True)
    Dispatcher(engine, config=config, clock=system_clock, interval=args.interval).run()
    return 0


def _read_passphrase(args: argparse.Namespace) -> str:
    if args.passphrase_file:
        try:
            with open(args.passphrase_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CommandFailed(f"cannot read {args.passphrase_file}: {exc.strerror}") from None
    else:
        text = sys.stdin.read()
    return text.rstrip("\r\n")


def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    passphrase = _read_passphrase(args)
    engine = _engine(settings)
    migrate(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            result = create_school(
                session=session,
                name=args.school,
                admin_username=args.admin,
                admin_passphrase=passphrase,
                kdf=settings.kdf,
                clock=system_clock,
            )
    except WeakPassphrase as exc:
        raise CommandFailed(f"the passphrase is refused: {WEAK_REASONS.get(exc.reason, exc.reason)}") from None
    except InvalidInput as exc:
        raise CommandFailed(f"{exc.field.replace('_', ' ')} is not usable ({exc.reason.replace('_', ' ')})") from None
    print(f"School created: {result.school.name} (slug {result.school.slug}); admin user: {result.admin.username}")
    print("Recovery key (shown only now; print it and keep it locked away):")
    print(result.recovery_key)
    return 0


def _school_for(session: Session, slug: str | None):
    schools = list_schools(session)
    if slug:
        for school in schools:
            if school.slug == slug:
                return school
        raise CommandFailed(f"no school with the slug {slug!r}")
    if len(schools) == 1:
        return schools[0]
    if not schools:
        raise CommandFailed("there is no school yet: run `qiaoqiao init` or open the setup page")
    raise CommandFailed("there are several schools: say which with --school SLUG")


def _public_url(settings: Settings) -> str:
    if not settings.public_url:
        raise CommandFailed("the public address is not set: pass --public-url URL or set QIAOQIAO_PUBLIC_URL")
    return settings.public_url


def cmd_kiosk(args: argparse.Namespace) -> int:
    settings = _settings(args)
    base = _public_url(settings)
    engine = _engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        school = _school_for(session, args.school)
        try:
            kiosk, token = add_kiosk(session=session, school=school, name=args.label, clock=system_clock)
        except InvalidInput as exc:
            raise CommandFailed(f"the kiosk name is not usable ({exc.reason.replace('_', ' ')})") from None
    print(f"Kiosk '{kiosk.name}' registered for {school.name}. Open this address once on the tablet:")
    print(f"{base}/k/{token}")
    return 0


def cmd_poster(args: argparse.Namespace) -> int:
    from qiaoqiao.intake.qr import qr_png, qr_svg

    settings = _settings(args)
    base = _public_url(settings)
    if args.qr and not args.qr.lower().endswith((".png", ".svg")):
        raise CommandFailed("--qr must name a .png or .svg file")
    engine = _engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        school = _school_for(session, args.school)
        try:
            poster = add_poster(session=session, school=school, label=args.label, clock=system_clock)
        except InvalidInput as exc:
            raise CommandFailed(f"the poster label is not usable ({exc.reason.replace('_', ' ')})") from None
    url = f"{base}/p/{poster.code}"
    print(f"Poster '{poster.label}' made for {school.name}. Its QR code leads to:")
    print(url)
    print(f"Printable A4 page (log in as admin): {base}/staff/admin/posters/{poster.id}")
    if args.qr:
        data = qr_svg(url).encode() if args.qr.lower().endswith(".svg") else qr_png(url)
        try:
            with open(args.qr, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise CommandFailed(f"cannot write {args.qr}: {exc.strerror}") from None
        print(f"QR code written to {args.qr}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Exit 0 when every chain is intact, 1 when one is broken."""
    engine = _engine(_settings(args))
    broken = False
    with Session(engine) as session:
        schools = [_school_for(session, args.school)] if args.school else list_schools(session)
        for school in schools:
            report = verify_chain(session, school_id=school.id)
            if report.intact:
                print(f"{school.name} ({school.slug}): {report.events} events, the chain is intact")
            else:
                broken = True
                print(f"{school.name} ({school.slug}): the chain is broken at event {report.first_broken_seq}")
    return 1 if broken else 0


COMMANDS = {"audit": cmd_audit, "worker": cmd_worker, "screen": cmd_screen, "serve": cmd_serve, "migrate": cmd_migrate, "init": cmd_init, "kiosk": cmd_kiosk, "poster": cmd_poster}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CommandFailed as exc:
        print(f"qiaoqiao: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
