"""Training on several devices or machines with TensorFlow's `tf.distribute`.

`--strategy` picks one of TensorFlow's own strategies (`make_strategy`); the GAN,
its optimizers and the checkpoint are created in its scope and Keras' `fit` runs
each step on every replica, with `--batch_size` the global batch, split evenly.
The pieces here keep a run with R replicas the same computation as one device
running the global batch: each replica's random numbers are its slice of the
global batch's (`draw`), and each D update sees the same real images
(`order_for_replicas`).
"""
import functools
import json
import os
import re

import tensorflow as tf

from gan_tf import registry
from gan_tf.errors import UserError


def make_strategy(name):
    """The `tf.distribute.Strategy` that `--strategy=name` names.

    auto: `mirrored` when more than one GPU is visible, else `default`.
    default: TensorFlow's default strategy, one device.
    mirrored: `tf.distribute.MirroredStrategy` over every visible GPU or, on a
      machine without GPUs, over every logical CPU device (one, unless the
      process split the CPU with `tf.config.set_logical_device_configuration`).
    multi_worker: `tf.distribute.MultiWorkerMirroredStrategy`, configured from
      the TF_CONFIG environment variable (`cluster_from_tf_config`).
    A process gets one strategy object of each kind, however often it asks:
    a second MirroredStrategy would reuse the first one's collective keys, for
    which TensorFlow keeps the first model's tensor shapes (a shape mismatch).
    """
    if name == 'auto':
        name = 'mirrored' if len(tf.config.list_physical_devices('GPU')) > 1 else 'default'
    if name == 'default':
        return tf.distribute.get_strategy()
    if name == 'mirrored':
        devices = (tf.config.list_logical_devices('GPU') or
                   tf.config.list_logical_devices('CPU'))
        return _one_strategy('mirrored', tuple(d.name for d in devices))
    if name == 'multi_worker':
        cluster_from_tf_config()
        return _one_strategy('multi_worker')
    raise ValueError(f'unknown strategy {name!r}; choose one of '
                     f'{", ".join(registry.STRATEGIES)}')


@functools.cache
def _one_strategy(kind, devices=None):
    if kind == 'mirrored':
        return tf.distribute.MirroredStrategy(list(devices))
    return tf.distribute.MultiWorkerMirroredStrategy()


def cluster_from_tf_config():
    """(cluster, task type, task index) from TF_CONFIG; UserError, one line
    saying what is wrong, when it is missing or malformed."""
    text = os.environ.get('TF_CONFIG')
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise UserError(f'--strategy=multi_worker needs the TF_CONFIG environment '
                        f'variable on every worker, {example} (see BUILD.md)')
    try:
        config = json.loads(text)
        cluster, task = config['cluster'], config['task']
        task_type, index = task['type'], task['index']
        members = cluster[task_type]
    except (ValueError, KeyError, TypeError) as e:
        what = f'no {e}' if isinstance(e, KeyError) else 'not JSON with "cluster" and "task"'
        raise UserError(f'TF_CONFIG is malformed ({what}); expected {example}') from None
    if not isinstance(index, int) or not 0 <= index < len(members):
        raise UserError(f'TF_CONFIG: task index {index!r} is not one of the '
                        f'{len(members)} {task_type} addresses in "cluster"')
    return cluster, task_type, index


def is_chief(strategy):
    """Whether this process writes the run's artifacts: always, except under
    MultiWorkerMirroredStrategy, where only the chief does (the task of type
    "chief", or worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if not multi_worker(strategy) or not resolver:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, 'chief') or (
        task_type == 'worker' and task_id == 0 and
        'chief' not in resolver.cluster_spec().as_dict())


def num_workers(strategy):
    """Worker processes training together: those of the cluster under
    MultiWorkerMirroredStrategy (its chief included), else 1."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if not multi_worker(strategy) or not resolver:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    return max(1, len(jobs.get('chief', [])) + len(jobs.get('worker', [])))


def multi_worker(strategy):
    """Whether `strategy` spans several worker processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def num_replicas():
    """Replicas training in sync in the current strategy or replica context."""
    context = tf.distribute.get_replica_context()
    return (context or tf.distribute.get_strategy()).num_replicas_in_sync


def draw(random, shape, *args, seed):
    """`random(shape, *args, seed=seed)`, a `keras.random` function, for this
    replica's share of the global batch; `shape[0]` is that share's size.

    With R replicas each draws the whole global batch, [R * shape[0], ...], from
    the same seed generator state, and keeps its own slice: replicas get
    different numbers, every replica's copy of the generator advances alike (it
    stays one checkpointable state), and the numbers are exactly those one device
    draws for the global batch. Outside a replica context, or with one replica,
    it is `random` itself.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return random(shape, *args, seed=seed)
    shape = tf.unstack(shape) if tf.is_tensor(shape) else list(shape)
    values = random([shape[0] * context.num_replicas_in_sync, *shape[1:]], *args,
                    seed=seed)
    start = context.replica_id_in_sync_group * shape[0]
    return values[start:start + shape[0]]


def order_for_replicas(images, parts, replicas):
    """Reorders a global batch of `parts` consecutive D-update batches so that,
    once `fit` hands each of `replicas` replicas its consecutive share and the
    replica splits that into `parts`, replica r's part k holds r's slice of the
    global part k: the images one device would use in D update k."""
    shape = tf.shape(images)
    grouped = tf.reshape(images, tf.concat([[parts, replicas, -1], shape[1:]], 0))
    perm = [1, 0, *range(2, images.shape.rank + 2)]
    return tf.reshape(tf.transpose(grouped, perm), shape)


def distribute_input(dataset, strategy, parts):
    """`dataset`, batches of `parts` D-update batches, ready for `fit` under
    `strategy`: each worker keeps its share of every global batch (not of the
    data files: the stream stays the one a single device trains on), in the
    order `order_for_replicas` gives."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return dataset
    if parts > 1:
        def reorder(*batch):  # images, or (images, labels)
            batch = [order_for_replicas(t, parts, replicas) for t in batch]
            return batch[0] if len(batch) == 1 else tuple(batch)
        dataset = dataset.map(reorder)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)


def reducible(metrics):
    """`metrics` (scalars) as Keras can average them over replicas.

    Under MultiWorkerMirroredStrategy with several workers, Keras 3 reduces a
    step's outputs with `strategy.reduce('MEAN', value, axis=0)`, which fails on
    scalars (tensorflow/tensorflow#72388); a leading axis of length one makes
    that the mean over all replicas, a scalar again.
    """
    strategy = tf.distribute.get_strategy()
    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
            strategy.extended._in_multi_worker_mode()):  # the test Keras makes
        return metrics
    return {name: tf.reshape(value, [1]) for name, value in metrics.items()}


def lost_worker(error):
    """The one-line explanation of `error`, an op error raised when another
    worker stopped (crashed, killed, its machine gone), or None for others."""
    if not isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError,
                              tf.errors.DeadlineExceededError,
                              tf.errors.CancelledError)):
        return None
    tasks = sorted(set(re.findall(r'/job:\w+/replica:\d+/task:\d+', str(error))))
    who = ', '.join(tasks) or 'another worker'
    return (f'lost contact with {who} (crashed, killed, or its machine '
            'unreachable); stop every worker, then start them all again with '
            '--resume to continue from the last checkpoint')
