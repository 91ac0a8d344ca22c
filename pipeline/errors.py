"""User-facing errors: one line, naming the file and what to do, exit code 2."""

import sys

from export.contract import UserError  # the one user-error type, defined with the contract

__all__ = ["UserError", "exit_with"]


def exit_with(error: UserError) -> None:
    message = " ".join(str(error).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
