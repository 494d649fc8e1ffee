"""Real training images: where they come from, and the stream that feeds training.

`load` returns an `ImageData`: unbatched uint8 examples with their shape, class
count and where they came from (recorded in the run's config.json);
`train_batches` turns it into the endless, seeded, resumable stream of float
batches in [-1, 1] that training reads.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from gan_tf.data import tfds_source
from gan_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class ImageData:
    examples: tf.data.Dataset  # unbatched {'image': uint8 [h, w, c], 'label': int}
    num_examples: int
    image_shape: tuple
    source: str  # how the images were found, e.g. 'prepared' or 'manual'
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
    """The `split` images of tensorflow-datasets dataset `dataset`; see
    `gan_tf.data.tfds_source.load`."""
    from_tfds = tfds_source.load(dataset, data_dir or default_data_dir(), manual_dir,
                                 download, split, data_dir_named=bool(data_dir))
    return ImageData(**from_tfds)


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
    examples = examples.cache()
    buffer = min(data.num_examples, 100_000)

    def endless(_):
        return examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    # Made inside flat_map, the shuffle starts afresh with every iterator: the
    # stream depends on the seed alone, however many iterators Keras makes (a
    # tf.distribute strategy makes one more, which would otherwise get the
    # second epoch's order).
    return (tf.data.Dataset.from_tensors(0).flat_map(endless)
            .skip(start_step * batch_size)
            .batch(batch_size, drop_remainder=True)
            .map(scale, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def arrays(data):
    """(images in [-1, 1], labels) of a whole `ImageData` as numpy arrays."""
    batches = list(data.examples.batch(10_000))
    images = np.concatenate([b['image'].numpy() for b in batches])
    labels = np.concatenate([b['label'].numpy() for b in batches])
    return to_unit_range(images).numpy(), labels
