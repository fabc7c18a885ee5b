"""Files named by parameters: only regular files of bounded size are read; nothing blocks."""

import os

import pytest

from runespoor import testing
from runespoor.safe_files import (open_regular_file, read_regular_file, read_text_file,
                                  safe_regular_file, UnsafeFileError)


def call_bounded(fn, fifo=None):
    """Run ``fn`` (bounded in time, :func:`runespoor.testing.call_bounded`); return its error."""
    return testing.call_bounded(fn, fifo)[1]


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, 'mkfifo'):
        pytest.skip('no FIFOs on this platform')
    path = str(tmp_path / 'profile.yaml')
    os.mkfifo(path)
    return path


def test_regular_file_is_read(tmp_path):
    path = tmp_path / 'a.yaml'
    path.write_bytes(b'profile: {}\n')
    assert safe_regular_file(str(path), 100, 'profile file') == 12
    assert read_regular_file(str(path), 100) == b'profile: {}\n'
    assert read_text_file(path, 100) == 'profile: {}\n'
    with open_regular_file(str(path), 100) as f:
        assert f.read() == b'profile: {}\n'


@pytest.mark.parametrize('reader', [read_regular_file, read_text_file, open_regular_file,
                                    safe_regular_file])
def test_fifo_refused_at_once(fifo, reader):
    exc = call_bounded(lambda: reader(fifo, 1000, 'profile file'), fifo)
    assert isinstance(exc, UnsafeFileError)
    assert str(exc) == (f'profile file {fifo} is not a regular file (a FIFO (named pipe)); '
                        'refusing to read it')


def test_symlink_to_fifo_refused(fifo, tmp_path):
    link = tmp_path / 'innocent.yaml'
    link.symlink_to(fifo)
    exc = call_bounded(lambda: read_regular_file(str(link), 1000, 'profile file'), fifo)
    assert isinstance(exc, UnsafeFileError) and 'a FIFO' in str(exc)


def test_device_and_folder_refused(tmp_path):
    if os.path.exists('/dev/zero'):
        exc = call_bounded(lambda: read_regular_file('/dev/zero', 1000, 'statistics file'))
        assert isinstance(exc, UnsafeFileError)
        assert 'statistics file /dev/zero is not a regular file (a character device)' in str(exc)
    with pytest.raises(UnsafeFileError, match='is not a regular file .a folder.'):
        read_regular_file(str(tmp_path), 1000)
    with pytest.raises(UnsafeFileError, match='is not a regular file .a folder.'):
        safe_regular_file(str(tmp_path), 1000)


def test_missing_oversize_empty_and_binary(tmp_path):
    with pytest.raises(UnsafeFileError, match=r'profile file \S+nope.yaml does not exist'):
        read_regular_file(str(tmp_path / 'nope.yaml'), 10, 'profile file')
    with pytest.raises(UnsafeFileError, match='does not exist'):
        safe_regular_file(str(tmp_path / 'nope.yaml'), 10)
    big = tmp_path / 'big.json'
    big.write_bytes(b'x' * 3000)
    with pytest.raises(UnsafeFileError, match=r'big.json is 2.93 KiB, more than the 2 KiB '
                                              'allowed'):
        read_regular_file(str(big), 2048)
    empty = tmp_path / 'empty.yaml'
    empty.write_bytes(b'')
    assert read_regular_file(str(empty), 10) == b''
    with pytest.raises(UnsafeFileError, match=r'empty.yaml is empty \(0 bytes\)'):
        read_regular_file(str(empty), 10, empty_ok=False)
    binary = tmp_path / 'bin.yaml'
    binary.write_bytes(b'ok\xff')
    with pytest.raises(UnsafeFileError, match='is not UTF-8 text'):
        read_text_file(str(binary), 10)
