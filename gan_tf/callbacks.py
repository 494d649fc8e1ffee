"""Keras callbacks that watch and record a `GAN` while `fit` trains it.

Each does one thing and works with any `GAN.fit` call, not only `gan_tf.main`.
"""
import csv
import math
import os
import time

import keras
import tensorflow as tf

from gan_tf import artifacts
from gan_tf.gan import METRICS


class StopAt(keras.callbacks.Callback):
    """Stops training at step `max_steps` or after `max_seconds` of training."""

    def __init__(self, max_steps=None, max_seconds=None):
        super().__init__()
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.stopped_by = None  # 'max_steps' or 'max_seconds' once stopped

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.max_steps is not None and int(self.model.step) >= self.max_steps:
            self.stopped_by = 'max_steps'
        elif (self.max_seconds is not None and
              time.monotonic() - self.started >= self.max_seconds):
            self.stopped_by = 'max_seconds'
        if self.stopped_by:
            self.model.stop_training = True


class MetricsLogger(keras.callbacks.Callback):
    """Every `every` steps, appends the mean of each metric to a CSV file and
    writes it to TensorBoard (when `writer`, a `tf.summary` writer, is given).

    Columns: step, seconds (training time in this process), images_per_second,
    then the step metrics. Rows of a resumed run past its checkpoint are dropped.
    """

    def __init__(self, csv_path, every=50, writer=None, images_per_step=None):
        super().__init__()
        self.csv_path, self.every, self.writer = csv_path, every, writer
        self.images_per_step = images_per_step

    def on_train_begin(self, logs=None):
        self.columns = ['step', 'seconds', 'images_per_second', *METRICS]
        self._truncate_after(int(self.model.step))
        self.sums, self.count = dict.fromkeys(METRICS, 0.0), 0
        self.started = self.window_started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        for key in METRICS:
            self.sums[key] += float(logs[key])
        self.count += 1
        step = int(self.model.step)
        if step % self.every == 0:
            self.flush(step)

    def on_train_end(self, logs=None):
        if self.count:
            self.flush(int(self.model.step))

    def flush(self, step):
        now = time.monotonic()
        row = {k: v / self.count for k, v in self.sums.items()}
        rate = (self.count * self.images_per_step / (now - self.window_started)
                if self.images_per_step else float('nan'))
        row.update(step=step, seconds=round(now - self.started, 3),
                   images_per_second=round(rate, 1))
        new_file = not os.path.exists(self.csv_path)
        with open(self.csv_path, 'a', newline='') as f:
            out = csv.DictWriter(f, self.columns)
            if new_file:
                out.writeheader()
            out.writerow(row)
        if self.writer:
            with self.writer.as_default(step=step):
                for key in (*METRICS, 'images_per_second'):
                    tf.summary.scalar(key, row[key])
        self.sums, self.count = dict.fromkeys(METRICS, 0.0), 0
        self.window_started = now

    def _truncate_after(self, step):
        """Drops rows newer than `step`: left by a run killed after its checkpoint."""
        if not os.path.exists(self.csv_path):
            return
        with open(self.csv_path, newline='') as f:
            rows = [r for r in csv.DictReader(f) if int(r['step']) <= step]
        with open(self.csv_path, 'w', newline='') as f:
            out = csv.DictWriter(f, self.columns)
            out.writeheader()
            out.writerows(rows)


class SampleGrid(keras.callbacks.Callback):
    """Every `every` steps, saves `samples/step_NNNNNN.png`: the generator's
    images for one fixed noise batch, so successive grids show progress."""

    def __init__(self, samples_dir, noise, every=500, writer=None):
        super().__init__()
        self.samples_dir, self.noise = samples_dir, noise
        self.every, self.writer = every, writer

    def on_train_begin(self, logs=None):
        os.makedirs(self.samples_dir, exist_ok=True)
        self.save(int(self.model.step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        if step % self.every == 0:
            self.save(step)

    def on_train_end(self, logs=None):
        self.save(int(self.model.step))

    def path(self, step):
        return os.path.join(self.samples_dir, f'step_{step:06d}.png')

    def save(self, step):
        images = self.model.generator(self.noise, training=False).numpy()
        artifacts.save_grid(images, self.path(step))
        if self.writer:
            with self.writer.as_default(step=step):
                tf.summary.image('samples', artifacts.image_grid(images)[None], step)

    def frames(self):
        """Paths of all saved grids, oldest first."""
        names = sorted(n for n in os.listdir(self.samples_dir) if n.startswith('step_'))
        return [os.path.join(self.samples_dir, n) for n in names]


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first step whose metrics are not finite (NaN or Inf).

    `diverged_at` then holds that step and `diverged_metrics` the culprits;
    `CheckpointSaver` and the export check it, so nothing non-finite is saved.
    """

    def __init__(self):
        super().__init__()
        self.diverged_at, self.diverged_metrics = None, []

    def on_train_batch_end(self, batch, logs=None):
        bad = [k for k in METRICS if not math.isfinite(float(logs[k]))]
        if bad:
            self.diverged_at, self.diverged_metrics = int(self.model.step), bad
            self.model.stop_training = True


def all_finite(gan):
    """Whether every float weight of `gan` and of both its optimizers is finite.

    The optimizers count: Adam's squared-gradient slots overflow to Inf while
    the weights they update are still finite.
    """
    variables = [*gan.weights, *gan.d_optimizer.variables, *gan.g_optimizer.variables]
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables
               if 'float' in str(v.dtype))  # not the seed generators' int states


class CheckpointSaver(keras.callbacks.Callback):
    """Saves `manager`'s checkpoint every `every` steps and when training ends,
    never one with a non-finite weight (or after `guard` saw non-finite metrics).
    """

    def __init__(self, manager, every=1000, guard=None):
        super().__init__()
        self.manager, self.every, self.guard = manager, every, guard

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        if step % self.every == 0:
            self.save(step)

    def on_train_end(self, logs=None):
        step = int(self.model.step)
        latest = self.manager.latest_checkpoint  # ".../ckpt-<step>"
        if latest is None or int(latest.rsplit('-', 1)[1]) != step:
            self.save(step)

    def save(self, step):
        healthy = not (self.guard and self.guard.diverged_at) and all_finite(self.model)
        if healthy:
            self.manager.save(checkpoint_number=step)
