"""Download of the full MNIST (60,000 + 10,000 images) into a cache folder, on request only.

Nothing here runs at import or implicitly: `load_dataset("mnist")` downloads only when told to
(`download=True`). Each file is streamed to a temporary name in the target folder while its
SHA-256 is computed, checked against the known value, then renamed into place with
`os.replace`, so a folder never holds a partial or unverified file under the real name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nodestudio.data.errors import DatasetError

# The original yann.lecun.com host stopped serving the files; these mirrors carry the
# byte-identical originals (the checksums below are those of the 1998 files).
MNIST_MIRRORS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Generous bound on one file (the largest is 9.9 MB): a misbehaving server cannot fill the disk.
MAX_DOWNLOAD_BYTES = 64 << 20
_CHUNK = 1 << 16

Progress = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)


def default_cache_dir() -> Path:
    """$NODESTUDIO_DATA_DIR, else $XDG_CACHE_HOME/nodestudio/datasets, else
    ~/.cache/nodestudio/datasets."""
    if os.environ.get("NODESTUDIO_DATA_DIR"):
        return Path(os.environ["NODESTUDIO_DATA_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nodestudio" / "datasets"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(folder: str | os.PathLike | None = None, *,
                   base_url: str | Sequence[str] | None = None,
                   checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
                   progress: Progress | None = None) -> Path:
    """Fetch the four MNIST files into `folder` (default: `default_cache_dir()/mnist`).

    Files already present with the right checksum are kept (the folder is the cache); others
    are fetched from the first mirror in `base_url` that serves them (default: MNIST_MIRRORS,
    read at call time). `checksums` maps file name to SHA-256 (default: the known MNIST values;
    tests pass their own). `timeout` bounds each connect and each read, in seconds. Returns the
    folder; raises DatasetError naming the file and URL on any failure.
    """
    folder = Path(folder) if folder is not None else default_cache_dir() / "mnist"
    checksums = dict(MNIST_SHA256 if checksums is None else checksums)
    if base_url is None:
        base_url = MNIST_MIRRORS
    bases = [base_url] if isinstance(base_url, str) else list(base_url)
    if not bases:
        raise DatasetError("no base URL to download from")
    for base in bases:
        scheme = urllib.parse.urlsplit(base).scheme
        if scheme not in ("http", "https"):
            raise DatasetError(f"only http and https URLs are allowed, got {base!r}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the folder ({exc.strerror or exc})", folder) from None
    for filename, expected in checksums.items():
        if not filename or Path(filename).name != filename or filename in (".", ".."):
            raise DatasetError(f"{filename!r} is not a plain file name")
        target = folder / filename
        if target.is_file() and sha256_of(target) == expected.lower():
            continue
        errors = []
        for base in bases:
            url = urllib.parse.urljoin(base if base.endswith("/") else base + "/", filename)
            try:
                _fetch(url, target, expected.lower(), timeout, progress)
                break
            except DatasetError as exc:
                errors.append(str(exc))
        else:
            raise DatasetError("download failed from every mirror:\n  " + "\n  ".join(errors),
                               target)
    return folder


def _fetch(url: str, target: Path, expected: str, timeout: float,
           progress: Progress | None) -> None:
    """Stream `url` to a temporary file beside `target`, verify, then rename into place."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    if total is not None and total > MAX_DOWNLOAD_BYTES:
                        raise DatasetError(f"the server announces {total} bytes, more than "
                                           f"the limit of {MAX_DOWNLOAD_BYTES}", url)
                    done = 0
                    while block := response.read(_CHUNK):
                        done += len(block)
                        if done > MAX_DOWNLOAD_BYTES:
                            raise DatasetError(f"more than {MAX_DOWNLOAD_BYTES} bytes; stopped",
                                               url)
                        digest.update(block)
                        out.write(block)
                        if progress is not None:
                            progress(target.name, done, total)
                    if total is not None and done != total:
                        raise DatasetError(f"the connection closed after {done} of {total} "
                                           "bytes", url)
            except urllib.error.HTTPError as exc:
                raise DatasetError(f"HTTP {exc.code} {exc.reason}", url) from None
            except urllib.error.URLError as exc:
                raise DatasetError(f"cannot connect ({exc.reason})", url) from None
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                # read timeouts, resets and short bodies mid-transfer
                raise DatasetError(f"transfer failed ({exc})", url) from None
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise DatasetError(f"SHA-256 mismatch: expected {expected}, got {got} (the file "
                               "was not kept)", url)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
