"""The one exception type users see, and the wrapper that turns it into a clean CLI error."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


class StudyError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


def cli(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a ``StudyError`` prints one line to stderr and exits with status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
