"""Real training images: where they come from, and the stream that feeds training.

`load` returns an `ImageData`: unbatched uint8 examples with their shape, class
count and where they came from (recorded in the run's config.json), from a
folder of images (`folder`) or a tensorflow-datasets dataset (`tfds_source`);
`registry.data_source` says which a `--dataset` names. Images of another size
than asked for are resized once, with the folder's code (`images.fit`), into a
cache (`cache`). `train_batches` turns an `ImageData` into the endless, seeded,
resumable stream of float batches in [-1, 1] that training reads.
"""
import dataclasses
import hashlib
import io
import json
import os
import zipfile
from typing import Optional

import numpy as np
import tensorflow as tf

from gan_tf import artifacts, registry
from gan_tf.config import parse_colour
from gan_tf.data import cache, folder, images, tfds_source
from gan_tf.errors import UserError

# Images in a shuffle buffer, at most: 100,000, and no more than SHUFFLE_BYTES.
SHUFFLE_IMAGES, SHUFFLE_BYTES = 100_000, 256 << 20


@dataclasses.dataclass(frozen=True)
class ImageData:
    examples: tf.data.Dataset  # unbatched {'image': uint8 [h, w, c], 'label': int}
    num_examples: int
    image_shape: tuple
    source: str  # how the images were found, e.g. 'prepared', 'manual', 'folder'
    detail: str  # where exactly the images came from
    num_classes: int = 0  # 0 where the dataset has no labels
    class_names: tuple = ()  # class index -> name ('' where unlabelled)
    in_memory: bool = True  # small enough to hold in memory while training
    listing: str = ''  # folders: the CSV of every file, kept or skipped, and why
    key: str = ''  # the cache key of images prepared or resized ('' for a tfds
                   # dataset as it is): other images, another key
    cache_files: Optional[tuple] = None  # (folder, manifest) of that cache: its shards

    @property
    def streamed_shards(self):
        """How many cache shards training streams the images from: 0 where
        they are held in memory or have no cache."""
        if self.in_memory or not self.cache_files:
            return 0
        return len(self.cache_files[1]['shards'])

    def worker_part(self, index, count):
        """The images worker `index` of `count` reads when each reads only its
        own files: every count-th shard of the cache from the index-th on; None
        where fewer than `count` shards stream (then every worker reads them all
        and keeps its share of each batch)."""
        if self.streamed_shards < count:
            return None
        examples = cache.stream(*self.cache_files, (index, count))
        return dataclasses.replace(self, examples=examples,
                                   num_examples=int(examples.cardinality()))

    @property
    def images(self):
        """The images alone."""
        return self.examples.map(lambda example: example['image'],
                                 num_parallel_calls=tf.data.AUTOTUNE)


def default_data_dir():
    return os.path.expanduser(os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets'))


# An environment variable naming a folder of datasets' original files, one folder
# per dataset (mnist/, fashion_mnist/): --manual_dir for every dataset at once.
MANUAL_DIRS = 'GAN_TF_MANUAL_DIRS'


def load(dataset, data_dir='', manual_dir='', download=True, split='train',
         image_size=None, crop='centre', channels=None, background='white',
         keep_alpha=False, quiet=False):
    """The `split` images of `dataset`: a folder of images (`folder.load`) or a
    tensorflow-datasets name (`tfds_source.load`), as `registry.data_source`
    decides; a tfds dataset's original files are looked for in `manual_dir`, else
    in $GAN_TF_MANUAL_DIRS/<dataset>. `image_size`, `crop`, `channels`, `background`, `keep_alpha`: what
    every image becomes (the Config fields of the same names); None for the
    size and channels: a folder's from its images, a tfds dataset's own.
    `quiet`: no summary of a folder's images, no warning of the embedded digits
    (the judge loads them again)."""
    kind, where = registry.data_source(dataset)
    directory = data_dir or default_data_dir()
    background = parse_colour(background) if isinstance(background, str) else background
    if kind == 'folder':
        if where == dataset and not dataset.startswith(('.', '~', os.sep)) and \
                tfds_source.is_dataset_name(dataset):
            print(f'--dataset={dataset}: the folder {os.path.abspath(dataset)}, not the '
                  f'tensorflow-datasets dataset (--dataset={registry.TFDS_PREFIX}'
                  f'{dataset} for that)', flush=True)
        return ImageData(**folder.load(where, directory, split, image_size, crop,
                                       channels, background, keep_alpha, quiet))
    if not manual_dir and os.environ.get(MANUAL_DIRS):  # a folder per dataset
        if not os.path.isdir(os.environ[MANUAL_DIRS]):
            raise UserError(f'{MANUAL_DIRS}={os.environ[MANUAL_DIRS]}: no such folder; '
                            "name the folder that holds each dataset's original files")
        if os.path.isdir(os.path.join(os.environ[MANUAL_DIRS], where)):
            manual_dir = os.path.join(os.environ[MANUAL_DIRS], where)
    found = ImageData(**tfds_source.load(where, directory, manual_dir, download, split,
                                         data_dir_named=bool(data_dir), quiet=quiet))
    height, width, depth = found.image_shape
    if image_size is None and height == width:
        image_size = height  # its own size: no resizing
    pixels = images.Pixels(image_size or _auto_size(height, width),
                           channels or min(depth, 3), crop, tuple(background),
                           keep_alpha)
    if pixels.shape == found.image_shape:
        return _held_in_memory(found, split)
    return _resized(found, where, split, directory, pixels)


# Decoded images of the tfds splits this process has read, by (where, split):
# decoding MNIST's 60,000 PNG records costs about 2.5 s, which every run or
# evaluation in one process (a notebook, the test suite) would otherwise pay again.
_DECODED = {}
TFDS_SOURCES = ('prepared', 'manual', 'download')


def _held_in_memory(found, split):
    """`found` read from memory: decoded once per process, when its images fit
    the shuffle buffer; larger datasets keep streaming from their files (held
    in memory while training only where they fit its budget)."""
    if found.num_examples * int(np.prod(found.image_shape)) > SHUFFLE_BYTES:
        return dataclasses.replace(
            found, in_memory=folder.fits_in_memory(found.num_examples, found.image_shape))
    key = (found.detail, split)
    if key not in _DECODED:
        _DECODED[key] = _decoded(found, split)
    return dataclasses.replace(
        found, examples=tf.data.Dataset.from_tensor_slices(_DECODED[key]))


def _decoded(found, split):
    """{'image': uint8 array, 'label': array} of all of `found`. A tfds split is
    decoded once and kept beside its prepared files (`gan_tf-decoded-<split>.npz`,
    as large as the raw pixels), so that later processes load it in a fraction of
    a second; where that cannot be written, it is decoded each time."""
    kept_beside = found.source in TFDS_SOURCES and os.path.isdir(found.detail)
    path = os.path.join(found.detail, f'gan_tf-decoded-{split}.npz')
    if kept_beside and os.path.exists(path):
        try:
            with np.load(path) as kept:
                arrays = {name: kept[name] for name in ('image', 'label')}
            if arrays['image'].shape == (found.num_examples, *found.image_shape):
                return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # damaged or of another make: decoded again, and replaced
    whole = next(iter(found.examples.batch(found.num_examples)))
    arrays = {name: tensor.numpy() for name, tensor in whole.items()}
    if kept_beside:
        kept = io.BytesIO()
        np.savez(kept, **arrays)
        try:  # written whole, then renamed: never read half-written
            artifacts.write_file(path, kept.getvalue())
        except UserError:  # a read-only or full data directory: decoded next time
            pass
    return arrays


def _auto_size(height, width):
    size = max([s for s in folder.AUTO_SIZES if s <= min(height, width)]
               or [folder.AUTO_SIZES[0]])
    print(f'--image_size={size} chosen for {height}x{width} images', flush=True)
    return size


def _resized(found, name, split, data_dir, pixels):
    """`found` with every image passed through `images.fit` once, into a cache
    keyed by the dataset, its split, size and these pixels."""
    key = hashlib.sha256(json.dumps([cache.VERSION, name, split, found.num_examples,
                                     found.detail, dataclasses.asdict(pixels)]
                                    ).encode()).hexdigest()
    path = os.path.join(cache.root(data_dir), f'{name}-{split}-{key[:16]}')
    manifest = cache.find(path, key)
    if manifest is None:
        with cache.Writer(path, key, pixels.shape) as writer:
            progress = cache.Progress(found.num_examples, f'resizing {name} {split} to '
                                      f'{"x".join(map(str, pixels.shape))}')
            for example in found.examples.as_numpy_iterator():
                writer.add(images.fit(example['image'], pixels), example['label'])
                progress.update()
            progress.close()
            manifest = writer.commit(source=name)
    return dataclasses.replace(
        found, examples=cache.stream(path, manifest), image_shape=pixels.shape,
        detail=f'{found.detail}, resized (cache {path})', key=key,
        in_memory=folder.fits_in_memory(found.num_examples, pixels.shape),
        cache_files=(path, manifest))


def train_batches(data, batch_size, seed, start_step=0, labels=False, flip=False):
    """Endless shuffled batches of float32 images in [-1, 1], prefetched; with
    `labels`, (images, int32 labels) pairs, in the same order; with `flip`, each
    image mirrored left-right at random.

    The stream depends only on `seed` (and TF's global seed); `start_step` skips
    its first `start_step` batches, so a resumed run sees exactly the batches the
    uninterrupted run would have. Skipping costs about a second per million
    images; tf.data's own iterator checkpoints would instead store the whole
    shuffle buffer (the dataset itself, for MNIST) in every checkpoint. Data
    that fits in memory is held there after the first pass; larger data streams
    from its files, with a shuffle buffer of at most SHUFFLE_BYTES.
    """
    if labels and not data.num_classes:
        raise UserError('this dataset has no class labels: train without --conditional')
    if labels:
        examples = data.examples.map(lambda e: (e['image'], tf.cast(e['label'], tf.int32)))
    else:
        examples = data.images
    if data.in_memory:
        examples = examples.cache()
    buffer = min(data.num_examples, SHUFFLE_IMAGES,
                 SHUFFLE_BYTES // int(np.prod(data.image_shape)))

    def endless(_):
        return examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    # Made inside flat_map, the shuffle starts afresh with every iterator: the
    # stream depends on the seed alone, however many iterators Keras makes (a
    # tf.distribute strategy makes one more, which would otherwise get the
    # second epoch's order).
    stream = tf.data.Dataset.from_tensors(0).flat_map(endless)
    if flip:  # seeded by the image's place in the stream: the same after a resume
        stream = stream.enumerate().map(
            lambda i, example: _mirrored(example, tf.stack([tf.cast(seed, tf.int64), i])),
            num_parallel_calls=tf.data.AUTOTUNE)

    def scale(*batch):  # images, or images and labels
        return (to_unit_range(batch[0]), *batch[1:]) if labels else to_unit_range(batch[0])
    return without_autotuning(stream.skip(start_step * batch_size)
                              .batch(batch_size, drop_remainder=True)
                              .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
                              .prefetch(tf.data.AUTOTUNE))


def without_autotuning(dataset):
    """`dataset` without tf.data's autotuning thread (AUTOTUNE then means one
    call per core, and a prefetch buffer that grows while it runs dry). That
    thread sleeps up to a minute between its rounds, and freeing an iterator
    waits for it to wake (TF 2.21): the process would stall that long whenever
    Python frees a pipeline that ran for a while, as at the end of every
    training run. BUILD.md, "tf.data autotuning", has the measurements."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _mirrored(example, seed):
    if isinstance(example, tuple):
        return _mirrored(example[0], seed), example[1]
    return tf.image.stateless_random_flip_left_right(example, seed)


def to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def arrays(data, limit=None):
    """(images in [-1, 1], labels) of a whole `ImageData` (its first `limit`
    images) as numpy arrays."""
    examples = data.examples.take(limit) if limit else data.examples
    batches = list(examples.batch(10_000))
    images = np.concatenate([b['image'].numpy() for b in batches])
    labels = np.concatenate([b['label'].numpy() for b in batches])
    return to_unit_range(images).numpy(), labels
