"""Shared fixtures: real MNIST / Fashion-MNIST from ../shared/data, prepared by tfds once."""
import os
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


@pytest.fixture(scope='session')
def mnist_data_dir(tmp_path_factory):
    """A tfds data_dir in which MNIST is prepared from the original files."""
    from gan_tf import input_pipeline
    data_dir = str(tmp_path_factory.mktemp('tfds'))
    data = input_pipeline.load('mnist', data_dir, shared_files('mnist'), download=False)
    assert data.source == 'manual'
    return data_dir


def run_cli(*args, timeout=600):
    """Runs `python -m gan_tf.main` with `args`; returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'gan_tf.main', *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


STEPS = 40
# Short runs skip the sample scoring and the health monitor's class counting,
# which cost a few seconds of set-up each; `short_run` switches both on.
FLAGS = ['--dataset=mnist', '--batch_size=32', f'--max_steps={STEPS}',
         '--log_every=10', '--sample_every=20', '--checkpoint_every=20', '--seed=3',
         '--eval_every=0', '--nohealth_classes']


@pytest.fixture(scope='session')
def short_run(mnist_data_dir, tmp_path_factory):
    """One short CLI run on real MNIST; returns (run_dir, the flags naming it)."""
    out = tmp_path_factory.mktemp('out')
    common = [f'--data_dir={mnist_data_dir}', f'--out_dir={out}', '--run_name=short']
    result = run_cli(*FLAGS, '--eval_every=20', '--eval_samples=500', '--health_classes',
                     '--health_every=20', *common)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / 'short', common


@pytest.fixture
def short_run_copy(short_run, tmp_path):
    """A private copy of `short_run` (checkpoints at steps 20 and 40) for a test
    that changes it; returns (run_dir, the flags naming it)."""
    run_dir, common = short_run
    copy = tmp_path / 'out' / 'short'
    shutil.copytree(run_dir, copy)
    common = [a for a in common if not a.startswith('--out_dir=')]
    return copy, [*common, f'--out_dir={tmp_path / "out"}']
