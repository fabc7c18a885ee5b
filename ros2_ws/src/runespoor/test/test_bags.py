"""Tests of rosbag2 writing and reading (rosbags library, no rclpy)."""

import numpy as np
import pytest

from runespoor.data import bag


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bag_round_trip(tmp_path, storage):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (6, 10, 3), dtype=np.uint8) for _ in range(4)]
    path = tmp_path / 'clip'
    assert bag.write_bag(path, frames, fps=17.0, storage=storage, start_ns=10**18) == 4
    assert (path / 'metadata.yaml').is_file()
    got = list(bag.read_bag(path))
    assert [s for s, _ in got] == [10**18 + round(k * 1e9 / 17) for k in range(4)]
    assert all(np.array_equal(a, b) for a, (_, b) in zip(frames, got))
    info = bag.bag_info(path)
    assert info['messages'] == 4
    assert info['topics'] == {'/camera/image_raw': 'sensor_msgs/msg/Image'}
    with pytest.raises(FileExistsError):
        bag.write_bag(path, frames)
    with pytest.raises(ValueError, match='/other'):
        list(bag.read_bag(path, topic='/other'))


def test_bag_cli_from_synthetic_clip(tmp_path):
    import argparse

    from runespoor.data import bag_cli, synth
    parser = argparse.ArgumentParser()
    bag_cli.add_arguments(parser)

    def main(argv):
        return bag_cli.run(parser.parse_args(argv[1:]))
    synth.generate(tmp_path / 'ds', size=(64, 32), seed=0, n_train=0, n_val=0,
                   n_sequences=0, clip_frames=3)
    assert main(['bag', 'make', '--root', str(tmp_path / 'ds'), '--out',
                 str(tmp_path / 'b')]) == 0
    assert len(list(bag.read_bag(tmp_path / 'b'))) == 3
    with pytest.raises(FileNotFoundError, match='nothere'):
        list(bag.read_bag(tmp_path / 'nothere'))
