"""Shared fixtures: real MNIST / Fashion-MNIST from ../shared/data, prepared by tfds once."""
import contextlib
import fcntl
import io
import os
import runpy
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The original IDX .gz files; override with GAN_TF_SHARED_DATA on other machines.
SHARED_DATA = os.environ.get('GAN_TF_SHARED_DATA',
                             os.path.join(os.path.dirname(REPO), 'shared', 'data'))


def shared_files(dataset):
    """Folder of `dataset`'s original files, or skip the test when absent."""
    path = os.path.join(SHARED_DATA, dataset)
    if not os.path.isfile(os.path.join(path, 'train-images-idx3-ubyte.gz')):
        pytest.skip(f'real {dataset} files not found in {path} (set GAN_TF_SHARED_DATA)')
    return path


def once_per_session(tmp_path_factory, name, make):
    """Runs `make(folder)` once per test session and returns `folder`, which every
    pytest-xdist worker of the session shares (each would otherwise repeat the
    work); the other workers wait for the first. `make` must only add to it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # this session's, above each worker's own
    folder, done = root / name, root / f'{name}.done'
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


# The suite's judge: gan_tf's judging classifier trained on 10,000 MNIST digits
# (97% right on the test split, in half a minute), not on all 60,000 (99%, in two
# minutes; the slow suite checks that one).
JUDGE_IMAGES = 10_000


@pytest.fixture(scope='session')
def mnist_data_dir(tmp_path_factory):
    """A tfds data_dir in which MNIST is prepared from the original files, with
    the judge (classifier and real reference) trained and cached there."""
    manual = shared_files('mnist')

    def prepare(data_dir):
        from gan_tf import data, judge
        images = data.load('mnist', str(data_dir), manual, download=False)
        assert images.source == 'manual'
        judge.load_classifier('mnist', str(data_dir), train_images=JUDGE_IMAGES)
        judge.Evaluator('mnist', str(data_dir))  # caches the real reference

    return str(once_per_session(tmp_path_factory, 'tfds', prepare))


def run_cli(*args, timeout=600):
    """Runs `python -m gan_tf.main` with `args`; returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'gan_tf.main', *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def run_command(module, *args):
    """(exit status, stdout, stderr's last line) of a gan_tf command run in this
    process as `python -m gan_tf.<module> args` runs it: the same flag parsing,
    one-line errors and exit status, without another TensorFlow start-up."""
    from gan_tf import cli
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(module.COMMAND, [module.__name__, *map(str, args)])
        except SystemExit as e:
            status = e.code
    lines = err.getvalue().strip().splitlines()
    return status, out.getvalue(), lines[-1] if lines else ''


def run_example(script, *args, cwd, monkeypatch, capsys, env=None):
    """(exit status, stdout) of `python examples/<script> args`, run in this
    process (the script as `__main__`, in `cwd`, with `env` added), without
    another TensorFlow start-up. Architectures it registers are forgotten
    afterwards."""
    from gan_tf import registry
    path = os.path.join(REPO, 'examples', script)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, 'argv', [path, *map(str, args)])
    monkeypatch.setattr(registry, 'ARCHITECTURES', dict(registry.ARCHITECTURES))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    status = 0
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().out


def error_of(args):
    """The one `error:` line `gan_tf.main` would print for `args` (flags parsed
    into a Config, then train.train_and_evaluate, in this process), or None if it
    ran."""
    from gan_tf import cli, main, train
    from gan_tf.errors import UserError
    try:
        train.train_and_evaluate(cli.parse(main.COMMAND, ['gan_tf', *args]))
    except UserError as e:
        return f'error: {e}'
    return None


STEPS = 40
# Short runs on small players (checkpoints of 3 MB, not 36) skip the sample
# scoring and the health monitor's class counting, which cost a few seconds of
# set-up each; `short_run` switches both on.
FLAGS = ['--dataset=mnist', '--batch_size=32', f'--max_steps={STEPS}',
         '--g_widths=64,128', '--d_widths=128,64', '--log_every=10', '--sample_every=20',
         '--checkpoint_every=20', '--seed=3', '--eval_every=0', '--nohealth_classes']


@pytest.fixture(scope='session')
def short_run(mnist_data_dir, tmp_path_factory):
    """One short CLI run on real MNIST; returns (run_dir, the flags naming it).
    Shared: tests read it, or change a copy (`short_run_copy`)."""
    def train(out):
        result = run_cli(*FLAGS, '--eval_every=20', '--eval_samples=500',
                         '--health_classes', '--health_every=20',
                         f'--data_dir={mnist_data_dir}', f'--out_dir={out}',
                         '--run_name=short')
        assert result.returncode == 0, result.stderr[-3000:]

    out = once_per_session(tmp_path_factory, 'out', train)
    return out / 'short', [f'--data_dir={mnist_data_dir}', f'--out_dir={out}',
                           '--run_name=short']


@pytest.fixture
def short_run_copy(short_run, tmp_path):
    """A private copy of `short_run` (checkpoints at steps 20 and 40) for a test
    that changes it; returns (run_dir, the flags naming it)."""
    run_dir, common = short_run
    copy = tmp_path / 'out' / 'short'
    shutil.copytree(run_dir, copy)
    common = [a for a in common if not a.startswith('--out_dir=')]
    return copy, [*common, f'--out_dir={tmp_path / "out"}']
