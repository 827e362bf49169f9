"""Decoders for the two on-disk dataset formats: gzipped IDX files and CIFAR python batches.

They only read bytes: nothing in a file can run code (the CIFAR pickles go through an
unpickler that knows four NumPy globals and refuses everything else). Any problem with a
file's bytes (truncated, corrupt, unexpected layout) raises FormatError with a short reason;
dlcourse.data adds the file's path and the fix.

Shapes returned (N = number of examples in the file or split):
- IDX: whatever the IDX header says, e.g. images (N, 28, 28) and labels (N,), uint8.
- CIFAR: images (N, 3, 32, 32) uint8 channels-first (the row layout of the batch files,
  before Keras' transpose) and labels (N,) uint8.
"""

from __future__ import annotations

import io
import math
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

CHUNK_BYTES = 1 << 20  # compressed bytes per step (256 KiB and 4 MiB measured slower)
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than about 1032:1

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_ROW_BYTES = 3 * 32 * 32

_IDX_UINT8 = 0x08


class FormatError(ValueError):
    """A dataset file is truncated, corrupt, or not laid out as expected."""


# --------------------------------------------------------------------------- gzip


def _gunzip_pieces(stream: BinaryIO) -> Iterator[bytes]:
    """Yield the decompressed bytes of a gzip stream piece by piece.

    zlib checks every member's CRC-32 and length itself; several concatenated members are
    accepted, like `gzip` does. Raises FormatError for corrupt or truncated data.
    """
    member = None
    while chunk := stream.read(CHUNK_BYTES):
        while chunk:
            if member is None or member.eof:
                member = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
            try:
                piece = member.decompress(chunk)
            except zlib.error as error:
                raise FormatError(f"corrupt gzip data ({error})") from None
            if piece:
                yield piece
            chunk = member.unused_data if member.eof else b""
    if member is None:
        raise FormatError("the file is empty")
    if not member.eof:
        raise FormatError("truncated: the gzip stream ends before its end-of-stream marker")


# --------------------------------------------------------------------------- IDX


def _idx_header(head: bytes) -> tuple[int, tuple[int, ...]] | None:
    """Parse an IDX header: (header length, dims), or None if `head` is still too short."""
    if len(head) < 4:
        return None
    if head[0] != 0 or head[1] != 0 or head[2] != _IDX_UINT8 or not 1 <= head[3] <= 4:
        raise FormatError(
            f"not an IDX file of unsigned bytes: magic number 0x{head[:4].hex()}, "
            "expected 0x000008NN with NN the number of dimensions (1 to 4)"
        )
    length = 4 + 4 * head[3]
    if len(head) < length:
        return None
    dims = tuple(int.from_bytes(head[i : i + 4], "big") for i in range(4, length, 4))
    return length, dims


def read_idx_gz(path: Path) -> np.ndarray:
    """Decode a gzipped IDX file of unsigned bytes (the MNIST family's format).

    Inputs:
    - path: a `.gz` file whose content is an IDX array of type 0x08 (uint8).

    Returns:
    - array: uint8 array of the shape given by the IDX header, C-contiguous and writeable.

    Raises FormatError if the file is truncated, corrupt, or holds more or fewer values
    than its header announces.
    """
    limit = max(path.stat().st_size, 1) * MAX_DEFLATE_RATIO
    with open(path, "rb") as stream:
        pieces = _gunzip_pieces(stream)
        head = b""
        parsed = None
        for piece in pieces:
            head += piece
            parsed = _idx_header(head)
            if parsed is not None:
                break
        if parsed is None:
            raise FormatError(f"truncated: only {len(head)} bytes, shorter than an IDX header")
        header_length, dims = parsed
        size = math.prod(dims)
        if size > limit:
            raise FormatError(f"the IDX header announces {dims}, too large for this file")
        out = np.empty(size, dtype=np.uint8)
        filled = _fill(out, head[header_length:], 0)
        for piece in pieces:  # exhausting the generator also checks the gzip trailer
            filled = _fill(out, piece, filled)
    if filled != size:
        raise FormatError(
            f"truncated: the IDX header announces shape {dims} ({size:,} values) "
            f"but the file holds {filled:,}"
        )
    return out.reshape(dims)


def _fill(out: np.ndarray, piece: bytes, filled: int) -> int:
    """Copy `piece` into the flat uint8 `out` from position `filled`; return the new fill."""
    end = filled + len(piece)
    if end > out.size:
        raise FormatError(f"the file holds more than the {out.size:,} values its header announces")
    out[filled:end] = np.frombuffer(piece, dtype=np.uint8)
    return end


# --------------------------------------------------------------------------- CIFAR


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle asked for a global outside the NumPy allow-list."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays and refuses every other global.

    The CIFAR batches are pickled dicts of bytes, lists of ints and one uint8 array; an
    array needs exactly these globals (spelled `numpy.core` by old writers, `numpy._core`
    by NumPy 2). A tampered file asking for anything else (os.system, eval, ...) is refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> object:
        """Return an allowed NumPy global; raise UnpicklingError for anything else."""
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(
                f"refused to load the global {module}.{name} (only NumPy arrays are allowed); "
                "the file may be corrupt or malicious"
            ) from None


def _decode_batch(stream: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one CIFAR batch pickle into (images (n, 3, 32, 32), labels (n,)) uint8."""
    try:
        batch = _NumpyOnlyUnpickler(stream, encoding="bytes").load()
    except _RefusedGlobal as error:
        raise FormatError(f"{where}: {error}") from None
    except FormatError:  # the archive's gzip stream failed underneath the unpickler
        raise
    except Exception as error:  # garbage bytes can raise almost anything from the unpickler
        raise FormatError(
            f"{where} is not a valid pickle, probably truncated or corrupt "
            f"({type(error).__name__}: {error})"
        ) from None
    if not isinstance(batch, dict):
        raise FormatError(f"{where} holds a {type(batch).__name__}, expected a dict")
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == CIFAR_ROW_BYTES
    ):
        found = (
            f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        )
        raise FormatError(f"{where}: b'data' is {found}, expected uint8 (n, {CIFAR_ROW_BYTES})")
    return data.reshape(-1, 3, 32, 32), _labels(labels, len(data), where)


def _labels(labels: object, count: int, where: str) -> np.ndarray:
    """Check a batch's b'labels' (a list of ints in 0..255, one per row); return uint8 (n,)."""
    try:
        values = np.asarray(labels)
    except Exception:  # ragged or odd objects
        values = np.asarray([])
    if values.shape != (count,) or values.dtype.kind not in "iu":
        raise FormatError(f"{where}: b'labels' is not a list of {count} integers")
    if count and (values.min() < 0 or values.max() > 255):
        raise FormatError(f"{where}: b'labels' has values outside 0..255")
    return values.astype(np.uint8)


def _assemble(batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack the five training batches in order; the test batch is the test split."""
    train = [batches[name] for name in CIFAR_TRAIN_BATCHES]
    x_test, y_test = batches[CIFAR_TEST_BATCH]
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }


def read_cifar_folder(folder: Path) -> dict[str, np.ndarray]:
    """Decode an extracted `cifar-10-batches-py/` folder.

    Inputs:
    - folder: holds data_batch_1 ... data_batch_5 and test_batch.

    Returns:
    - arrays: {"x_train": (N, 3, 32, 32), "y_train": (N,), "x_test": ..., "y_test": ...},
      uint8, channels-first, training batches stacked in order.

    Raises FormatError naming the batch file that is missing, truncated or corrupt.
    """
    batches = {}
    for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH):
        path = folder / name
        if not path.is_file():
            raise FormatError(f"{name} is missing from the folder")
        with open(path, "rb") as stream:
            batches[name] = _decode_batch(stream, name)
    return _assemble(batches)


def read_cifar_archive(path: Path) -> dict[str, np.ndarray]:
    """Decode `cifar-10-python.tar.gz` while decompressing it, without extracting to disk.

    Inputs:
    - path: the gzipped tar archive holding `cifar-10-batches-py/<batch>`.

    Returns:
    - arrays: as read_cifar_folder.

    Raises FormatError if the archive is truncated, corrupt or lacks a batch (named).
    """
    wanted = {f"{CIFAR_FOLDER}/{name}": name for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)}
    batches = {}
    with open(path, "rb") as stream:
        content = io.BufferedReader(_PieceReader(_gunzip_pieces(stream)), CHUNK_BYTES)
        try:
            with tarfile.open(fileobj=content, mode="r|") as archive:  # one pass, in order
                for member in archive:
                    name = wanted.get(member.name)
                    if name is not None and member.isfile():
                        where = f"member {member.name}"
                        batches[name] = _decode_batch(archive.extractfile(member), where)
        except tarfile.TarError as error:
            raise FormatError(f"not a valid tar archive, probably truncated ({error})") from None
        while content.read(CHUNK_BYTES):  # the gzip trailer is checked at the very end
            pass
    missing = [member for member, name in wanted.items() if name not in batches]
    if missing:
        raise FormatError(f"the archive lacks {', '.join(missing)}")
    return _assemble(batches)


class _PieceReader(io.RawIOBase):
    """A read-only stream over an iterator of bytes pieces (the decompressed archive)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._piece = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._piece:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._piece = memoryview(piece)
        size = min(len(buffer), len(self._piece))
        buffer[:size] = self._piece[:size]
        self._piece = self._piece[size:]
        return size
