"""Tests of the training engine and the ``runespoor train`` command on tiny random data."""

import json
import os

import pytest

from runespoor.archs import build_seg, build_sr
from runespoor.checkpoint import load_checkpoint, load_model
from runespoor.cli import main as cli_main
from runespoor.training.data import DegradedFrames, RandomSegData, RandomSRData, sr_qualities
from runespoor.training.runs import finetune_sr, train_seg, train_sr, warm_resume
import torch
from torch.utils.data import DataLoader

SR_KW = {'channels': 8, 'blocks': 1}
SEG_KW = {'widths': (8, 8, 16, 16), 'decoder_channels': 8}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sr_cfg(scale=2):
    return {'arch': 'carn', 'arch_kwargs': SR_KW, 'scale': scale}


def test_train_sr_checkpoints_and_resumes(tmp_path):
    torch.manual_seed(0)
    data = DataLoader(RandomSRData(8, scale=2, patch=6), batch_size=4, shuffle=True)
    val = DataLoader(DegradedFrames(RandomSegData(2, (16, 32)), 2, 90), batch_size=1)
    out = str(tmp_path / 'sr')
    res = train_sr(build_sr('carn', 2, **SR_KW), data, steps=3, config=_sr_cfg(), lr=1e-3,
                   val_loader=val, out_dir=out, seed=1, progress=False)
    assert res['checkpoint'].endswith('sr_x2.pt') and res['step'] == 3
    assert {'psnr', 'psnr_bilinear'} <= set(res['metrics'])
    final = load_checkpoint(res['checkpoint'], kind='sr', method='sr', scale=2)
    assert 'optimizer' not in final and final['seed'] == 1 and final['train_time_s'] > 0
    last = load_checkpoint(os.path.join(out, 'last.pt'))
    assert last['step'] == 3 and 'optimizer' in last and 'scheduler' in last
    res2 = train_sr(build_sr('carn', 2, **SR_KW), data, steps=5, config=_sr_cfg(), lr=1e-3,
                    out_dir=out, seed=1, resume=os.path.join(out, 'last.pt'), progress=False)
    assert load_checkpoint(res2['checkpoint'])['step'] == 5
    steps = [json.loads(line).get('step') for line in open(os.path.join(out, 'log.jsonl'))]
    assert steps[-1] == 5
    with open(os.path.join(out, 'metrics.json')) as f:
        assert json.load(f)['step'] == 5


def test_warm_resume_continues_the_schedule_from_weights_only_fp16(tmp_path):
    """A committed fp16 weights file of an unfinished run goes on at its step and LR."""
    torch.manual_seed(0)
    data = DataLoader(RandomSegData(4, (16, 32)), batch_size=2, shuffle=True)
    cfg = {'arch': 'swiftnet_r18', 'arch_kwargs': SEG_KW}
    first = str(tmp_path / 'first')
    res = train_seg(build_seg('swiftnet_r18', **SEG_KW), data, steps=10, lr=1e-3, config=cfg,
                    out_dir=first, progress=False, ship_half=True)
    weights = load_checkpoint(res['checkpoint'])
    assert 'optimizer' not in weights and weights['step'] == 10
    # an exact resume needs the optimiser state and says how to go on instead
    with pytest.raises(ValueError, match='--resume-weights'):
        train_seg(build_seg('swiftnet_r18', **SEG_KW), data, steps=40, lr=1e-3, config=cfg,
                  resume=res['checkpoint'], progress=False)
    cont = str(tmp_path / 'cont')
    train_seg(build_seg('swiftnet_r18', **SEG_KW), data, steps=40, lr=1e-3, config=cfg,
              out_dir=cont, resume=warm_resume(res['checkpoint'], rewarm=20), progress=False)
    log = [json.loads(line) for line in open(os.path.join(cont, 'log.jsonl'))]
    lrs = {r['step']: r['lr'] for r in log if 'lr' in r}
    assert sorted(lrs) == [20, 30, 40]  # it went on from step 10, logging every 10 steps
    poly = [1e-3 * (1 - s / 40) ** 0.9 for s in range(41)]
    # the logged lr is the next step's: a fresh optimiser re-warms over 20 steps, then poly
    assert lrs[20] == pytest.approx(poly[20] * 11 / 20) and lrs[30] == pytest.approx(poly[30])
    assert load_checkpoint(os.path.join(cont, 'last.pt'))['step'] == 40


def test_train_sr_lowers_l1_on_a_fixed_batch():
    torch.manual_seed(0)
    data = DataLoader(RandomSRData(4, scale=2, patch=6), batch_size=4)
    model = build_sr('carn', 2, **SR_KW)
    lr, hr = next(iter(data))
    with torch.no_grad():
        before = float((model(lr) - hr).abs().mean())
    train_sr(model, data, steps=5, config=_sr_cfg(), lr=2e-3, flip=False, progress=False)
    with torch.no_grad():
        assert float((model(lr) - hr).abs().mean()) < before


def test_train_seg_and_finetune(tmp_path):
    torch.manual_seed(0)
    seg_data = DataLoader(RandomSegData(4, (16, 32)), batch_size=2, shuffle=True)
    seg = build_seg('swiftnet_r18', **SEG_KW)
    res = train_seg(seg, seg_data, steps=2, lr=1e-3, val_loader=seg_data,
                    config={'arch': 'swiftnet_r18', 'arch_kwargs': SEG_KW},
                    out_dir=str(tmp_path / 'seg'), progress=False)
    assert 0.0 <= res['metrics']['miou'] <= 1.0 and len(res['metrics']['iou']) == 19
    seg_model, ckpt = load_model(res['checkpoint'], kind='seg')
    assert ckpt['config']['method'] == 'seg'
    triples = DataLoader(DegradedFrames(RandomSegData(4, (16, 32)), 2, (60, 90)),
                         batch_size=2, shuffle=True)
    before = {k: v.clone() for k, v in seg_model.state_dict().items()}
    for method in ('asr', 'cloudseg'):
        res = finetune_sr(build_sr('carn', 2, **SR_KW), seg_model, triples, method=method,
                          steps=2, config=_sr_cfg(), max_area_fraction=0.05,
                          val_loader=triples, out_dir=str(tmp_path / method), progress=False)
        ckpt = load_checkpoint(res['checkpoint'], kind='sr', method=method, scale=2)
        assert ckpt['config']['alpha'] == 0.95 and ckpt['config']['beta'] == 0.05
        assert {'psnr', 'miou', 'bilinear_miou'} <= set(res['metrics'])
    for k, v in seg_model.state_dict().items():
        assert torch.equal(v, before[k])
    with pytest.raises(ValueError, match='unknown fine-tuning method'):
        finetune_sr(build_sr('carn', 2, **SR_KW), seg_model, triples, method='nas', steps=1,
                    config=_sr_cfg())


def test_degraded_frames_use_the_codec_sizes():
    lr, hr, label = DegradedFrames(RandomSegData(1, (24, 48)), 6, 75)[0]
    assert hr.shape == (3, 24, 48) and label.shape == (24, 48)
    assert lr.shape == (3, 4, 8) and lr.dtype == torch.float32


def test_sr_qualities():
    assert sr_qualities([40, 90]) == [40, 57, 73, 90]
    assert sr_qualities(75) == [75] and sr_qualities([60, 60]) == [60]


def test_cli_smoke_on_random_data(tmp_path, capsys):
    out = tmp_path / 'runs'
    common = ['--data', 'random', '--no-progress', '--device', 'cpu', '--batch', '2']
    assert cli_main(['train', 'sr', '--scale', '2', '--patch', '4', '--steps', '1',
                     '--out', str(out / 'sr'), *common]) == 0
    assert cli_main(['train', 'seg', '--crop', '32', '32', '--steps', '1',
                     '--out', str(out / 'seg'), *common]) == 0
    assert cli_main(['train', 'asr', '--scale', '2', '--crop', '32', '32', '--steps', '1',
                     '--init', str(out / 'sr' / 'sr_x2.pt'), '--seg', str(out / 'seg' / 'seg.pt'),
                     '--out', str(out / 'asr'), *common]) == 0
    ckpt = load_checkpoint(str(out / 'asr' / 'asr_x2.pt'), method='asr', scale=2)
    assert ckpt['config']['arch'] == 'carn_m' and ckpt['data']['source'].startswith('random')
    assert 'loss_options' not in ckpt['config']          # the paper's Eq. 3
    # the loss options beyond the paper are recorded in the checkpoint
    assert cli_main(['train', 'asr', '--scale', '2', '--crop', '32', '32', '--steps', '1',
                     '--init', str(out / 'sr' / 'sr_x2.pt'), '--seg', str(out / 'seg' / 'seg.pt'),
                     '--analytics-target', 'hr', '--judge-jitter', '4',
                     '--out', str(out / 'asr_hr'), *common]) == 0
    ckpt = load_checkpoint(str(out / 'asr_hr' / 'asr_x2.pt'), method='asr', scale=2)
    assert ckpt['config']['loss_options'] == {'target': 'hr', 'jitter': 4}
    assert cli_main(['train', 'cloudseg', '--scale', '2', '--crop', '32', '32', '--steps', '1',
                     '--init', str(out / 'sr' / 'sr_x2.pt'), '--seg', str(out / 'seg' / 'seg.pt'),
                     '--judge-jitter', '4', '--out', str(out / 'cs_bad'), *common]) != 0
    # a base model of another scale is refused with a message naming the file
    assert cli_main(['train', 'asr', '--scale', '4', '--steps', '1',
                     '--init', str(out / 'sr' / 'sr_x2.pt'), '--seg', str(out / 'seg' / 'seg.pt'),
                     '--out', str(out / 'bad'), *common]) == 1
    assert 'sr_x2.pt has scale=2' in capsys.readouterr().err
    # base SR validated through a frozen judge: the mIoU of SR vs bilinear is in its curve
    assert cli_main(['train', 'sr', '--scale', '2', '--patch', '4', '--steps', '2',
                     '--val-every', '1', '--seg', str(out / 'seg' / 'seg.pt'),
                     '--out', str(out / 'sr_judged'), *common]) == 0
    vals = [json.loads(line)['val'] for line in open(out / 'sr_judged' / 'log.jsonl')
            if '"val"' in line]
    assert len(vals) == 2 and all({'miou', 'bilinear_miou', 'psnr'} <= set(v) for v in vals)
    assert 'miou' not in json.load(open(out / 'sr' / 'metrics.json'))['metrics']
    # the fp16 seg.pt of that run goes on warm, at its step, to a longer schedule
    assert cli_main(['train', 'seg', '--crop', '32', '32', '--steps', '3',
                     '--resume-weights', str(out / 'seg' / 'seg.pt'), '--rewarm', '1',
                     '--out', str(out / 'seg_cont'), *common]) == 0
    assert load_checkpoint(str(out / 'seg_cont' / 'last.pt'))['step'] == 3
    assert cli_main(['train', 'seg', '--steps', '3', '--resume', str(out / 'seg' / 'last.pt'),
                     '--resume-weights', str(out / 'seg' / 'seg.pt'),
                     '--out', str(out / 'both'), *common]) == 2
    assert 'not both' in capsys.readouterr().err


def test_cli_yaml_config(tmp_path):
    import argparse
    from runespoor.training import cli
    cfg_file = tmp_path / 'sr.yaml'
    cfg_file.write_text('task: sr\nscale: 8\nsteps: 7\npatch: 16\n')
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    cfg = cli.resolve_config(parser.parse_args(['sr', '--config', str(cfg_file), '--steps', '9']))
    assert cfg['scale'] == 8 and cfg['steps'] == 9 and cfg['patch'] == 16
    cfg_file.write_text('scale: 8\nbogus: 1\n')
    with pytest.raises(ValueError, match='bogus'):
        cli.resolve_config(parser.parse_args(['sr', '--config', str(cfg_file)]))
