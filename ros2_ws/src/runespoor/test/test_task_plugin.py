"""
A third analytics task as a plug-in, through the cloud pipeline and ``runespoor eval``.

Registered through the public registry (or named by import path), it runs without a line of
the project changed.

The task here estimates a frame's mean brightness (a tiny torch model); dark frames are its
tail.  Its evaluation reads PNG frames with the true brightness in ``truth.json`` and records
the absolute error per frame, which the generic report averages per run.
"""

import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from runespoor import codec
from runespoor.cloud_pipeline import CloudPipeline, EncodedInput, make_reconstructor, \
    PipelineConfig
from runespoor.tasks import get_task, register_task, Task, TaskError, TASKS

PLUGIN = textwrap.dedent('''
    """A user's own analytics task: mean brightness, for the Runespoor plug-in test."""
    import json
    import os

    import numpy as np
    import torch

    from runespoor.evaluation.plugin_api import Frame
    from runespoor.tasks import Task


    class MeanBrightness(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3))


    class BrightnessAnalytics:
        task = 'brightness'
        signal_name = 'mean_brightness'

        def __init__(self, device):
            self.model = MeanBrightness().to(device)
            self.device = device
            self.info = {'summary': 'mean brightness (no weights)'}

        def __call__(self, image_bgr, tensor=None):
            if tensor is None:
                from runespoor.tensors import bgr_to_tensor
                tensor = bgr_to_tensor(image_bgr, self.device)
            with torch.no_grad():
                return float(self.model(tensor)[0])

        def tail_signal(self, output, frame_size, config):
            return output


    class BrightnessEval:
        name = 'brightness'
        model_key = 'brightness'
        cache_prefix = 'brightness_'
        fields = {'estimate': ('scalar', np.float64), 'abs_error': ('scalar', np.float64)}

        def __init__(self, config):
            self.config = config
            with open(os.path.join(config.dataset_root, 'truth.json')) as f:
                self.truth = json.load(f)

        def frames(self):
            names = sorted(self.truth)
            return [Frame(n, os.path.join(self.config.dataset_root, n + '.png'),
                          (os.path.join(self.config.dataset_root, n + '.png'),))
                    for n in names]

        def load_model(self, device):
            return MeanBrightness().to(device), {'path': None, 'sha256': 'mean-brightness'}

        def key_fields(self, info):
            return {'brightness': info['sha256']}

        def load(self, frame):
            import cv2
            return cv2.imread(frame.image_path), self.truth[frame.name]

        def analyse(self, model, recon, truth):
            estimate = float(model(recon)[0])
            return {'estimate': estimate, 'abs_error': abs(estimate - truth)}

        def collect(self, records):
            return {k: np.array([r[k] for r in records]) for k in self.fields}

        def extras(self, frames, results):
            return {'resolution': 'synthetic'}


    class BrightnessFrames(torch.utils.data.Dataset):
        """Frames of random brightness with their mean brightness as the target."""

        def __init__(self, n, seed):
            g = torch.Generator().manual_seed(seed)
            self.images = [(torch.rand(3, 1, 1, generator=g) * 0.8
                            + 0.1 * torch.rand(3, 32, 48, generator=g)) for _ in range(n)]

        def __len__(self):
            return len(self.images)

        def __getitem__(self, index):
            image = self.images[index]
            return image, image.mean()


    class BrightnessLoss(torch.nn.Module):
        def __init__(self, model, alpha, beta):
            super().__init__()
            self.model, self.alpha, self.beta = model, alpha, beta

        def forward(self, sr, hr, target):
            l1 = (sr - hr).abs().mean()
            error = (self.model(sr) - target.to(sr.dtype)).abs().mean()
            loss = self.alpha * l1 + self.beta * error
            return loss, {'l1': float(l1.detach()), 'brightness_error': float(error.detach())}


    class BrightnessTask(Task):
        name = 'brightness'
        description = 'mean frame brightness (plug-in test)'
        model_kind = 'brightness'
        num_classes = 0
        signal_name = 'mean_brightness'
        eval_defaults = {'scales': [2, 4], 'fps': 10.0}
        dataset_layout = 'a folder of PNG frames with truth.json'
        loss_defaults = {'alpha': 0.5, 'beta': 0.5}
        finetune_flip = False

        def make_analytics(self, params, device):
            return BrightnessAnalytics(device)

        def eval_plugin(self, config):
            return BrightnessEval(config)

        def training_data(self, cfg):
            from runespoor.training.data import DegradedFrames
            return (DegradedFrames(BrightnessFrames(8, cfg['seed']), cfg['scale'],
                                   cfg['quality']),
                    DegradedFrames(BrightnessFrames(2, 99), cfg['scale'], 90),
                    {'source': 'random brightness frames'})

        def frozen_model(self, spec, device, what):
            return MeanBrightness().to(device), {'summary': 'mean brightness (no weights)'}

        def finetune_loss(self, method, model, alpha, beta, max_area_fraction,
                          frame_area=None, **options):
            self.refuse_loss_options(method, {k: v for k, v in options.items()
                                              if v is not None})
            return BrightnessLoss(model, alpha, beta)

        def finetune_validate(self, sr_model, loader, device, model, max_batches=None,
                              max_area_fraction=None):
            from runespoor.reconstruct import sr_to_size
            errors = []
            with torch.no_grad():
                for lr, hr, target in loader:
                    sr = sr_to_size(sr_model, lr.to(device), hr.shape[-2:])
                    errors.append(float((model(sr) - target).abs().mean()))
            return {'brightness_error': sum(errors) / len(errors)}
''')


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """Write the plug-in module to a temporary package path; unregister it afterwards."""
    root = tmp_path / 'plugins'
    root.mkdir()
    (root / 'brightness_task.py').write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(root))
    yield root
    TASKS.pop('brightness', None)
    sys.modules.pop('brightness_task', None)


def _frames(folder, levels=(40, 120, 200), size=(48, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    rng = np.random.default_rng(0)
    for i, level in enumerate(levels):
        img = np.clip(rng.normal(level, 10, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f'f{i:02d}.png'), img)
        truth[f'f{i:02d}'] = float(img.astype(np.float64).mean() / 255.0)
    (folder / 'truth.json').write_text(json.dumps(truth))
    return truth


def _encoded(image, seq, scale=2, quality=90):
    enc = codec.encode_frame(image, scale, quality)
    h, w = image.shape[:2]
    return EncodedInput(seq, enc.data, scale, quality, w, h, capture_s=1.0, receive_s=1.0)


def test_registry_holds_the_built_in_tasks_and_refuses_unknown_ones():
    assert {'segmentation', 'detection'} <= set(TASKS)
    assert get_task('segmentation').signal_name == 'small_region_ratio'
    assert get_task('detection').signal_name == 'small_box_share'
    with pytest.raises(TaskError, match='unknown task'):
        get_task('depth')
    with pytest.raises(TaskError, match='import path'):
        get_task('not a path:')
    with pytest.raises(TaskError, match='cannot import module'):
        get_task('no_such_module_xyz:Task')
    with pytest.raises(TaskError, match='already registered'):
        register_task(type('Other', (Task,), {'name': 'segmentation'}))


def test_third_task_runs_through_the_cloud_pipeline(plugin):
    from brightness_task import BrightnessTask
    task = register_task(BrightnessTask)
    assert get_task('brightness') is task
    analytics = task.make_analytics({}, 'cpu')
    pipe = CloudPipeline(make_reconstructor('bilinear'), analytics,
                         PipelineConfig(tail_threshold=0.3, tail_direction='below'))
    dark = np.full((32, 48, 3), 30, np.uint8)
    bright = np.full((32, 48, 3), 220, np.uint8)
    results = []
    for seq, img in enumerate((bright, dark, bright)):
        results.append(pipe.process(pipe.admit(_encoded(img, seq))))
    assert [r.task for r in results] == ['brightness'] * 3
    assert [r.signal_name for r in results] == ['mean_brightness'] * 3
    assert results[0].output == pytest.approx(220 / 255, abs=0.02)
    assert [r.is_tail for r in results] == [False, True, False]
    assert results[1].labels is None and results[1].detections is None
    assert results[1].policy is not None  # the dark frame switched the edge to the tail mode
    assert pipe.analysed == 3 and pipe.tail_frames == 1


def test_third_task_runs_through_runespoor_eval_by_import_path(plugin, tmp_path):
    truth = _frames(tmp_path / 'data')
    config = tmp_path / 'eval.yaml'
    config.write_text(textwrap.dedent(f"""
        task: brightness_task:BrightnessTask
        dataset: {{root: {tmp_path / 'data'}}}
        methods: [bilinear]
        scales: [2, 4]
        qualities: [50, 90]
        device: cpu
    """))
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin),
                                                       os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-m', 'runespoor.cli', 'eval', '--config',
                           str(config), '--out', str(out), '--no-progress'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / 'report.json').read_text())
    assert report['task'] == 'brightness' and report['frames'] == len(truth)
    assert set(report['columns']) == {'estimate', 'abs_error'}
    rows = {(r['method'], r['scale'], r['quality']): r for r in report['rows']}
    assert set(rows) == {('hr', 1, None)} | {('bilinear', s, q) for s in (2, 4)
                                             for q in (50, 90)}
    assert rows[('hr', 1, None)]['abs_error'] < 0.005  # the original frames: exact up to PNG
    assert rows[('bilinear', 4, 50)]['bytes'] < rows[('bilinear', 2, 90)]['bytes']
    md = (out / 'report.md').read_text()
    assert 'task brightness' in md and 'abs_error' in md


def test_third_task_registered_in_process_is_found_by_name(plugin, tmp_path):
    from brightness_task import BrightnessTask
    from runespoor.evaluation.config import EvalConfig
    from runespoor.evaluation.runner import evaluate
    register_task(BrightnessTask)
    _frames(tmp_path / 'data', levels=(90,))
    config = EvalConfig({'task': 'brightness', 'dataset': {'root': str(tmp_path / 'data')},
                         'methods': ['bilinear'], 'scales': [2], 'device': 'cpu'})
    result = evaluate(config, str(tmp_path / 'out'), progress=False, log=lambda m: None)
    assert result['task'] == 'brightness'
    assert result['runs'][('bilinear', 2, 90)]['abs_error'][0] < 0.02


def test_a_task_without_evaluation_says_so(plugin, tmp_path):
    from runespoor.evaluation.config import EvalConfig
    from runespoor.evaluation.runner import EvalError, evaluate

    class CloudOnly(Task):
        name = 'cloud_only'

        def make_analytics(self, params, device):
            return None

    register_task(CloudOnly)
    try:
        config = EvalConfig({'task': 'cloud_only', 'dataset': {'root': str(tmp_path)},
                             'methods': ['bilinear'], 'device': 'cpu'})
        with pytest.raises(EvalError, match='cannot be evaluated'):
            evaluate(config, str(tmp_path / 'out'), progress=False, log=lambda m: None)
    finally:
        TASKS.pop('cloud_only', None)


def test_third_task_fine_tunes_sr_through_runespoor_train(plugin, tmp_path, capsys):
    # the plug-in's training data, loss and validation drive `runespoor train asr`, by name
    from runespoor.checkpoint import load_checkpoint
    from runespoor.cli import main as cli_main
    common = ['--no-progress', '--device', 'cpu', '--batch', '2', '--steps', '1']
    assert cli_main(['train', 'sr', '--data', 'random', '--scale', '2', '--patch', '4',
                     '--out', str(tmp_path / 'sr'), *common]) == 0
    base = str(tmp_path / 'sr' / 'sr_x2.pt')
    task = ['--analytics', 'brightness_task:BrightnessTask', '--data', 'random']
    assert cli_main(['train', 'asr', *task, '--scale', '2', '--init', base, '--val-every', '1',
                     '--out', str(tmp_path / 'asr'), *common]) == 0
    ckpt = load_checkpoint(str(tmp_path / 'asr' / 'asr_x2.pt'), method='asr', scale=2)
    assert ckpt['config']['analytics'] == 'brightness'
    assert ckpt['data']['source'] == 'random brightness frames'
    log = [json.loads(line) for line in open(tmp_path / 'asr' / 'log.jsonl')]
    assert any('brightness_error' in r for r in log)                      # its loss
    assert any('brightness_error' in r.get('val', {}) for r in log)       # its validation
    # ASR's segmentation-only options are refused by the plug-in in its own words
    assert cli_main(['train', 'asr', *task, '--scale', '2', '--init', base,
                     '--judge-jitter', '4', '--out', str(tmp_path / 'bad'), *common]) != 0
    assert 'no loss option' in capsys.readouterr().err
    # a task that has no training data says so
    capsys.readouterr()
    assert cli_main(['train', 'asr', '--analytics', 'no_such_task', '--data', 'random',
                     '--scale', '2', '--init', base, '--out', str(tmp_path / 'x'),
                     *common]) != 0
    assert 'unknown task' in capsys.readouterr().err
