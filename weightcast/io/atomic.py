"""Write files under a temporary name and rename them into place, so no reader ever sees half a file."""

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output"]


@contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; on success it is flushed to disk and renamed onto ``path``.

    If the body raises (including ``KeyboardInterrupt``) the temporary file is removed and ``path`` is
    left as it was: absent, or the previous complete file. The body must open the yielded path itself
    (note that ``np.save`` given a *name* appends ".npy": pass it an open file instead).

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(target) as tmp:
    ...     with open(tmp, "w") as f:
    ...         _ = f.write("done")
    >>> open(target).read()
    'done'
    """
    path = Path(os.fspath(path))
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the directory {str(parent)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a directory")
    # Same directory, so that the rename is atomic (one file system); hidden, so globs skip it.
    tmp = parent / f".{path.name}.{uuid.uuid4().hex[:12]}.part"
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
