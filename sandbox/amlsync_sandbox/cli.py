"""`amlsync-sandbox`: start, stop, seed, load, dump and inspect the sandbox.

Commands that change the world (`reset`, `seed`, `load`) write the SQLite file directly, so they
work whether or not the server runs; a running server sees the change on its next request.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amlsync_sandbox import storage
from amlsync_sandbox.faults import FaultSettings, read_faults, write_faults
from amlsync_sandbox.runfile import RunInfo, log_file, read_run_info, run_file
from amlsync_sandbox.world import SERVICES, base_world

DEFAULT_DB = Path(".sandbox") / "sandbox.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ADMINPULSE_PORT = 18801
DEFAULT_AMLCARE_PORT = 18802
# How long `start` waits for both services to answer, and `stop` for the process to end.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
HEALTH_TIMEOUT_SECONDS = 2.0

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_PORT_TAKEN = 3

_FAULT_OPTIONS = (
    ("latency_ms", "--latency-ms", int, "added to every API call"),
    ("error_rate", "--error-rate", float, "share of API calls answered 500 or 503"),
    ("rate_429", "--rate-429", float, "share of API calls answered 429"),
    ("retry_after_share", "--retry-after-share", float, "share of 429 answers with Retry-After"),
    ("drop_rate", "--drop-rate", float, "share of API calls whose connection is closed unanswered"),
    ("slow_rate", "--slow-rate", float, "share of API calls delayed by --slow-ms more"),
    ("slow_ms", "--slow-ms", int, "the extra delay of a slow call"),
    ("rate_scale", "--rate-scale", float, "multiplies the rate limits (0.1: a tenth)"),
)


class CliError(Exception):
    """A command that cannot do what was asked; the message tells the user why."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = _parser().parse_args(argv)
    args.db = Path(args.db).expanduser().resolve()
    try:
        args.command(args)
    except CliError as error:
        print(f"amlsync-sandbox: {error}", file=sys.stderr)
        return error.exit_code
    except storage.WorldError as error:
        print(f"amlsync-sandbox: not a valid world: {error}", file=sys.stderr)
        return EXIT_INVALID
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amlsync-sandbox",
        description="AdminPulse and AMLCare, played over HTTP on this machine.",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("AMLSYNC_SANDBOX_DB", str(DEFAULT_DB)),
        help="the SQLite file holding the world (env AMLSYNC_SANDBOX_DB; default %(default)s)",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    start = commands.add_parser("start", help="start both services (in the background)")
    start.add_argument("--host", default=DEFAULT_HOST)
    start.add_argument("--adminpulse-port", type=int, default=DEFAULT_ADMINPULSE_PORT)
    start.add_argument("--amlcare-port", type=int, default=DEFAULT_AMLCARE_PORT)
    start.add_argument("--rate-scale", type=float, help="multiply the rate limits by this")
    start.add_argument(
        "--foreground", action="store_true", help="serve in this process until interrupted"
    )
    start.set_defaults(command=_start)

    commands.add_parser("stop", help="stop the running sandbox").set_defaults(command=_stop)
    commands.add_parser("status", help="is it running, where, what it holds").set_defaults(
        command=_status
    )
    commands.add_parser("reset", help="load the minimal world (no clients)").set_defaults(
        command=_reset
    )

    seed = commands.add_parser("seed", help="load a generated world of N AdminPulse clients")
    seed.add_argument("--clients", type=int, required=True)
    seed.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    seed.set_defaults(command=_seed)

    load = commands.add_parser("load", help="load a world from a JSON file ('-' for stdin)")
    load.add_argument("file")
    load.set_defaults(command=_load)

    dump = commands.add_parser("dump", help="print the world (or one service's half) as JSON")
    dump.add_argument("--service", choices=SERVICES)
    dump.add_argument("--output", help="write to this file instead of stdout")
    dump.set_defaults(command=_dump)

    faults = commands.add_parser("faults", help="show or change the injected faults")
    for name, flag, kind, description in _FAULT_OPTIONS:
        faults.add_argument(flag, dest=name, type=kind, help=description)
    faults.add_argument("--service", choices=SERVICES, help="only this service (default both)")
    faults.add_argument("--clear", action="store_true", help="remove all faults first")
    faults.set_defaults(command=_faults)

    requests = commands.add_parser("requests", help="show the request counts")
    requests.add_argument("--service", choices=SERVICES)
    requests.add_argument("--reset", action="store_true", help="forget the counts")
    requests.add_argument("--json", action="store_true", help="print JSON")
    requests.set_defaults(command=_requests)
    return parser


def _connect(db: Path) -> Any:
    conn = storage.connect(db)
    storage.ensure_world(conn)
    return conn


def _process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, finished but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(  # noqa: S310 - a loopback http URL we built
            f"{url}/_sandbox/health", timeout=HEALTH_TIMEOUT_SECONDS
        ) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def _answers(info: RunInfo, pid: int) -> bool:
    """Whether both services answer their health check from process `pid`."""
    for service in SERVICES:
        health = _health(info.root_url(service))
        if health is None or health.get("pid") != pid:
            return False
    return True


def _running(db: Path) -> RunInfo | None:
    """The run file of a live sandbox on `db`; a stale run file is removed."""
    info = read_run_info(db)
    if info is None:
        return None
    if _process_alive(info.pid):
        return info
    run_file(db).unlink(missing_ok=True)
    return None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _start(args: argparse.Namespace) -> None:
    running = _running(args.db)
    if running is not None:
        raise CliError(
            f"already running (pid {running.pid}) on {args.db}: AdminPulse "
            f"{running.adminpulse_url}, AMLCare {running.amlcare_url}"
        )
    if args.rate_scale is not None and args.rate_scale <= 0:
        raise CliError("--rate-scale must be greater than 0", EXIT_INVALID)
    for name, port in (("AdminPulse", args.adminpulse_port), ("AMLCare", args.amlcare_port)):
        if not _port_free(args.host, port):
            raise CliError(f"port {port} ({name}) on {args.host} is taken", EXIT_PORT_TAKEN)
    if args.adminpulse_port == args.amlcare_port:
        raise CliError("the two services need two different ports", EXIT_INVALID)

    if args.foreground:
        _serve_here(args)
        return
    pid = _spawn_server(args)
    info = RunInfo(pid, args.host, args.adminpulse_port, args.amlcare_port)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(info, pid):
        if _reap(pid) or time.monotonic() > deadline:
            if _process_alive(pid):
                os.kill(pid, signal.SIGTERM)
            raise CliError(f"the server did not start; its log:\n{_log_tail(args.db)}")
        time.sleep(0.05)
    print(f"AdminPulse {info.adminpulse_url}")
    print(f"AMLCare    {info.amlcare_url}")
    print(f"pid {pid}, db {args.db}, log {log_file(args.db)}")


def _serve_here(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from amlsync_sandbox.server import serve  # Flask loads only where it serves

    try:
        serve(args.db, args.host, args.adminpulse_port, args.amlcare_port, args.rate_scale)
    except OSError as error:
        raise CliError(f"cannot listen: {error}", EXIT_PORT_TAKEN) from None


def _spawn_server(args: argparse.Namespace) -> int:
    """Start `start --foreground` as a detached process logging next to the database."""
    argv = [
        sys.executable,
        "-m",
        "amlsync_sandbox",
        "--db",
        str(args.db),
        "start",
        "--foreground",
        "--host",
        args.host,
        "--adminpulse-port",
        str(args.adminpulse_port),
        "--amlcare-port",
        str(args.amlcare_port),
    ]
    if args.rate_scale is not None:
        argv += ["--rate-scale", str(args.rate_scale)]
    args.db.parent.mkdir(parents=True, exist_ok=True)
    log = str(log_file(args.db))
    append = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    # A new session detaches the server from this terminal; posix_spawn leaves no Popen object
    # behind to complain that its child outlives it.
    return os.posix_spawn(
        sys.executable,
        argv,
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, append, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def _reap(pid: int) -> bool:
    """Whether our child `pid` has already exited (collecting it if so)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not _process_alive(pid)
    return done == pid


def _log_tail(db: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file(db).read_text(encoding="utf-8").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(args: argparse.Namespace) -> None:
    info = _running(args.db)
    if info is None:
        print("not running")
        return
    if not _answers(info, info.pid) and not _looks_like_sandbox(info.pid):
        raise CliError(
            f"the run file names pid {info.pid}, which does not look like this sandbox; "
            f"stop it yourself, then delete {run_file(args.db)}"
        )
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _process_alive(info.pid):
        if time.monotonic() > deadline:
            os.kill(info.pid, signal.SIGKILL)
            break
        _reap(info.pid)
        time.sleep(0.05)
    run_file(args.db).unlink(missing_ok=True)
    print(f"stopped (pid {info.pid})")


def _looks_like_sandbox(pid: int) -> bool:
    try:
        return b"amlsync_sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _status(args: argparse.Namespace) -> None:
    conn = _connect(args.db)
    try:
        counts = {service: storage.record_counts(conn, service) for service in SERVICES}
    finally:
        conn.close()
    print(f"db {args.db}")
    for service in SERVICES:
        held = ", ".join(f"{count} {name}" for name, count in counts[service].items() if count)
        print(f"{service}: {held or 'empty'}")
    info = _running(args.db)
    if info is None:
        raise CliError("not running")
    healthy = "answering" if _answers(info, info.pid) else "NOT answering"
    print(f"running (pid {info.pid}), {healthy}")
    print(f"AdminPulse {info.adminpulse_url}")
    print(f"AMLCare    {info.amlcare_url}")


def _load_and_report(db: Path, world: Any, what: str) -> None:
    started = time.monotonic()
    conn = storage.connect(db)
    try:
        storage.load_world(conn, world)
    finally:
        conn.close()
    relations = len(world["adminpulse"]["relations"])
    clients = len(world["amlcare"]["clients"])
    print(
        f"loaded {what}: {relations} AdminPulse relations, {clients} AMLCare clients "
        f"in {time.monotonic() - started:.1f}s"
    )


def _reset(args: argparse.Namespace) -> None:
    _load_and_report(args.db, base_world(), "the base world")


def _seed(args: argparse.Namespace) -> None:
    if args.clients < 0:
        raise CliError("--clients must be 0 or more", EXIT_INVALID)
    from amlsync_sandbox.generator import generate_world

    started = time.monotonic()
    world = generate_world(clients=args.clients, seed=args.seed)
    print(
        f"generated {args.clients} clients (seed {args.seed}) in {time.monotonic() - started:.1f}s"
    )
    _load_and_report(args.db, world, "the generated world")


def _load(args: argparse.Namespace) -> None:
    try:
        if args.file == "-":
            world = json.load(sys.stdin)
        else:
            with open(args.file, encoding="utf-8") as source:
                world = json.load(source)
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error}", EXIT_INVALID) from None
    except ValueError as error:
        raise CliError(f"{args.file} is not JSON: {error}", EXIT_INVALID) from None
    _load_and_report(args.db, world, args.file)


def _dump(args: argparse.Namespace) -> None:
    conn = _connect(args.db)
    try:
        if args.service:
            document: dict[str, Any] = {args.service: storage.dump_service(conn, args.service)}
        else:
            document = storage.dump_world(conn)
    finally:
        conn.close()
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _faults(args: argparse.Namespace) -> None:
    changes = {name: getattr(args, name) for name, *_ in _FAULT_OPTIONS}
    changes = {name: value for name, value in changes.items() if value is not None}
    services = [args.service] if args.service else list(SERVICES)
    conn = _connect(args.db)
    try:
        shown: dict[str, Any] = {}
        for service in services:
            settings = read_faults(conn, service)
            if args.clear or changes:
                base = settings.cleared() if args.clear else settings
                try:
                    settings = FaultSettings.from_dict(changes, base)
                except ValueError as error:
                    raise CliError(str(error), EXIT_INVALID) from None
                write_faults(conn, service, settings)
            shown[service] = settings.as_dict()
    finally:
        conn.close()
    print(json.dumps(shown, indent=2))


def _requests(args: argparse.Namespace) -> None:
    conn = _connect(args.db)
    try:
        if args.reset:
            storage.clear_request_counts(conn, args.service)
            print("request counts cleared")
            return
        counts = storage.request_counts(conn, args.service)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(counts, indent=2))
        return
    if not counts:
        print("no requests counted")
        return
    for row in counts:
        status = "dropped" if row["status"] == 0 else row["status"]
        print(
            f"{row['service']:<10} {row['method']:<6} {row['endpoint']:<40} "
            f"{status:>7} {row['count']:>8}"
        )


if __name__ == "__main__":
    sys.exit(main())
