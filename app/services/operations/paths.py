"""Local files a management action may read (an image to upload, a Heat template): only regular files
under one of the directories an operator allowed in a setting, with a size limit.

``check_allowed_file(path, dirs, ...)`` resolves symlinks and ``..`` (``os.path.realpath``) and refuses
anything whose real path is not inside a real allowed directory; ``open_allowed(f)`` opens the checked
file again without following a final symlink and verifies, on the open descriptor, that it is still
the same regular file of the same size under the same directory (a path swapped between the check and
the read is refused, not read)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from app.errors import InvalidArgument, NotPermitted


@dataclass(frozen=True)
class AllowedFile:
    path: str       # real path (no symlinks, no ..)
    size: int       # bytes at check time
    root: str       # the real allowed directory containing it


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_allowed_file(path: str | None, dirs: Sequence[str], *, setting: str, max_bytes: int | None,
                       what: str = "file", size_setting: str | None = None) -> AllowedFile:
    """The checked file, or NotPermitted/InvalidArgument saying why (and which setting to change)."""
    raw = (path or "").strip()
    if not raw:
        raise InvalidArgument(f"Give the {what} as an absolute path.")
    if "\x00" in raw:
        raise InvalidArgument(f"The {what} path contains a NUL character.")
    roots = [os.path.realpath(os.path.expanduser(d)) for d in dirs if str(d).strip()]
    if not roots:
        raise NotPermitted(f"Reading a local {what} is disabled on this server: the operator has to list the "
                           f"directories it may read in {setting} (JSON list). Nothing was changed.")
    if not os.path.isabs(os.path.expanduser(raw)):
        raise InvalidArgument(f"Give the {what} as an absolute path under one of: {', '.join(roots)}.")
    real = os.path.realpath(os.path.expanduser(raw))
    root = next((r for r in roots if _inside(real, r)), None)
    if root is None:
        raise NotPermitted(f"'{raw}' resolves to '{real}', which is outside the directories this server may read "
                           f"({', '.join(roots)}; set by {setting}). Symlinks and '..' are resolved before the "
                           "check. Nothing was changed.")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise InvalidArgument(f"No such {what}: '{raw}'.") from None
    except OSError as e:
        raise InvalidArgument(f"Cannot read the {what} '{raw}': {e.strerror}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"'{raw}' is not a regular file.")
    if not os.access(real, os.R_OK):
        raise InvalidArgument(f"The server has no read permission on '{raw}'.")
    if max_bytes is not None and st.st_size > max_bytes:
        where = f" (set by {size_setting})" if size_setting else ""
        raise InvalidArgument(f"'{raw}' is {st.st_size} bytes; the limit is {max_bytes} bytes{where}.")
    return AllowedFile(path=real, size=st.st_size, root=root)


def open_allowed(f: AllowedFile) -> BinaryIO:
    """Open a checked file for reading, verifying on the descriptor that nothing changed since the check."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(f.path, flags)
    except OSError as e:
        raise NotPermitted(f"'{f.path}' can no longer be opened safely ({e.strerror}); nothing was read.") from None
    try:
        st = os.fstat(fd)
        proc = f"/proc/self/fd/{fd}"
        real = os.readlink(proc) if os.path.islink(proc) else os.path.realpath(f.path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != f.size or not _inside(real, f.root):
            raise NotPermitted(f"'{f.path}' changed between the check and the read; nothing was read. Try again.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
