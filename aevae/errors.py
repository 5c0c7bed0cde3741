"""The one exception type users see, and the wrapper that turns it into a clean CLI error."""

from __future__ import annotations

import errno
import logging
import signal
import sys
from collections.abc import Callable

# OSErrors that are the machine saying no (permissions, a read-only or full disk), not a bug: the user
# can fix each, so it gets one line with the fix instead of a traceback. Other OSErrors stay tracebacks.
OS_FIXES = {
    errno.EACCES: "check the owner and mode of the path and its folder",
    errno.EPERM: "check the owner and mode of the path and its folder",
    errno.EROFS: "the file system is read-only: make the folder writable, or point it at a writable disk",
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is used up: free some space",
    errno.EFBIG: "the file system cannot hold a file this large: use another disk",
}
INTERRUPTED = "interrupted; every output is written atomically, so nothing partial was left: re-run the stage"
TERMINATED = "terminated (SIGTERM: a kill, a CI time limit or a shutdown); " + INTERRUPTED.split("; ", 1)[1]


class StudyError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


class Terminated(BaseException):
    """SIGTERM, raised where the stage is (as Ctrl-C raises KeyboardInterrupt), so every ``finally`` runs:
    temp files are removed and no output is half-replaced."""


def _terminate(signum, frame) -> None:
    raise Terminated


def describe_os_error(e: OSError, what: str | None = None) -> str:
    """One line for an ``OSError``: ``what`` failed (default: its file), the cause, the fix when known.

    The cause is ``strerror`` without the errno noise; the file the OS named is kept when it is not
    already the subject (e.g. the temp file beside an output). ``write`` on a full disk names no file.
    """
    cause = e.strerror or str(e) or type(e).__name__
    parts = (what or e.filename, cause, e.filename if what else None)
    line = ": ".join(str(part) for part in parts if part is not None)
    fix = OS_FIXES.get(e.errno)
    return line + (f"; {fix}, then re-run the stage" if fix else "")


def only_check(stage: str) -> bool:
    """The one flag of a check stage (``stages.<stage>``): True for ``--only-check`` (check, write nothing),
    False for no argument; anything else is refused with the usage line."""
    args = sys.argv[1:]
    if args not in ([], ["--only-check"]):
        raise StudyError(f"usage: python -m stages.{stage} [--only-check]; got {' '.join(args)}")
    return bool(args)


def cli(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user-fixable failure prints one line to stderr instead of a traceback.

    ``StudyError`` and an ``OSError`` listed in ``OS_FIXES`` exit with status 2, Ctrl-C with 130 and SIGTERM
    with 143 (128 + the signal, what a shell reports). Anything else is a bug and keeps its traceback.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except StudyError as e:
        _fail(str(e), 2)
    except KeyboardInterrupt:
        _fail(INTERRUPTED, 130)
    except Terminated:
        _fail(TERMINATED, 128 + signal.SIGTERM)
    except OSError as e:
        if e.errno not in OS_FIXES:
            raise
        _fail(describe_os_error(e), 2)


def _fail(message: str, status: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)
