"""The ``eventbus`` command: ``token`` mints development tokens, ``codegen`` runs codegen, ``admin-password`` hashes."""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys
from typing import TYPE_CHECKING

from eventbus.bus import authenticator_from
from eventbus.observability.admin_ui import hash_password
from eventbus.settings import EventBusSettings

if TYPE_CHECKING:
    from collections.abc import Sequence


def _claim(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"a claim is KEY=VALUE (got {text!r})")
    return key, value


def token(argv: Sequence[str]) -> int:
    """Print a token for ``--user`` signed with ``EVENTBUS_JWT_SECRET`` (or ``--secret``)."""
    parser = argparse.ArgumentParser(prog="eventbus token", description="Mint a development JWT.")
    parser.add_argument("--user", required=True, help="user id, the token's subject")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until the token expires (default 3600)")
    parser.add_argument("--secret", help="HS* secret (default: EVENTBUS_JWT_SECRET)")
    parser.add_argument("--claim", type=_claim, action="append", default=[], help="extra claim KEY=VALUE")
    args = parser.parse_args(argv)
    settings = EventBusSettings(**({"jwt_secret": args.secret} if args.secret else {}))
    auth = authenticator_from(settings)
    if auth is None:
        parser.error("no secret: set EVENTBUS_JWT_SECRET or pass --secret")
    print(auth.issue(args.user, ttl=args.ttl, audience=settings.jwt_audience, **dict(args.claim)))
    return 0


def admin_password(argv: Sequence[str]) -> int:
    """Print the ``password_hash`` of an Admin UI password, read from the terminal (or stdin when piped)."""
    parser = argparse.ArgumentParser(
        prog="eventbus admin-password",
        description="Hash an Admin UI password for EVENTBUS_ADMIN_UI's password_hash (scrypt); the password is "
        "read from the terminal, or from standard input when it is not one.",
    )
    parser.parse_args(argv)
    password = getpass.getpass("Admin UI password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        parser.error("an empty password protects nothing")
    print(hash_password(password))
    return 0


COMMANDS = {
    "token": "mint a development JWT signed with EVENTBUS_JWT_SECRET",
    "admin-password": "hash a password for the Socket.IO Admin UI (EVENTBUS_ADMIN_UI's password_hash)",
    "codegen": "generate JSON Schema, TypeScript, a Python SDK and AsyncAPI (needs the 'codegen' extra)",
}


def _usage() -> str:
    lines = ["usage: eventbus COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<14} {summary}" for name, summary in COMMANDS.items()]
    lines += ["", "Run 'eventbus COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eventbus`` console script.

    Example:
        >>> main(["--help"])  # doctest: +ELLIPSIS
        usage: eventbus COMMAND [ARGS...]
        ...
        0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args and args[0] == "codegen":
        # Imported by name at run time: eventbus and codegen never import each other.
        codegen_main = importlib.import_module("codegen.cli").main
        return int(codegen_main(args[1:]))
    if not args or args[0] not in COMMANDS:
        print(_usage(), file=sys.stderr)
        return 2
    if args[0] == "admin-password":
        return admin_password(args[1:])
    return token(args[1:])


if __name__ == "__main__":
    sys.exit(main())
