"""Private files: written atomically with mode 0600, refused when others can read them."""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import OrgStoreError


def ensure_private_dir(path: Path) -> None:
    """Create `path` (mode 0700) when missing."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OrgStoreError(f"cannot create the config directory {path}: {exc.strerror}") from None


def check_private(path: Path) -> None:
    """Refuse a file that group or others may read or write: it holds credentials."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise OrgStoreError(
            f"{path} is accessible to other users (mode {mode:04o}) and may hold credentials: "
            f"run `chmod 600 {path}`, and log in again if others could have read it"
        )


def read_private(path: Path) -> bytes | None:
    """The bytes of a private file, None when it does not exist."""
    check_private(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OrgStoreError(f"cannot read {path}: {exc.strerror}") from None


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: temp file (0600) + fsync + rename + dir fsync.

    A reader sees either the old file or the new one, never a half-written one, even if the
    process dies mid-write.
    """
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; fchmod is not
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OrgStoreError(f"cannot write {path}: {exc.strerror}") from None
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every filesystem allows opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (a lock file) across processes."""
    ensure_private_dir(path.parent)
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames still keep each file whole
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
