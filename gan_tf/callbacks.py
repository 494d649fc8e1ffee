"""Keras callbacks that watch and record a `GAN` while `fit` trains it.

Each does one thing and works with any `GAN.fit` call, not only `gan_tf.main`.
"""
import csv
import glob
import math
import os
import re
import shutil
import time

import keras
import tensorflow as tf

from gan_tf import artifacts
from gan_tf.errors import first_line
from gan_tf.gan import METRICS

# Columns of a conditional GAN's sample grid: one fixed z each, one row per class.
CLASS_GRID_COLUMNS = 8


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
        truncate_csv(self.csv_path, self.columns, int(self.model.step))
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
        append_csv(self.csv_path, self.columns, row)
        if self.writer:
            with self.writer.as_default(step=step):
                for key in (*METRICS, 'images_per_second'):
                    tf.summary.scalar(key, row[key])
        self.sums, self.count = dict.fromkeys(METRICS, 0.0), 0
        self.window_started = now



def append_csv(path, columns, row):
    """Appends `row` to CSV file `path`, writing the header first if it is new."""
    new_file = not os.path.exists(path)
    with open(path, 'a', newline='') as f:
        out = csv.DictWriter(f, columns)
        if new_file:
            out.writeheader()
        out.writerow(row)


def truncate_csv(path, columns, step):
    """Drops the rows of CSV file `path` past `step`: left by a run killed after
    its last checkpoint, they would repeat once it resumes from there."""
    if not os.path.exists(path):
        return
    with open(path, newline='') as f:
        rows = [r for r in csv.DictReader(f) if int(r['step']) <= step]
    with open(path, 'w', newline='') as f:
        out = csv.DictWriter(f, columns)
        out.writeheader()
        out.writerows(rows)


class SampleGrid(keras.callbacks.Callback):
    """Every `every` steps, saves `samples/step_NNNNNN.png`: the generator's
    images for one fixed noise batch, so successive grids show progress.

    A conditional GAN's grid has one row per class (labels 0, 1, ... down the
    rows) and one column per noise vector: each column varies only the class.
    """

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
        noise, labels, columns = self.noise, None, None
        if self.model.num_classes:
            columns = self.noise.shape[0]
            noise = tf.tile(self.noise, [self.model.num_classes, 1])
            labels = tf.repeat(tf.range(self.model.num_classes), columns)
        images = self.model(noise, labels, training=False).numpy()
        artifacts.save_grid(images, self.path(step), columns)
        if self.writer:
            with self.writer.as_default(step=step):
                tf.summary.image('samples', artifacts.image_grid(images, columns)[None],
                                 step)

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

    A save that fails (a full disk) stops training and sets `failure`; the
    earlier checkpoints are untouched, since TF writes each one to temporary
    files and renames them only once complete, and the half-written files are
    deleted to give the space back.
    """

    def __init__(self, manager, every=1000, guard=None):
        super().__init__()
        self.manager, self.every, self.guard = manager, every, guard
        self.failure = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        if step % self.every == 0:
            self.save(step)

    def on_train_end(self, logs=None):
        step = int(self.model.step)
        latest = self.manager.latest_checkpoint  # ".../ckpt-<step>"
        if not self.failure and (latest is None or
                                 int(latest.rsplit('-', 1)[1]) != step):
            self.save(step)

    def save(self, step):
        healthy = not (self.guard and self.guard.diverged_at) and all_finite(self.model)
        if not healthy:
            return
        try:
            self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            self.failure = f'could not write the checkpoint of step {step} ({_reason(e)})'
            self.model.stop_training = True
            prefix = os.path.join(self.manager.directory, f'ckpt-{step}')
            if prefix not in self.manager.checkpoints:  # never a complete one
                remove_files(glob.glob(glob.escape(prefix) + '[._]*'))


def remove_files(paths):
    """Deletes each of `paths`, file or folder, as far as it can."""
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def _reason(error):
    """'File too large' out of TF's '{{function_node ...}} /path; File too large [Op:SaveV2]'."""
    return re.sub(r'\s*\[Op:\w+\]$', '', first_line(error).rsplit('; ', 1)[-1])


class PeriodicEvaluation(keras.callbacks.Callback):
    """Every `every` steps and when training ends, scores `num_samples` generated
    images with `evaluator` (a `gan_tf.evaluate.Evaluator`, which holds the judging
    classifier and the real features): appends a row to `csv_path`, writes
    TensorBoard scalars under `eval/` (when `writer` is given) and appends the
    full result, `class_shares` included, to `history`: this process's rows.

    It judges `sampling_generator` (the generator's moving average when the GAN
    keeps one), as the export holds it. The noise is its own, drawn once from
    `seed` as the export's `generate` signature draws it: each row judges the
    same z, and the GAN's seed generator, hence training, is untouched.
    `kid_subsets`: fewer than the command line's
    100 keep an evaluation quick; KID stays unbiased, only `kid_std` is rougher.
    Rows of a resumed run past its checkpoint are dropped; a generator whose
    images are not finite (a diverged run) is not scored.
    """

    COLUMNS = ('step', 'fid', 'kid', 'precision', 'recall', 'density', 'coverage',
               'classes_covered', 'class_kl', 'classifier_score', 'confident')

    def __init__(self, evaluator, every, num_samples, csv_path, writer=None, seed=0,
                 kid_subsets=20):
        super().__init__()
        self.evaluator, self.every, self.num_samples = evaluator, every, num_samples
        self.csv_path, self.writer, self.seed = csv_path, writer, seed
        self.kid_subsets = kid_subsets
        self.history, self.last_step = [], None

    def on_train_begin(self, logs=None):
        from gan_tf.export import noise_from_seed  # export imports nothing of ours
        self.noise = noise_from_seed(self.model.noise, self.num_samples,
                                     self.model.latent_dim, self.seed)
        truncate_csv(self.csv_path, self.COLUMNS, int(self.model.step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        if step % self.every == 0:
            self.evaluate(step)

    def on_train_end(self, logs=None):
        step = int(self.model.step)
        if step != self.last_step:
            self.evaluate(step)

    def evaluate(self, step):
        self.last_step = step
        started = time.monotonic()
        generator = self.model.sampling_generator  # what the export will hold
        images = tf.concat([generator(self.noise[i:i + 500], training=False)
                            for i in range(0, self.num_samples, 500)], 0)
        if not bool(tf.reduce_all(tf.math.is_finite(images))):
            return
        result = self.evaluator.score(images.numpy(), kid_subsets=self.kid_subsets)
        row = {'step': step, **{k: result[k] for k in self.COLUMNS[1:]}}
        append_csv(self.csv_path, self.COLUMNS, row)
        if self.writer:
            with self.writer.as_default(step=step):
                for key in self.COLUMNS[1:]:
                    tf.summary.scalar(f'eval/{key}', row[key])
        self.history.append({**row, 'kid_std': result['kid_std'],
                             'class_shares': result['class_shares'],
                             'seconds': round(time.monotonic() - started, 3)})

