"""Download a file over HTTP(S) atomically, with a progress bar."""
from __future__ import annotations

import shutil
import tempfile
import urllib.request
from pathlib import Path

from featherweight.progress import progress_bar


def download(url: str, destination, *, show_progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch `url` into `destination`; a partial download never stands at the final path."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except OSError as error:
        raise ConnectionError(f"Could not download {url}: {error}. Check the network, or place "
                              f"the file at {destination} yourself.") from error
    total = int(response.headers.get("Content-Length") or 0) or None
    with response, tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as tmp:
        with progress_bar(total=total, desc=f"download {destination.name}", unit="B",
                          unit_scale=True, enable=show_progress) as bar:
            while chunk := response.read(1 << 20):
                tmp.write(chunk)
                bar.update(len(chunk))
    shutil.move(tmp.name, destination)
    return destination
