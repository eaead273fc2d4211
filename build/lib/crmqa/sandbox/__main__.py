"""`python -m crmqa.sandbox` (mounted by the CLI as `crmqa sandbox`): serve the sandbox CRM."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from crmqa.sandbox.config import SandboxSettings, password_from_env
from crmqa.sandbox.faults import FaultSet, UnknownFault, format_catalogue, parse_fault_list


def build_parser() -> argparse.ArgumentParser:
    """The command line of `crmqa sandbox`."""
    parser = argparse.ArgumentParser(
        prog="crmqa sandbox",
        description="Serve the sandbox CRM (REST API and web UI) with optional seeded faults.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to use (default: in memory, gone on exit)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the demo data (default 1)")
    parser.add_argument("--faults", default="",
                        help="comma-separated seeded faults to switch on (see --list-faults)")
    parser.add_argument("--list-faults", action="store_true",
                        help="print the catalogue of seeded faults and exit")
    parser.add_argument("--export-legacy", type=Path, default=None, metavar="PATH",
                        help="write the legacy CRM's lead extract (the migration's source) "
                        "as CSV and exit")
    parser.add_argument("--password", default=None,
                        help="password of the seeded users (default: env CRMQA_SANDBOX_PASSWORD "
                             "or 'sandbox-pass')")
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS",
                        help="answer every request MS milliseconds late, as a distant CRM "
                        "does (default 0)")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn log level (default warning)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, then serve until interrupted. Returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.list_faults:
        with contextlib.suppress(BrokenPipeError):
            print(format_catalogue(), flush=True)
        return 0
    if args.export_legacy is not None:
        from crmqa.sandbox.legacy import write_legacy_csv

        print(f"wrote {write_legacy_csv(args.export_legacy)}")
        return 0
    try:
        faults = FaultSet(parse_fault_list(args.faults))
    except UnknownFault as exc:
        print(f"crmqa sandbox: {exc}", file=sys.stderr)
        return 3
    if not 0 < args.port < 65536:
        print(f"crmqa sandbox: --port must be between 1 and 65535, not {args.port}",
              file=sys.stderr)
        return 3
    if args.db is not None and not args.db.parent.exists():
        print(f"crmqa sandbox: folder {args.db.parent} does not exist", file=sys.stderr)
        return 3

    # Imported here so that `--list-faults` and `--help` stay instant.
    import uvicorn

    from crmqa.sandbox.app import create_app

    settings = SandboxSettings(
        db_path=args.db,
        seed=args.seed,
        faults=faults,
        password=args.password or password_from_env(),
        latency_ms=max(args.latency_ms, 0),
    )
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown_host}:{args.port}"
    active = ", ".join(sorted(faults.names)) or "none"

    def announce() -> None:
        print(f"crmqa sandbox listening on {url} (UI {url}/login, API {url}/api, "
              f"faults: {active})", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("crmqa sandbox: warning: bound to a non-loopback address; "
                  "the sandbox is a test instrument, not a hardened server", flush=True)

    app = create_app(settings, on_started=announce)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                    access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
