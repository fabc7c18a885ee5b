"""Build outputs, virtual environments and generated data never show up in `git status`."""

import subprocess

from systest import REPO

GENERATED = ['.venv', '.venv-kilted', 'ros2_ws/build', 'ros2_ws/install', 'ros2_ws/log',
             'ros2_ws/build-kilted', 'ros2_ws/install-kilted', 'out', 'data', '.cache']


def _git(*args):
    return subprocess.run(['git', *args], cwd=REPO, capture_output=True, text=True)


def test_generated_paths_are_ignored():
    for path in GENERATED:
        assert _git('check-ignore', '-q', path + '/x').returncode == 0, f'{path}/ not ignored'


def test_no_untracked_build_or_cache_files():
    status = _git('status', '--porcelain', '--untracked-files=all').stdout.splitlines()
    untracked = [line[3:] for line in status if line.startswith('??')]
    generated = [p for p in untracked
                 if '__pycache__' in p or p.endswith(('.pyc', '.egg-info'))
                 or any(p.startswith(g + '/') for g in GENERATED)]
    assert not generated, f'generated files not ignored by git: {generated[:10]}'


def test_no_generated_files_tracked():
    tracked = _git('ls-files').stdout.splitlines()
    bad = [p for p in tracked if any(p.startswith(g + '/') for g in GENERATED)
           or '__pycache__' in p]
    assert not bad, f'generated files are tracked: {bad[:10]}'
