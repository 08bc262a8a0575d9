"""`harness ui`: the Gradio app (leaderboard, run detail, compare, jobs) — DESIGN.md "UI".

    harness ui [--host 127.0.0.1] [--port 7860] [--auth USER:PASS] [--home DIR]

Binds to loopback unless --host says otherwise; there is no public share link. --auth (or the
HARNESS_UI_AUTH environment variable, which keeps the password out of the process list) asks for a
user name and password on the page and on the API. gradio is imported only when this command runs.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

HELP = "serve the web UI: leaderboard, run explorer, compare, and a console for eval/train/loop jobs"


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {v}")
    return v


def _auth(text: str) -> tuple[str, str]:
    user, sep, pw = (text or "").partition(":")
    if not sep or not user or not pw:
        raise argparse.ArgumentTypeError("expected USER:PASS (both non-empty)")
    return user, pw


def register(sub: Any) -> None:
    p = sub.add_parser("ui", help=HELP, description=HELP)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    p.add_argument("--auth", type=_auth, metavar="USER:PASS",
                   help="require this user name and password (or set HARNESS_UI_AUTH=USER:PASS)")
    p.add_argument("--home", metavar="DIR",
                   help="the harness home with the leaderboard and the job registry (default $HARNESS_HOME or ~/.harness)")
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from harness.errors import UserError
    auth = args.auth
    if auth is None and os.environ.get("HARNESS_UI_AUTH"):
        try:
            auth = _auth(os.environ["HARNESS_UI_AUTH"])
        except argparse.ArgumentTypeError as e:
            raise UserError(f"HARNESS_UI_AUTH: {e}") from None
    if args.home:
        home = os.path.abspath(os.path.expanduser(args.home))
        os.makedirs(home, exist_ok=True)
        os.environ["HARNESS_HOME"] = home      # the app, the store and every job it starts use it
    from harness.log import leaderboard as store
    home = str(store.harness_home())
    if not _is_loopback(args.host) and auth is None:
        print(f"harness ui: warning: serving on {args.host} without --auth: anyone who can reach this port can "
              f"read your runs and start jobs", file=sys.stderr)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("the UI needs gradio: pip install 'toolcall-harness[ui]'") from None
    from ui.app import launch
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else (f"[{args.host}]" if ":" in args.host else args.host)

    def ready() -> None:
        print(f"harness ui: http://{shown}:{args.port}/ (leaderboard {home})"
              f"{' · sign-in required' if auth else ''} · Ctrl-C to stop", flush=True)

    try:
        launch(host=args.host, port=args.port, auth=auth, home=home, quiet=True, on_ready=ready)
    except OSError as e:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {e}") from None
    return 0
