"""The `civic311` command line."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger("civic311")

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Every command; the adapters' own only when `argv` may name one of them. Loading
    the adapters imports most of the project (the web server, the understanding), two
    seconds and a hundred megabytes that a built-in command such as `stats` does not use."""
    parser = argparse.ArgumentParser(prog="civic311", description="civic311: a 311 assistant for a city.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web process (web chat, webhooks, APIs)")
    # Defaults from HOST and PORT are read when serving, not here: a bad PORT must not
    # break `--help` or any other command.
    serve.add_argument("--host", help="the address to listen on (default: $HOST, else 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port_argument, help="the port to listen on, 1 to 65535 (default: $PORT, else 8080)"
    )
    serve.add_argument(
        "--no-outbox", action="store_true", help="do not deliver the outbox here (a `civic311 worker` does)"
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="deliver the outbox (deployments that run it apart)")
    worker.set_defaults(handler=_worker)

    ask = commands.add_parser("ask", help="what the bot makes of one message (no state kept)")
    ask.add_argument("text", help="the message, or - to read one message a line from stdin")
    ask.add_argument("--json", action="store_true", help="one JSON object a line")
    ask.set_defaults(handler=_ask)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)

    kb = commands.add_parser("kb", help="knowledge base and service catalogue import and export (YAML)")
    kb_commands = kb.add_subparsers(dest="kb_command", metavar="ACTION")
    kb_import = kb_commands.add_parser(
        "import",
        help="import YAML: a file of entries and synonyms, of services or of training examples, "
        "or a folder with faq.yaml, services.yaml and training.yaml",
    )
    kb_import.add_argument(
        "path", type=Path, help="a faq, services or training YAML file, or a folder holding all three"
    )
    kb_import.set_defaults(handler=_kb_import)
    kb_export = kb_commands.add_parser(
        "export", help="write the knowledge base to a YAML file, or all three files into a folder"
    )
    kb_export.add_argument(
        "path", type=Path, help="a .yaml file, or a folder for faq.yaml, services.yaml and training.yaml"
    )
    what = kb_export.add_mutually_exclusive_group()
    what.add_argument(
        "--services", action="store_true", help="write the service catalogue (instead of the knowledge base)"
    )
    what.add_argument(
        "--training", action="store_true", help="write the training examples (instead of the knowledge base)"
    )
    kb_export.set_defaults(handler=_kb_export)
    kb_check = kb_commands.add_parser(
        "check",
        help="how well the assistant understands: cross-validated figures per intent, service and entry, "
        "the worst confusions, and the figures on a labelled set",
    )
    kb_check.add_argument(
        "labelled",
        nargs="?",
        type=Path,
        metavar="SET.jsonl",
        help='a labelled set, one JSON object a line: {"text": ..., "expect": ..., "id"|"service": ...}',
    )
    kb_check.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    kb_check.add_argument(
        "--min-overall", type=float, default=0.0, help="exit 1 when the labelled set scores below this"
    )
    kb_check.add_argument(
        "--min-emergency-recall",
        type=float,
        default=0.0,
        help="exit 1 when 911 recall on the set is below this",
    )
    kb_check.set_defaults(handler=_kb_check)

    report = commands.add_parser("report", help="service requests, as staff would handle them")
    report_commands = report.add_subparsers(dest="report_command", metavar="ACTION")
    set_status = report_commands.add_parser(
        "set-status", help="change a report's status; its subscribers are told"
    )
    set_status.add_argument("number", help="the report's number, as the resident was given it")
    set_status.add_argument("status", help="open, acknowledged, in_progress or closed")
    set_status.add_argument("--note", help="a note the subscribers see")
    set_status.add_argument(
        "--reason",
        help="when closing: fixed, duplicate, not_city_responsibility or no_further_action (default fixed)",
    )
    set_status.set_defaults(handler=_report_set_status)

    admin = commands.add_parser("admin", help="accounts of the admin pages")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ACTION")
    password = "the password is prompted for (twice), or read as one line of standard input"
    email = "the account's email address, which it signs in with"
    for name, about in (
        ("add-user", f"add an account; {password}"),
        ("set-password", f"give an account a new password and sign it out everywhere; {password}"),
        ("set-role", "make an account an admin (manages accounts too) or an editor"),
        ("remove-user", "remove an account and sign it out everywhere"),
    ):
        action = admin_commands.add_parser(name, help=about)
        action.add_argument("email", help=email)
        if name in ("add-user", "set-role"):
            action.add_argument("--role", required=True, help="admin or editor")
        action.set_defaults(handler=_admin)
    admin_commands.add_parser("list-users", help="every account: email, role, created").set_defaults(
        handler=_admin
    )

    media = commands.add_parser("media", help="the photos in MEDIA_DIR")
    media_commands = media.add_subparsers(dest="media_command", metavar="ACTION")
    media_sweep = media_commands.add_parser(
        "sweep",
        help="remove photos no report or live draft uses, and unfinished uploads, "
        "older than an hour (`serve` does this every MEDIA_SWEEP_MINUTES)",
    )
    media_sweep.add_argument(
        "--dry-run", action="store_true", help="say what would be removed, remove nothing"
    )
    media_sweep.set_defaults(handler=_media_sweep)

    stats = commands.add_parser(
        "stats", help="reports per service, per street or area, open and closed, median time to close"
    )
    stats.add_argument("--csv", action="store_true", help="one CSV table with a `section` column")
    stats.add_argument(
        "--since", type=_date_argument, metavar="YYYY-MM-DD", help="only reports filed on or after this date"
    )
    stats.set_defaults(handler=_stats)

    if _command_of(argv) not in commands.choices:  # an adapter's, or help listing them all
        from bot.plugin import adapter_plugins

        for plugin in adapter_plugins():
            plugin.add_commands(commands)
    return parser


def _command_of(argv: list[str] | None) -> str | None:
    """The command word of a command line: the first argument that is not an option (the
    top-level options, -v and --version, take no value)."""
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("civic311")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _port_argument(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{raw}' is not a port: use a number from 1 to 65535")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `civic311`: what it can do, not a usage error
        parser.print_help()
        return 0
    # A command made of actions (db, kb, report, and any an adapter adds the same way, with
    # a `<command>_command` destination) given none: that command's help, not an error.
    if getattr(args, f"{args.command.replace('-', '_')}_command", "") is None:
        parser.parse_args([args.command, "--help"])
    from knowledge.threads import one_blas_thread

    one_blas_thread()
    quiet = args.command not in ("serve", "worker")  # chat and ask print for people, not logs
    level = logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"civic311: configuration error: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"civic311: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`civic311 stats --csv | head`): stop quietly. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


class UserError(Exception):
    """Something the person running the command can fix; printed without a traceback."""


async def open_hub(settings: Settings, *, auto_upgrade: bool | None = None, warm: bool = True) -> Any:
    """The hub on a prepared database; `warm` builds (or trains) the understander now, for
    the commands that understand messages."""
    from bot.bootstrap import NotMigrated, prepare
    from bot.hub import build_hub

    hub = build_hub(settings)
    if warm:
        from knowledge.language import warm_up

        warm_up()
    try:
        await prepare(
            hub.db,
            auto_upgrade=settings.is_sqlite if auto_upgrade is None else auto_upgrade,
            knowledge=hub.services.knowledge if warm else None,
        )
    except NotMigrated as exc:
        await hub.close()
        raise UserError(str(exc)) from None
    except OSError as exc:
        await hub.close()
        raise UserError(f"cannot reach the database ({exc})") from None
    try:
        await hub.start()
    except BaseException:
        await hub.close()
        raise
    return hub


async def open_database(settings: Settings) -> Any:
    """The database alone, migrated (SQLite) or checked, for commands that only read
    reports: the hub would bring the understanding's libraries (scikit-learn, the
    sentence model's runtime) into memory, and its start-up time, for nothing."""
    from bot.db import Database
    from bot.migrate import NotMigrated, ensure_current

    db = Database(settings.DATABASE_URL, busy_timeout_s=settings.SQLITE_BUSY_TIMEOUT_S)
    try:
        await ensure_current(db, auto_upgrade=settings.is_sqlite)
    except NotMigrated as exc:
        await db.dispose()
        raise UserError(str(exc)) from None
    except OSError as exc:
        await db.dispose()
        raise UserError(f"cannot reach the database ({exc})") from None
    return db


def _listen_address(args: argparse.Namespace) -> tuple[str, int]:
    host = args.host or os.environ.get("HOST") or "127.0.0.1"
    if args.port is not None:
        return host, int(args.port)
    raw = os.environ.get("PORT") or "8080"
    try:
        return host, _port_argument(raw)
    except argparse.ArgumentTypeError:
        raise UserError(f"PORT={raw!r} is not a port: use a number from 1 to 65535") from None


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, taken before the slow start (training can take minutes), so a
    port in use is said at once, in one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"cannot listen on {host}:{port}: the port is in use (try --port)") from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def served_settings(settings: Settings, host: str, port: int) -> Settings:
    """Without PUBLIC_URL, links (Open311 discovery, media URLs) point where this process
    listens, not at a default port it may not be using."""
    if "PUBLIC_URL" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return settings.model_copy(update={"PUBLIC_URL": f"http://{shown}:{port}"})


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.media import MediaStore
    from bot.memory import tune_for_serving
    from bot.web.connections import start_serving
    from bot.web.server import create_app

    tune_for_serving()  # before anything big is allocated: a long-running process
    host, port = _listen_address(args)
    sock = _bind(host, port)
    try:
        problem = MediaStore.unwritable(settings.MEDIA_DIR)
        if problem:
            raise UserError(f"MEDIA_DIR {settings.MEDIA_DIR} is not a writable folder: {problem}")
        settings = served_settings(settings, host, port)
        hub = await open_hub(settings)
    except BaseException:
        sock.close()
        raise
    app = create_app(hub, deliver_outbox=False if args.no_outbox else None)
    app.on_cleanup.append(lambda _app: hub.close())
    serving = await start_serving(
        app,
        sock,
        header_timeout_s=settings.HTTP_HEADER_TIMEOUT_S,
        per_address=settings.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
        exempt=settings.trusted_proxies,
        handle_signals=True,
    )
    log.info(
        "civic311 serving %s at http://%s:%s/ (channels: %s)",
        settings.CITY_NAME,
        host,
        port,
        ", ".join(sorted(hub.channels)) or "none",
    )
    print(f"civic311 is running at {settings.PUBLIC_URL}/  (Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing messages in flight")
    await serving.close()
    return 0


async def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from bot.delivery.worker import OutboxWorker

    hub = await open_hub(settings, warm=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = OutboxWorker.from_settings(hub.db, hub.channels, settings, wake=hub.outbox_queued)
    log.info("outbox worker started (channels: %s)", ", ".join(sorted(hub.channels)) or "none")
    try:
        await worker.run_forever(stop)
    finally:
        await hub.close()
    return 0


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ask import Asker

    hub = await open_hub(settings)
    try:
        asker = Asker(hub)
        lines = sys.stdin if args.text == "-" else [args.text]
        for line in lines:
            text = line.rstrip("\n")
            if args.text == "-" and not text.strip():
                if args.json:
                    print(json.dumps({"intent": "fallback", "score": 0.0, "text": ""}), flush=True)
                continue
            answer = await asker.ask(text)
            if args.json:
                print(json.dumps(answer, ensure_ascii=False), flush=True)
            else:
                label = answer.get("entry") or answer.get("service") or ""
                print(
                    f"[{answer['intent']}{' ' + label if label else ''} "
                    f"{answer['score']:.2f}]\n{answer['text']}\n",
                    flush=True,
                )
    finally:
        await hub.close()
    return 0


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot import migrate
    from bot.db import Database

    db = Database(settings.DATABASE_URL)
    try:
        await migrate.upgrade(db)
    except OSError as exc:
        raise UserError(f"cannot reach the database ({exc})") from None
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


async def _kb_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.content import catalogue_store, kb_store
    from knowledge.loader import ContentError, load_content

    try:
        content = load_content(args.path)
    except ContentError as exc:
        raise UserError(f"nothing imported: {exc}") from None
    if content.knowledge and content.catalogue:
        codes = {s.code for s in content.catalogue.services}
        named = {e.service for e in content.knowledge.entries if e.service}
        if unknown := sorted(named - codes):
            raise UserError(f"nothing imported: entries name unknown services: {', '.join(unknown)}")
    hub = await open_hub(settings, warm=False)
    lines = []
    try:
        async with hub.db.transaction() as session:
            if content.knowledge is not None:
                author = f"import {args.path.name}"
                result = await kb_store.import_kb(session, content.knowledge, author=author)
                lines.append(
                    f"knowledge base: {result.added} added, {result.updated} updated, "
                    f"{result.unchanged} unchanged, {result.synonym_groups} synonym groups"
                )
            if content.catalogue is not None:
                services = await catalogue_store.import_catalogue(session, content.catalogue)
                lines.append(
                    f"service catalogue: {services.added} added, {services.updated} updated, "
                    f"{services.unchanged} unchanged, {services.departments} departments"
                )
            if content.training is not None:
                known = {s.code for s in (await catalogue_store.load(session)).services}
                if unknown := sorted(set(content.training.services) - known):
                    raise UserError(
                        f"nothing imported: training examples name unknown services: {', '.join(unknown)}"
                    )
                count = await kb_store.import_training(session, content.training)
                lines.append(f"training examples: {count}")
        # Train now, once, and store the models: every serving process then loads them
        # on its next message instead of training for itself.
        started = time.perf_counter()
        async with hub.db.transaction() as session:
            await hub.services.knowledge.current(session)
        lines.append(f"understanding ready in {time.perf_counter() - started:.1f} s")
    finally:
        await hub.close()
    print(f"imported {args.path}: " + "; ".join(lines))
    return 0


async def _report_set_status(args: argparse.Namespace, settings: Settings) -> int:
    from bot.reporting import reports
    from bot.timeutil import utcnow

    hub = await open_hub(settings, warm=False)
    try:
        async with hub.db.transaction() as session:
            change = await reports.set_status(
                session,
                args.number,
                args.status,
                now=utcnow(),
                note=args.note,
                reason=args.reason,
                actor="cli",
                tell_staff=hub.services.staff_desk,
            )
    except reports.ReportError as exc:
        raise UserError(str(exc)) from None
    finally:
        await hub.close()
    print(
        f"report {change.report.number} is now {change.report.status}; "
        f"{change.notified} subscriber(s) will be told"
    )
    return 0


async def _kb_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.content import catalogue_store, kb_store
    from knowledge.loader import (
        FAQ_FILE,
        SERVICES_FILE,
        TRAINING_FILE,
        dump_catalogue,
        dump_knowledge,
        dump_training,
    )

    folder = args.path.is_dir() or (not args.path.suffix and not args.services and not args.training)
    hub = await open_hub(settings, warm=False)
    try:
        async with hub.db.reading() as session:
            kb = await kb_store.load(session)
            catalogue = await catalogue_store.load(session)
            training = await kb_store.load_training(session)
    finally:
        await hub.close()
    try:
        if folder:
            args.path.mkdir(parents=True, exist_ok=True)
            dump_knowledge(kb, args.path / FAQ_FILE)
            dump_catalogue(catalogue, args.path / SERVICES_FILE)
            dump_training(training, args.path / TRAINING_FILE)
        elif args.services:
            dump_catalogue(catalogue, args.path)
        elif args.training:
            dump_training(training, args.path)
        else:
            dump_knowledge(kb, args.path)
    except OSError as exc:
        raise UserError(f"cannot write {args.path}: {exc.strerror or exc}") from None
    parts = []
    if folder or not (args.services or args.training):
        parts.append(f"{len(kb.entries)} entries and {len(kb.synonyms)} synonym groups")
    if folder or args.services:
        parts.append(f"{len(catalogue.services)} services")
    if folder or args.training:
        parts.append(f"{len(training)} training examples")
    print(f"exported {' and '.join(parts)} to {args.path}")
    return 0


async def _kb_check(args: argparse.Namespace, settings: Settings) -> int:
    from knowledge import evaluate

    if args.folds < 2:
        raise UserError("--folds must be 2 or more")
    labelled = None
    if args.labelled is not None:
        try:
            labelled = evaluate.read_labelled(args.labelled)
        except OSError as exc:
            raise UserError(f"cannot read {args.labelled}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UserError(str(exc)) from None
    hub = await open_hub(settings)
    try:
        async with hub.db.reading() as session:
            understander = await hub.services.knowledge.current(session)
    finally:
        await hub.close()
    print(f"{len(understander.examples)} examples; cross-validated over {args.folds} folds")
    reports = await asyncio.to_thread(evaluate.cross_validate, understander, args.folds)
    for name, report in reports.items():
        _print_report(f"cross-validated: {name}", report)
    if labelled is None:
        return 0
    result = evaluate.score_set(understander, labelled)
    _print_report(f"labelled set {args.labelled} ({len(labelled)} messages)", result)
    recall = next((f.ratio for f in result.figures if f.name == "emergency"), 1.0)
    short = [
        name
        for name, value, floor in (
            ("overall", result.overall, args.min_overall),
            ("emergency recall", recall, args.min_emergency_recall),
        )
        if value < floor
    ]
    if short:
        print(f"FALLS SHORT: {', '.join(short)}")
        return 1
    return 0


def _print_report(title: str, report: Any) -> None:
    print(f"\n== {title}: {report.overall:.3f} overall")
    for figure in report.figures:
        print(f"  {figure.name:<32} {figure.correct:>5}/{figure.total:<5} {figure.ratio:.3f}")
    for name, value in report.notes.items():
        print(f"  {name}: {value:.3f}")
    if report.confusions:
        print("  most confused (wanted -> got: count):")
        for wanted, got, count in report.confusions:
            print(f"    {wanted} -> {got}: {count}")


async def _media_sweep(args: argparse.Namespace, settings: Settings) -> int:
    from bot.media_sweep import SweepError, check_folder, sweep_media

    try:
        check_folder(settings.MEDIA_DIR)  # before the database: a wrong folder costs nothing
    except SweepError as exc:
        raise UserError(str(exc)) from None
    hub = await open_hub(settings, warm=False)
    try:
        result = await sweep_media(hub.db, settings.MEDIA_DIR, dry_run=args.dry_run)
    except SweepError as exc:
        raise UserError(str(exc)) from None
    finally:
        await hub.close()
    print(f"{settings.MEDIA_DIR}: {result.summary()}")
    return 1 if result.failed else 0


async def _admin(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admin import cli as admin_cli
    from bot.admin.accounts import AccountError

    db = await open_database(settings)  # accounts need no hub, nor its understanding
    try:
        return await admin_cli.run(args, db, time_zone=settings.time_zone)
    except AccountError as exc:
        raise UserError(str(exc)) from None
    finally:
        await db.dispose()


def _date_argument(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{raw}' is not a date: use YYYY-MM-DD, e.g. 2024-05-01") from None


async def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime, time

    from bot.reporting.stats import report_stats
    from bot.reporting.stats_format import as_text, empty_message, write_csv

    since = datetime.combine(args.since, time(0), tzinfo=settings.time_zone) if args.since else None
    db = await open_database(settings)
    try:
        async with db.reading() as session:
            stats = await report_stats(session, since=since, time_zone=settings.time_zone)
    finally:
        await db.dispose()
    if args.csv:
        write_csv(stats, sys.stdout)
        if stats.empty:
            print(empty_message(stats), file=sys.stderr)
    else:
        print(as_text(stats))
    return 0


if __name__ == "__main__":
    # `python -m bot.cli` runs this file as __main__, a second copy of the module: adapters
    # raise bot.cli's UserError, which this copy's `except UserError` would not catch.
    from bot import cli

    sys.exit(cli.main())
