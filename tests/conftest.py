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


def session_folder(tmp_path_factory):
    """The folder this test session's pytest-xdist workers share."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # this session's, above each worker's own
    return root


def once_in(root, name, make):
    """Runs `make(root / name)` once per test session and returns that folder,
    which every pytest-xdist worker of the session shares (each would otherwise
    repeat the work); the other workers wait for the first. `make` must only add
    to it."""
    folder, done = root / name, root / f'{name}.done'
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def once_per_session(tmp_path_factory, name, make):
    return once_in(session_folder(tmp_path_factory), name, make)


# The suite's judge: gan_tf's judging classifier trained on 10,000 MNIST digits
# (97% right on the test split, in half a minute), not on all 60,000 (99%, in two
# minutes; the slow suite checks that one).
JUDGE_IMAGES = 10_000


def prepare_mnist(data_dir):
    """Prepares MNIST from the original files in the tfds `data_dir`, and trains
    and caches the judge (classifier and real reference) there."""
    from gan_tf import data, judge
    images = data.load('mnist', str(data_dir), os.path.join(SHARED_DATA, 'mnist'),
                       download=False)
    assert images.source == 'manual'
    judge.load_classifier('mnist', str(data_dir), train_images=JUDGE_IMAGES)
    judge.Evaluator('mnist', str(data_dir))  # caches the real reference


@pytest.fixture(scope='session')
def mnist_data_dir(tmp_path_factory):
    """A tfds data_dir with MNIST and its judge (see `prepare_mnist`)."""
    shared_files('mnist')
    return str(once_per_session(tmp_path_factory, 'tfds', prepare_mnist))


def needs_mnist(item):
    return 'mnist_data_dir' in item.fixturenames or item.get_closest_marker('real_mnist')


def pytest_collection_modifyitems(config, items):
    """Tests on real MNIST last, the rest first: while the workers run those,
    MNIST and its judge (a minute of work) are prepared in a process of their
    own, started here by the first worker to collect."""
    on_mnist = [item for item in items if needs_mnist(item)]
    items[:] = [item for item in items if not needs_mnist(item)] + on_mnist
    if not on_mnist or config.option.collectonly or not os.path.isfile(
            os.path.join(SHARED_DATA, 'mnist', 'train-images-idx3-ubyte.gz')):
        return
    root = session_folder(config._tmp_path_factory)
    try:
        started = os.open(root / 'tfds.started', os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    os.close(started)
    log = open(root / 'tfds.log', 'w')
    subprocess.Popen([sys.executable, '-c', PREPARE_IN_BACKGROUND, str(root)],
                     cwd=os.path.dirname(__file__), stdout=log, stderr=log)


# Takes the lock of `once_in` itself, so a worker that needs MNIST earlier waits
# for it; one that finds it failed prepares it again, and shows why. One thread:
# beside the two workers it gets about one core, and more threads only spin.
PREPARE_IN_BACKGROUND = '''
import pathlib, sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import conftest
conftest.once_in(pathlib.Path(sys.argv[1]), 'tfds', conftest.prepare_mnist)
'''


@pytest.fixture(autouse=True)
def nothing_fetched(monkeypatch):
    """No test downloads InceptionV3's weights (87 MB where a network is): a
    run that would fetch them meets a failed fetch, as offline. Tests of the
    fetch put their own in its place."""
    import keras

    def fetch(fname, origin, **kwargs):
        raise Exception(f'URL fetch failure on {origin}: tests fetch nothing')
    monkeypatch.setattr(keras.utils, 'get_file', fetch)


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


def small_inception_stand_in(monkeypatch, load=True):
    """A small network in InceptionV3's place (building the real one costs
    seconds, its weights cannot be downloaded here): `Inception`'s plumbing.
    `load`: load the weights file it is given (else only check it is one)."""
    import keras

    def stand_in(include_top, weights, pooling, input_shape):
        inputs = keras.Input(input_shape)
        model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(
            keras.layers.Conv2D(8, 3, activation='relu')(inputs)))
        if weights and load:
            model.load_weights(weights)
        assert not weights or os.path.isfile(weights)
        return model
    monkeypatch.setattr(keras.applications, 'InceptionV3', stand_in)


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
    """One short run of the main command on real MNIST, in this process (the colour
    folder test in test_folders.py runs it as a process of its own); returns
    (run_dir, the flags naming it).
    Shared: tests read it, or change a copy (`short_run_copy`)."""
    def train(out):
        from gan_tf import main
        status, _, last = run_command(main, *FLAGS, '--eval_every=20', '--eval_samples=500',
                                      '--health_classes', '--health_every=20',
                                      f'--data_dir={mnist_data_dir}', f'--out_dir={out}',
                                      '--run_name=short')
        assert status == 0, last

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
