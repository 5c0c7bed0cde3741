"""How long each stage of the study took in the last run: from a `dvc repro` log whose lines were
stamped with the wall-clock time as they arrived (``make repro`` does not stamp; run
``dvc repro 2>&1 | python -m bench.stage_times --stamp > repro.log`` to make one), each stage's time is
from its "Running stage" line to the next stage's (or the log's end).

    python -m bench.stage_times repro.log       # a markdown table: stage, minutes
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict


def stamp() -> None:
    """Copy stdin to stdout, each line prefixed with the seconds since the epoch it arrived at."""
    for line in sys.stdin:
        sys.stdout.write(f"{time.time():.1f} {line}")
        sys.stdout.flush()


def durations(lines: list[str]) -> dict[str, float]:
    """Seconds per stage, from stamped log lines (``"<seconds> <text>"``)."""
    marks = []
    last = None
    for line in lines:
        t, _, text = line.partition(" ")
        try:
            last = float(t)
        except ValueError:
            continue
        if m := re.search(r"Running stage '([^']+)'", text):
            marks.append((m.group(1), last))
    out = {}
    for (stage, t0), nxt in zip(marks, [*marks[1:], (None, last)], strict=True):
        out[stage] = nxt[1] - t0
    return out


def table(times: dict[str, float]) -> str:
    groups: dict[str, list[float]] = defaultdict(list)
    for stage, s in times.items():
        groups[stage.split("@")[0]].append(s)
    rows = ["| stage | runs | minutes each | minutes in all |", "|---|---|---|---|"]
    for g, ts in groups.items():
        each = ", ".join(f"{t / 60:.1f}" for t in ts)
        rows.append(f"| {g} | {len(ts)} | {each} | {sum(ts) / 60:.1f} |")
    rows.append(f"| total | {len(times)} | | {sum(times.values()) / 60:.1f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:] == ["--stamp"]:
        stamp()
    else:
        with open(sys.argv[1]) as f:
            print(table(durations(f.read().replace("\r", "\n").splitlines())))
