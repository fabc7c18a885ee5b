"""
Reading files named by parameters without trusting them: regular files of bounded size only.

A path that comes from a parameter file, a launch argument or a remote parameter call may name
a FIFO (opening it for reading blocks until someone writes), a device (``/dev/zero`` never
ends), a folder or a huge file.  Every loader of the nodes (profile YAML, statistics JSON,
checkpoints) goes through :func:`open_regular_file` / :func:`read_regular_file`, which open
without blocking, check on the opened descriptor (so the file cannot be swapped between the
check and the read) that it is a regular file no larger than a limit, and raise
:class:`UnsafeFileError` with a message naming the file and what is wrong otherwise.

>>> data = read_regular_file('config/profile.yaml', MAX_CONFIG_BYTES, 'profile file')
"""

import os
import stat

#: Size limit of YAML / JSON configuration files (profiles, statistics) [bytes].
MAX_CONFIG_BYTES = 16 * 1024 * 1024
#: Size limit of a model checkpoint or weights file [bytes].
MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024


class UnsafeFileError(ValueError):
    """A file that is missing, not a regular file, empty or too large; the message names it."""


def _describe(mode):
    for test, name in ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO (named pipe)'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return 'not a plain file'


def _size_text(n):
    for unit, factor in (('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if n >= factor:
            return f'{n / factor:.3g} {unit}'
    return f'{n} bytes'


def check_stat(st, path, max_bytes, what='file', empty_ok=True):
    """Raise :class:`UnsafeFileError` unless ``st`` is a regular file of at most ``max_bytes``."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f'{what} {path} is not a regular file ({_describe(st.st_mode)}); '
                              'refusing to read it')
    if st.st_size > max_bytes:
        raise UnsafeFileError(f'{what} {path} is {_size_text(st.st_size)}, more than the '
                              f'{_size_text(max_bytes)} allowed; refusing to read it')
    if not empty_ok and st.st_size == 0:
        raise UnsafeFileError(f'{what} {path} is empty (0 bytes)')


def safe_regular_file(path, max_bytes, what='file', empty_ok=True):
    """
    Check that ``path`` is an existing regular file of at most ``max_bytes``; return its size.

    ``what`` names the file in messages (``'profile file'``).  Symbolic links are followed
    (the target is checked).  Prefer :func:`open_regular_file` when the file is read next:
    it checks the opened file itself.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnsafeFileError(f'{what} {path} does not exist') from None
    except OSError as exc:
        raise UnsafeFileError(f'cannot read {what} {path}: {exc.strerror or exc}') from None
    check_stat(st, path, max_bytes, what, empty_ok)
    return st.st_size


def open_regular_file(path, max_bytes, what='file', empty_ok=True):
    """
    Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    The file is opened non-blocking (a FIFO or a device returns at once instead of waiting
    for a writer) and then checked with ``fstat``; anything but a regular file is closed again
    and refused with :class:`UnsafeFileError`.  Returns a binary file object (a context manager).
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0) \
        | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_BINARY', 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnsafeFileError(f'{what} {path} does not exist') from None
    except IsADirectoryError:
        raise UnsafeFileError(f'{what} {path} is not a regular file (a folder); refusing to '
                              'read it') from None
    except OSError as exc:
        raise UnsafeFileError(f'cannot open {what} {path}: {exc.strerror or exc}') from None
    try:
        check_stat(os.fstat(fd), path, max_bytes, what, empty_ok)
        _set_blocking(fd)
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def _set_blocking(fd):
    try:
        os.set_blocking(fd, True)
    except (AttributeError, OSError):  # not on this platform; regular files ignore it anyway
        pass


def read_regular_file(path, max_bytes, what='file', empty_ok=True):
    """Return the bytes of ``path`` (see :func:`open_regular_file`); at most ``max_bytes``."""
    with open_regular_file(path, max_bytes, what, empty_ok) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew after the check, or a size-less special file
        raise UnsafeFileError(f'{what} {path} is more than the {_size_text(max_bytes)} allowed; '
                              'refusing to read it')
    return data


def read_text_file(path, max_bytes, what='file', empty_ok=True):
    """Return the UTF-8 text of ``path`` (see :func:`read_regular_file`)."""
    data = read_regular_file(path, max_bytes, what, empty_ok)
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise UnsafeFileError(f'{what} {path} is not UTF-8 text (byte {exc.start})') from None
