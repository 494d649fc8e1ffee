"""Reliability on real MNIST: crash-safe resume, determinism, corrupt checkpoints,
a full disk. Each test works on its own run directory."""
import csv
import json
import random
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import FLAGS, REPO, error_of, run_cli


def checkpoint_tensors(prefix):
    import tensorflow as tf
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    different = [name for name in a if not np.array_equal(a[name], b[name])]
    assert not different, different


def metric_rows(run_dir):
    """metrics.csv without its wall-clock columns."""
    with open(run_dir / 'metrics.csv') as f:
        return [{k: v for k, v in row.items() if k not in ('seconds', 'images_per_second')}
                for row in csv.DictReader(f)]


@pytest.mark.parametrize('options, runs', [
    ([], 'ac'),  # mlp: dropout's random numbers
    pytest.param([], 'abc', marks=pytest.mark.slow, id='mlp-twice'),
    pytest.param(['--arch=maxout', '--loss=wgan_gp', '--d_steps=2', '--ema_decay=0.9',
                  '--diffaugment=translation,cutout', '--instance_noise=0.1'], 'abc',
                 marks=pytest.mark.slow, id='maxout-wgan_gp-ema-diffaugment'),
])
def test_same_seed_is_bit_identical_and_resuming_changes_nothing(
        options, runs, mnist_data_dir, tmp_path):
    """Fresh runs (a, b), and a run stopped at step 20 then resumed to 40 (c), end
    with the same weights (batch-norm statistics and moving average included),
    optimizer slots, RNG states, metrics and samples, bit for bit (same machine
    and TensorFlow build: oneDNN kernels may round differently on another CPU).
    a == c alone already needs both: a run that drew other numbers each time
    could not end where its resumed twin does."""
    common = [*FLAGS, *options, f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--noexport']
    launches = {'a': [['--run_name=a']], 'b': [['--run_name=b']],
                'c': [['--run_name=c', '--max_steps=20'], ['--run_name=c', '--resume']]}
    for run in runs:
        for args in launches[run]:
            result = run_cli(*common, *args)
            assert result.returncode == 0, result.stderr[-3000:]
    final = {r: checkpoint_tensors(tmp_path / r / 'checkpoints' / 'ckpt-40') for r in runs}
    assert any('rng_states' in name for name in final['a'])  # noise and dropout
    grids = {r: (tmp_path / r / 'samples' / 'step_000040.png').read_bytes() for r in runs}
    for r in runs[1:]:
        assert_same_tensors(final['a'], final[r])
        assert metric_rows(tmp_path / 'a') == metric_rows(tmp_path / r)
        assert grids['a'] == grids[r]


def _complete_checkpoints(checkpoints):
    """Steps of the checkpoints the state file lists (what --resume may use)."""
    import tensorflow as tf
    state = tf.train.get_checkpoint_state(str(checkpoints))
    return sorted(int(p.rsplit('-', 1)[1]) for p in state.all_model_checkpoint_paths) \
        if state else []


def _kill_when(process, ready, deadline=120):
    """SIGKILLs `process` as soon as `ready()`; False if it ended first."""
    end = time.monotonic() + deadline
    while process.poll() is None and time.monotonic() < end:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.001)  # polling, not waiting for a result
    return False


# Two kills in a 150-step run by default; ten in 400 steps in the slow suite. Small
# players: every run saves a checkpoint every 2 steps (36 MB each at the default widths).
@pytest.mark.parametrize('kills, steps', [(2, 150),
                                          pytest.param(10, 400, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_never_loses_the_run(kills, steps, mnist_data_dir,
                                                       tmp_path):
    """`kills` SIGKILLs, half the moment a checkpoint save has begun writing and
    half at random moments of training; each --resume continues from the last
    complete checkpoint, and the run ends exactly where an uninterrupted one does."""
    common = ['--dataset=mnist', f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--batch_size=32', f'--max_steps={steps}', '--seed=3', '--log_every=5',
              '--g_widths=64,128', '--d_widths=128,64',
              '--sample_every=50', '--checkpoint_every=2', '--eval_every=0',
              '--nohealth_classes']
    run_dir, checkpoints = tmp_path / 'crashy', tmp_path / 'crashy' / 'checkpoints'
    rng = random.Random(0)
    killed_mid_save = 0
    for trial in range(kills):
        resume = ['--resume'] if trial else []
        before = _complete_checkpoints(checkpoints) if trial else []
        launched = time.time()
        with open(tmp_path / 'stderr.txt', 'w') as stderr:
            process = subprocess.Popen(
                [sys.executable, '-m', 'gan_tf.main', *common, '--run_name=crashy',
                 *resume], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)

        def training():  # this process has restored and written its config.json
            config = run_dir / 'config.json'
            return config.exists() and config.stat().st_mtime > launched and (
                run_dir / 'metrics.csv').exists()

        if trial % 2 == 0:
            def saving():
                return training() and any(checkpoints.glob('*_temp'))
            assert _kill_when(process, saving), (tmp_path / 'stderr.txt').read_text()[-3000:]
            killed_mid_save += any(checkpoints.glob('*_temp'))
        else:
            assert _kill_when(process, training), (tmp_path / 'stderr.txt').read_text()[-3000:]
            time.sleep(rng.uniform(0.0, 1.5))  # the random moment of the kill
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        if trial:  # the process resumed from the newest complete checkpoint
            started = json.loads((run_dir / 'config.json').read_text())['started_at_step']
            assert started == before[-1], (trial, started, before)
    assert killed_mid_save >= kills // 4  # targeted kills do catch saves midway

    result = run_cli(*common, '--run_name=crashy', '--resume')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'step {steps} of {steps}' in result.stdout
    assert not list(checkpoints.glob('*_temp'))
    logged = [int(row['step']) for row in metric_rows(run_dir)]
    assert logged == list(range(5, steps + 1, 5))  # no gaps, no repeats

    reference = run_cli(*common, '--run_name=calm', '--noexport')
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert_same_tensors(checkpoint_tensors(checkpoints / f'ckpt-{steps}'),
                        checkpoint_tensors(tmp_path / 'calm' / 'checkpoints' / f'ckpt-{steps}'))

    import tensorflow as tf
    serve = tf.saved_model.load(str(run_dir / 'export')).signatures['serving_default']
    images = serve(z=tf.random.normal([3, 100]))['images'].numpy()
    assert images.shape == (3, 28, 28, 1) and np.abs(images).max() <= 1.0


def test_a_corrupt_checkpoint_is_skipped_with_a_warning(short_run_copy):
    run_dir, common = short_run_copy
    data = run_dir / 'checkpoints' / 'ckpt-40.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:1000])  # cut short, as by a failing disk
    result = run_cli(*FLAGS, *common, '--resume', '--max_steps=60')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'checkpoint {run_dir}/checkpoints/ckpt-40 is unreadable' in result.stderr
    assert json.loads((run_dir / 'config.json').read_text())['started_at_step'] == 20
    assert 'step 60 of 60' in result.stdout


def test_a_resume_with_other_hyperparameters_is_refused(short_run_copy):
    run_dir, common = short_run_copy
    before = sorted((p.relative_to(run_dir), p.stat().st_mtime) for p in run_dir.rglob('*'))
    # In this process (the exit status of such an error is test_bad_input.py's).
    assert error_of([*FLAGS, *common, '--resume', '--lr_d=0.001', '--batch_size=16']) == (
        "error: --resume: flags differ from the run's: --batch_size=16 (run: 32); "
        '--lr_d=0.001 (run: 0.0002). Resume with the flags it was started with, or '
        'pass --allow_config_change')
    assert sorted((p.relative_to(run_dir), p.stat().st_mtime)
                  for p in run_dir.rglob('*')) == before

    allowed = run_cli(*FLAGS, *common, '--resume', '--lr_d=0.001', '--max_steps=50',
                      '--allow_config_change')
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert 'step 50 of 50' in allowed.stdout


def _limit_file_size():
    # Files may grow to 20 MB: a checkpoint of the default MLPs (35 MB) cannot be
    # written. The write fails with EFBIG rather than ENOSPC; both reach the same
    # code path, and this needs no root and no real full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20 << 20, 20 << 20))


def test_a_full_disk_while_checkpointing_loses_nothing(short_run_copy):
    run_dir, common = short_run_copy
    exported = (run_dir / 'export' / 'saved_model.pb').read_bytes()
    result = subprocess.run(
        [sys.executable, '-m', 'gan_tf.main', *FLAGS, *common, '--resume',
         '--max_steps=80'], cwd=REPO, capture_output=True, text=True, timeout=600,
        preexec_fn=_limit_file_size)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    checkpoints = run_dir / 'checkpoints'
    assert result.stderr.strip().splitlines()[-1] == (
        'error: could not write the checkpoint of step 60 (File too large); last '
        f'good checkpoint: {checkpoints}/ckpt-40. Free some space and continue '
        'with --resume')
    assert not list(checkpoints.glob('*_temp')) and not list(checkpoints.glob('ckpt-60*'))
    assert (run_dir / 'export' / 'saved_model.pb').read_bytes() == exported

    resumed = run_cli(*FLAGS, *common, '--resume', '--max_steps=80')  # space freed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / 'config.json').read_text())['started_at_step'] == 40
