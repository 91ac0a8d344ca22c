"""User-facing errors: one line, naming the file and what to do, exit code 2."""

import sys


class UserError(Exception):
    """A mistake in the user's input (data, config, flags), not a bug.

    Entry points print `str(error)` as one line on stderr and exit with code 2.
    """


def exit_with(error: UserError) -> None:
    message = " ".join(str(error).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
