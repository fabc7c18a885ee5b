# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Relative model paths of the cloud node resolve the same way from any working directory."""

import os

from runespoor_cloud.cloud_node import resolve_model_path


def test_relative_path_uses_runespoor_home(monkeypatch, tmp_path):
    monkeypatch.setenv('RUNESPOOR_HOME', str(tmp_path))
    monkeypatch.chdir('/')
    assert resolve_model_path('models/sr') == os.path.join(str(tmp_path), 'models/sr')


def test_without_home_relative_path_is_taken_from_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv('RUNESPOOR_HOME', raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path('models/seg/x.pt') == os.path.join(str(tmp_path), 'models/seg/x.pt')


def test_absolute_and_empty_paths_are_kept(monkeypatch):
    monkeypatch.setenv('RUNESPOOR_HOME', '/elsewhere')
    assert resolve_model_path('/data/w.pt') == '/data/w.pt'
    assert resolve_model_path('') == ''
