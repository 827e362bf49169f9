"""Atomic HTTP downloads with a progress bar, a timeout, retries and verification.

A file is streamed into a temporary file in the destination folder, hashed on the way,
verified, and only then renamed onto its final name (os.replace, atomic on one file
system). Whatever goes wrong (network error, short transfer, failed verification, Ctrl-C)
the temporary file is removed, so the destination never holds a partial file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

TIMEOUT_S = 30.0  # seconds without data before a connection is given up
RETRIES = 3  # attempts per mirror for transient errors (network, truncated transfer, HTTP 5xx)
BACKOFF_S = 1.0  # pause before retry k is k * BACKOFF_S
CHUNK_BYTES = 1 << 20

Verifier = Callable[[Path, str], None]
"""Called with (temporary file, its SHA-256); raises ValueError if the file is not good."""


class DownloadError(OSError):
    """No mirror delivered a good copy of a file; `attempts` says what each try got."""

    def __init__(self, name: str, attempts: Sequence[str]) -> None:
        self.attempts = list(attempts)
        super().__init__(f"could not download {name}: " + "; ".join(self.attempts))


class TruncatedTransfer(OSError):
    """The connection ended before the announced Content-Length was received."""


def fetch(
    urls: Sequence[str],
    dest: Path,
    verify: Verifier,
    *,
    timeout: float = TIMEOUT_S,
    retries: int = RETRIES,
    progress: bool = True,
) -> None:
    """Download the first good copy among `urls` to `dest`, atomically.

    Inputs:
    - urls: candidate URLs of the same file, tried in order.
    - dest: final path; its folder must exist. Never left holding a partial file.
    - verify: checks the downloaded temporary file (see Verifier); a copy it rejects is
      deleted and the next URL is tried.
    - timeout: seconds without data before one attempt is given up.
    - retries: attempts per URL for transient errors.
    - progress: show a tqdm progress bar on stderr.

    Raises DownloadError listing every attempt if no URL gave a good copy.
    """
    attempts: list[str] = [] if urls else ["no mirror URL is configured"]
    for url in urls:
        for attempt in range(1, max(retries, 1) + 1):
            try:
                _download_once(url, dest, verify, timeout, progress)
                return
            except ValueError as error:  # arrived but is not the right file: next mirror
                attempts.append(f"{url}: {error}")
                break
            except urllib.error.HTTPError as error:
                attempts.append(f"{url}: HTTP {error.code} {error.reason}")
                if error.code < 500:  # 404 and friends will not change on retry
                    break
            except (OSError, http.client.HTTPException) as error:
                attempts.append(f"{url}: {_describe(error, timeout)}")
            if attempt < retries:
                time.sleep(BACKOFF_S * attempt)
    raise DownloadError(dest.name, attempts)


def _download_once(url: str, dest: Path, verify: Verifier, timeout: float, progress: bool) -> None:
    """One attempt: stream `url` into a temporary file beside `dest`, verify, rename."""
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                sha256 = _copy(response, out, dest.name, progress)
            out.flush()
            os.fsync(out.fileno())
        verify(tmp, sha256)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file is for every user
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy(response: http.client.HTTPResponse, out, name: str, progress: bool) -> str:
    """Copy a response body to `out` with a progress bar; return its SHA-256 (hex)."""
    from tqdm.auto import tqdm  # imported here so that importing dlcourse.data stays fast

    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    sha256 = hashlib.sha256()
    received = 0
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not progress
    ) as bar:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            sha256.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received != total:
        raise TruncatedTransfer(
            f"truncated transfer: received {received:,} of the {total:,} bytes announced"
        )
    return sha256.hexdigest()


def _describe(error: BaseException, timeout: float) -> str:
    """A one-line reason for a failed attempt."""
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, TimeoutError):
        return f"no data for {timeout:g} s (timed out)"
    text = str(error) or type(error).__name__
    return text if isinstance(error, TruncatedTransfer) else f"{type(error).__name__}: {text}"
