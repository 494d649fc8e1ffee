"""Reliability on real MNIST: crash-safe resume, determinism, corrupt checkpoints,
a full disk. Each test works on its own run directory."""
import contextlib
import csv
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import FLAGS, REPO, error_of, run_cli, run_command


def checkpoint_tensors(prefix):
    """Every value a checkpoint holds, by name. Not its object graph: that names
    the Keras layers as the process happened to number them (dense_12 in a
    process that built other models before), which restoring does not use."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    different = [name for name in a if not np.array_equal(a[name], b[name])]
    assert not different, different


def metric_rows(run_dir):
    """metrics.csv without its wall-clock columns."""
    with open(run_dir / 'metrics.csv') as f:
        return [{k: v for k, v in row.items() if k not in ('seconds', 'images_per_second')}
                for row in csv.DictReader(f)]


# The default suite checks a resumed run against an uninterrupted one in
# test_a_run_resumed_from_its_middle_checkpoint_ends_bit_identical.
@pytest.mark.slow
@pytest.mark.parametrize('options, runs', [
    pytest.param([], 'abc', id='mlp-twice'),
    pytest.param(['--arch=maxout', '--loss=wgan_gp', '--d_steps=2', '--ema_decay=0.9',
                  '--diffaugment=translation,cutout', '--instance_noise=0.1'], 'abc',
                 id='maxout-wgan_gp-ema-diffaugment'),
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


# Ten kills in a 400-step run, each a new process (the default suite resumes in its
# own process: test_a_run_resumed_from_its_middle_checkpoint_ends_bit_identical).
# Small players, a checkpoint every 5 steps: every resume starts a metrics window.
@pytest.mark.slow
@pytest.mark.parametrize('kills, steps', [(10, 400)])
def test_sigkill_at_random_moments_never_loses_the_run(kills, steps, mnist_data_dir,
                                                       tmp_path):
    """`kills` SIGKILLs, half the moment a checkpoint save has begun writing and
    half at random moments, each once the process has saved a checkpoint of its own
    (a mid-save kill that lands after the save finished is tried again);
    each --resume continues from the last complete checkpoint, and the run ends
    exactly where an uninterrupted one does: weights, optimizer slots, random
    states, metrics and sample grids, bit for bit."""
    common = ['--dataset=mnist', f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--batch_size=32', f'--max_steps={steps}', '--seed=3', '--log_every=5',
              '--g_widths=64,128', '--d_widths=128,64',
              '--sample_every=50', '--checkpoint_every=5', '--eval_every=0',
              '--nohealth_classes']
    run_dir, checkpoints = tmp_path / 'crashy', tmp_path / 'crashy' / 'checkpoints'
    rng = random.Random(0)
    started = 0
    plan = ['mid-save' if k % 2 == 0 else 'random' for k in range(kills)]
    retries = 2  # a save may complete between being seen and the kill landing
    for trial, moment in enumerate(plan):  # `plan` may grow while we go
        before = _complete_checkpoints(checkpoints)
        launched = time.time()
        with open(tmp_path / 'stderr.txt', 'w') as stderr:
            process = subprocess.Popen(
                [sys.executable, '-m', 'gan_tf.main', *common, '--run_name=crashy',
                 *(['--resume'] if trial else [])], cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=stderr)

        def training():  # this process has restored and written its config.json
            config = run_dir / 'config.json'
            return config.exists() and config.stat().st_mtime > launched and (
                run_dir / 'metrics.csv').exists()

        def past_its_start():  # it saved a checkpoint beyond the one it resumed from
            return training() and max(_complete_checkpoints(checkpoints), default=0) > started

        def saving():  # the next save has begun
            return any(checkpoints.glob('*_temp')) and past_its_start()

        if moment == 'mid-save':
            assert _kill_when(process, saving), (tmp_path / 'stderr.txt').read_text()[-3000:]
            if not any(checkpoints.glob('*_temp')):
                # The save finished between being seen and the kill: that was a
                # kill at a random moment; the mid-save kill is tried again.
                assert retries, 'three mid-save kills missed the save'
                retries -= 1
                plan.append('mid-save')
        else:
            assert _wait_for(past_its_start, process), (tmp_path / 'stderr.txt').read_text()
            time.sleep(rng.uniform(0.0, 0.3))  # the random moment of the kill
            assert process.poll() is None, 'the run ended before its kill'
            process.send_signal(signal.SIGKILL)
            process.wait()
        if trial:  # the process resumed from the newest complete checkpoint
            started = json.loads((run_dir / 'config.json').read_text())['started_at_step']
            assert started == before[-1], (trial, started, before)

    assert error_of([*common, '--run_name=crashy', '--resume']) is None
    assert not list(checkpoints.glob('*_temp'))
    logged = [int(row['step']) for row in metric_rows(run_dir)]
    assert logged == list(range(5, steps + 1, 5))  # no gaps, no repeats

    assert error_of([*common, '--run_name=calm', '--noexport']) is None
    assert_same_tensors(checkpoint_tensors(checkpoints / f'ckpt-{steps}'),
                        checkpoint_tensors(tmp_path / 'calm' / 'checkpoints' / f'ckpt-{steps}'))
    assert metric_rows(run_dir) == metric_rows(tmp_path / 'calm')
    grid = f'samples/step_{steps:06d}.png'
    assert (run_dir / grid).read_bytes() == (tmp_path / 'calm' / grid).read_bytes()

    import tensorflow as tf
    serve = tf.saved_model.load(str(run_dir / 'export')).signatures['serving_default']
    images = serve(z=tf.random.normal([3, 100]))['images'].numpy()
    assert images.shape == (3, 28, 28, 1) and np.abs(images).max() <= 1.0


def _wait_for(ready, process, deadline=120):
    """True once `ready()`; False if `process` ended first or time ran out."""
    end = time.monotonic() + deadline
    while process.poll() is None and time.monotonic() < end:
        if ready():
            return True
        time.sleep(0.005)  # polling a file, not waiting for a result
    return False


def test_a_run_resumed_from_its_middle_checkpoint_ends_bit_identical(short_run_copy):
    """Resuming changes nothing, in this process (the slow suite's SIGKILL trials
    resume fresh processes killed mid-save and at random moments): a copy of the
    shared 40-step run, its step-40 checkpoint taken away, resumed from step 20,
    ends with the weights, optimizer slots, random states, metrics and sample grid
    the run reached uninterrupted."""
    import tensorflow as tf
    run_dir, common = short_run_copy
    checkpoints = run_dir / 'checkpoints'
    reached = checkpoint_tensors(checkpoints / 'ckpt-40')
    rows, grid = metric_rows(run_dir), (run_dir / 'samples' / 'step_000040.png').read_bytes()
    for path in checkpoints.glob('ckpt-40.*'):
        path.unlink()
    tf.compat.v1.train.update_checkpoint_state(
        str(checkpoints), str(checkpoints / 'ckpt-20'), [str(checkpoints / 'ckpt-20')])
    assert error_of([*FLAGS, *common, '--resume']) is None
    assert json.loads((run_dir / 'config.json').read_text())['started_at_step'] == 20
    assert_same_tensors(reached, checkpoint_tensors(checkpoints / 'ckpt-40'))
    assert metric_rows(run_dir) == rows
    assert (run_dir / 'samples' / 'step_000040.png').read_bytes() == grid


def test_a_corrupt_checkpoint_is_skipped_with_a_warning(short_run_copy, capsys):
    run_dir, common = short_run_copy
    data = run_dir / 'checkpoints' / 'ckpt-40.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:1000])  # cut short, as by a failing disk
    with pytest.warns(UserWarning, match=f'checkpoint {run_dir}/checkpoints/ckpt-40 is '
                                         'unreadable'):
        assert error_of([*FLAGS, *common, '--resume', '--max_steps=60']) is None
    assert json.loads((run_dir / 'config.json').read_text())['started_at_step'] == 20
    assert 'step 60 of 60' in capsys.readouterr().out


def test_a_resume_with_other_hyperparameters_is_refused(short_run_copy, capsys):
    run_dir, common = short_run_copy
    before = sorted((p.relative_to(run_dir), p.stat().st_mtime) for p in run_dir.rglob('*'))
    # In this process (the exit status of such an error is test_bad_input.py's).
    assert error_of([*FLAGS, *common, '--resume', '--lr_d=0.001', '--batch_size=16']) == (
        "error: --resume: flags differ from the run's: --batch_size=16 (run: 32); "
        '--lr_d=0.001 (run: 0.0002). Resume with the flags it was started with, or '
        'pass --allow_config_change')
    assert sorted((p.relative_to(run_dir), p.stat().st_mtime)
                  for p in run_dir.rglob('*')) == before

    assert error_of([*FLAGS, *common, '--resume', '--lr_d=0.001', '--max_steps=50',
                     '--allow_config_change']) is None
    assert 'step 50 of 50' in capsys.readouterr().out


@contextlib.contextmanager
def _files_limited_to(size):
    """This process may write files of at most `size` bytes while inside: a
    checkpoint of the short run's players (2.7 MB) cannot be written, its samples
    and logs can. The write fails with EFBIG rather than ENOSPC; both reach the
    same code path, and this needs no root and no real full disk."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_while_checkpointing_loses_nothing(short_run_copy):
    from gan_tf import main
    run_dir, common = short_run_copy
    exported = (run_dir / 'export' / 'saved_model.pb').read_bytes()
    with _files_limited_to(1536 << 10):
        status, _, last = run_command(main, *FLAGS, *common, '--resume', '--max_steps=80')
    assert status == 1
    checkpoints = run_dir / 'checkpoints'
    assert last == (
        'error: could not write the checkpoint of step 60 (File too large); last '
        f'good checkpoint: {checkpoints}/ckpt-40. Free some space and continue '
        'with --resume')
    assert not list(checkpoints.glob('*_temp')) and not list(checkpoints.glob('ckpt-60*'))
    assert (run_dir / 'export' / 'saved_model.pb').read_bytes() == exported

    assert error_of([*FLAGS, *common, '--resume', '--max_steps=80']) is None  # space freed
    assert json.loads((run_dir / 'config.json').read_text())['started_at_step'] == 40


# --- Ctrl-C and SIGTERM ---------------------------------------------------------------

def _signal_once_training(run_dir, number, deadline=60):
    """From a thread: sends this process signal `number` once the run in
    `run_dir` has logged its first steps (the handler is the one a command-line
    run installs, in the main thread, as in any process)."""
    def send():
        end = time.monotonic() + deadline
        while not (run_dir / 'metrics.csv').exists():
            if time.monotonic() > end:
                return
            time.sleep(0.05)  # polling for the file, not waiting for a result
        os.kill(os.getpid(), number)
    threading.Thread(target=send, daemon=True).start()


@pytest.mark.parametrize('signal_name', ['SIGINT',  # one handler: SIGTERM in the slow suite
                                         pytest.param('SIGTERM', marks=pytest.mark.slow)])
def test_a_signal_stops_cleanly_within_a_step_and_the_run_resumes(
        signal_name, mnist_data_dir, tmp_path, capsys):
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM: the step ends, then a checkpoint
    of that step, its samples, curves and report; one line says how to resume.
    In this process, as `python -m gan_tf.main` runs it (`run_command`)."""
    from gan_tf import main
    run_dir = tmp_path / 'stopped'
    common = ['--dataset=mnist', f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--run_name=stopped', '--batch_size=16', '--max_steps=100000',
              '--max_seconds=120',  # ends the run should the signal never come
              '--g_widths=32', '--d_widths=32', '--log_every=5', '--sample_every=1000',
              '--checkpoint_every=100000', '--eval_every=0', '--nohealth_classes']
    number = getattr(signal, signal_name)
    _signal_once_training(run_dir, number)
    status, _, last = run_command(main, *common)
    assert status == 128 + number, last
    step = int(last.split(' at step ')[1].split(':')[0])
    assert last == (f'error: stopped by {signal_name} at step {step}: checkpoint, samples '
                    'and report written; continue with --resume')
    assert (run_dir / 'checkpoints' / f'ckpt-{step}.index').exists()
    assert (run_dir / 'samples' / f'step_{step:06d}.png').exists()
    assert (run_dir / 'report.html').exists() and (run_dir / 'curves.png').exists()
    assert metric_rows(run_dir)[-1]['step'] == str(step)
    capsys.readouterr()
    assert error_of([*common, '--resume', f'--max_steps={step + 5}']) is None
    assert f'continuing from {run_dir}/checkpoints/ckpt-{step} (step {step})' in \
        capsys.readouterr().out


def test_a_second_ctrl_c_aborts_at_once(mnist_data_dir, tmp_path, monkeypatch):
    """Run in this process (the handler is the same in any main thread): a thread
    sends SIGINT once training has started, and the second follows as soon as
    the first has asked training to stop (two at once would reach the handler as
    one)."""
    from gan_tf import callbacks, main
    run_dir = tmp_path / 'aborted'
    common = ['--dataset=mnist', f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
              '--run_name=aborted', '--batch_size=16', '--max_steps=100000',
              '--max_seconds=120',  # ends the run should the signals never come
              '--g_widths=32', '--d_widths=32', '--log_every=5', '--eval_every=0',
              '--nohealth_classes']
    request = callbacks.StopAt.request

    def request_then_ctrl_c_again(self, reason):
        request(self, reason)
        if reason == 'SIGINT':
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(callbacks.StopAt, 'request', request_then_ctrl_c_again)
    _signal_once_training(run_dir, signal.SIGINT)
    status, _, last = run_command(main, *common)
    assert status == 130 and last.startswith('error: aborted at once at step '), last
    assert not (run_dir / 'report.html').exists()  # aborted before the saving a stop does


def test_an_abort_whose_keyboardinterrupt_is_lost_still_ends_that_step():
    """Python only prints an exception raised while it runs a finaliser, so the
    KeyboardInterrupt of a second Ctrl-C handled there is lost: the abort must
    still end training at the end of that step, before anything is saved."""
    import keras
    import tensorflow as tf

    from gan_tf import callbacks, models
    from gan_tf.gan import GAN
    stop = callbacks.StopAt()

    class CtrlCTwiceInStepThree(keras.callbacks.Callback):
        ended = []

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                stop.request('SIGINT')
                with contextlib.suppress(KeyboardInterrupt):  # lost, as in a finaliser
                    stop.abort()

        def on_train_batch_end(self, batch, logs=None):
            self.ended.append(batch)

        def on_train_end(self, logs=None):
            self.ended.append('train_end')

    gan = GAN(*models.build('mlp', (28, 28, 1), g_widths=(16,), d_widths=(16,)),
              latent_dim=8, seed=0)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    batches = tf.data.Dataset.from_tensors(tf.zeros((4, 28, 28, 1))).repeat()
    watcher = CtrlCTwiceInStepThree()
    with pytest.raises(KeyboardInterrupt):
        gan.fit(batches, steps_per_epoch=10, epochs=1, verbose=0, shuffle=False,
                callbacks=[stop, watcher])
    assert int(gan.step) == 3 and watcher.ended == [0, 1]  # no callback after it ran


# --- a full disk for the export and the report -----------------------------------------

@pytest.mark.parametrize('artifact', ['export', 'report'])
def test_a_full_disk_at_the_end_keeps_the_old_file_and_writes_the_rest(
        artifact, short_run_copy, monkeypatch):
    """The final export or the report cannot be written (ENOSPC): one line names
    the path and the free space, the old one stays, the other is still written."""
    import errno

    import keras
    import tensorflow as tf

    from gan_tf import artifacts
    run_dir, common = short_run_copy
    before = {name: (run_dir / name).read_bytes()
              for name in ('export/saved_model.pb', 'report.html')}
    full = OSError(errno.ENOSPC, 'No space left on device')
    if artifact == 'export':
        def write_out(self, *args, **kwargs):  # what TensorFlow raises on a full disk
            raise tf.errors.ResourceExhaustedError(
                None, None, f'{run_dir}/.export-x/variables/variables_temp/part-00000-of-'
                '00001.data-00000-of-00001.tempstate123; No space left on device')
        monkeypatch.setattr(type(keras.export.ExportArchive()), 'write_out', write_out)
        path = run_dir / 'export'
    else:
        write_file = artifacts.write_file

        def refuse_report(target, data):
            if str(target).endswith('report.html'):
                raise artifacts.write_failure(target, full)
            return write_file(target, data)
        monkeypatch.setattr(artifacts, 'write_file', refuse_report)
        path = run_dir / 'report.html'
    error = error_of([*FLAGS, *common, '--resume', '--max_steps=50'])
    assert error.startswith(f'error: could not write {path} (No space left on device; ')
    assert ' free)' in error and '\n' not in error
    kept = 'export/saved_model.pb' if artifact == 'export' else 'report.html'
    written = 'report.html' if artifact == 'export' else 'export/saved_model.pb'
    assert (run_dir / kept).read_bytes() == before[kept]
    assert (run_dir / written).read_bytes() != before[written]  # rewritten at step 50
    assert not [p for p in run_dir.iterdir() if p.name.startswith('.')]  # no leftovers


def test_the_export_tool_on_a_target_it_cannot_write_is_one_line(short_run, tmp_path,
                                                                  capsys):
    from gan_tf import cli, export
    (tmp_path / 'file').write_text('in the way')
    target = tmp_path / 'file' / 'export'
    with pytest.raises(SystemExit) as exit_:
        cli.main(export.COMMAND, ['export', f'--run_dir={short_run[0]}',
                                  f'--export_dir={target}'])
    assert exit_.value.code == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f'error: could not write {target} ({tmp_path / "file"} is a '
                           'file, not a folder; ')


def test_a_damaged_newest_checkpoint_is_skipped_by_export_and_evaluation(
        short_run_copy, tmp_path):
    """The export tool and `evaluate --checkpoint` restore as --resume does: the
    newest checkpoint that reads back whole, with a warning for the others."""
    from gan_tf import exports, sources
    run_dir, _ = short_run_copy
    data = run_dir / 'checkpoints' / 'ckpt-40.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=f'checkpoint {run_dir}/checkpoints/ckpt-40 is '
                                         'unreadable'):
        exported = exports.export_run(str(run_dir), str(tmp_path / 'export'))
        from_run = sources.CheckpointedGenerator(str(run_dir)).sample(20, seed=1)[0]
    from_20 = sources.CheckpointedGenerator(str(run_dir / 'checkpoints' / 'ckpt-20'))
    np.testing.assert_array_equal(from_run, from_20.sample(20, seed=1)[0])
    served = sources.ExportedGenerator(exported).sample(20, seed=1)[0]
    np.testing.assert_allclose(served, from_run, atol=1e-5)
    # The export folder opens to everyone, as any folder the user makes would.
    mode = os.stat(exported).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask
