"""
One place reads torch files: ``runespoor.checkpoint.read_torch_file`` (``weights_only=True``).

Any other ``torch.load`` in the packages, scripts or benchmarks -- and any ``weights_only=False``
anywhere -- would bring back code execution from a crafted weights file (issue 16), so the tree
is scanned for them.  Tests may call ``torch.load(..., weights_only=True)`` to look inside a
file they wrote.
"""

import re

from systest import REPO

SCANNED = ['ros2_ws/src', 'scripts', 'benchmarks', 'launch', 'tests']
READER = 'ros2_ws/src/runespoor/runespoor/torch_files.py'
UNSAFE = re.compile(r'weights_only\s*=\s*False')
LOAD = re.compile(r'\btorch\.load\(|\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\(')


def _python_files():
    for top in SCANNED:
        for path in sorted((REPO / top).rglob('*.py')):
            rel = path.relative_to(REPO).as_posix()
            if '/build' in rel or '/install' in rel or '__pycache__' in rel:
                continue
            yield rel, path.read_text(encoding='utf-8', errors='replace')


def _code_lines(text):
    """Yield (number, line) of the lines of ``text`` that are not comments."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith('#'):
            continue
        yield number, line


def test_no_unsafe_torch_load_anywhere():
    found = []
    for rel, text in _python_files():
        if rel == 'tests/test_safe_loading.py':
            continue
        for number, line in _code_lines(text):
            if UNSAFE.search(line) and 'not in' not in line and '``' not in line:
                found.append(f'{rel}:{number}: {line.strip()}')
    assert not found, 'weights_only=False loads:\n' + '\n'.join(found)


def test_torch_files_are_read_only_by_the_checkpoint_reader():
    found = []
    for rel, text in _python_files():
        if rel in (READER, 'tests/test_safe_loading.py'):
            continue
        is_test = '/test/' in rel or rel.startswith('tests/')
        for number, line in _code_lines(text):
            if not LOAD.search(line) or '``' in line:
                continue
            if is_test and 'weights_only=True' in line:
                continue  # a test looking inside a file it wrote
            found.append(f'{rel}:{number}: {line.strip()}')
    assert not found, ('read torch/pickle files with runespoor.torch_files.read_torch_file or '
                       'inspect_checkpoint:\n' + '\n'.join(found))
