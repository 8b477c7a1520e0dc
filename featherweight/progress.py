"""Progress bars that can be switched off and show only on the main process."""
from __future__ import annotations

import multiprocessing
import os
import sys

from tqdm.auto import tqdm


def progress_enabled(enable: bool = True) -> bool:
    """Bars show when asked for, on the main process, and not when FEATHERWEIGHT_NO_PROGRESS is set."""
    return (enable and multiprocessing.parent_process() is None
            and not os.environ.get("FEATHERWEIGHT_NO_PROGRESS"))


def progress_bar(iterable=None, *, enable: bool = True, **kwargs) -> tqdm:
    """A tqdm bar that becomes a no-op when disabled; write logs through `bar.write`."""
    return tqdm(iterable, disable=not progress_enabled(enable), dynamic_ncols=True, **kwargs)


def report(message: str) -> None:
    """Print a progress message to stderr without breaking an active bar (stdout stays for results)."""
    tqdm.write(message, file=sys.stderr)


def shards_done(is_done, starts: range, n_rows: int, shard_rows: int) -> tuple[int, int]:
    """(finished shards, rows they cover) of a sharded run over `n_rows` rows; `is_done(number)` tells a finished
    shard, `starts` are the shards' first rows."""
    done = [start for number, start in enumerate(starts) if is_done(number)]
    return len(done), sum(min(shard_rows, n_rows - start) for start in done)
