"""Keras callbacks that watch and record a `GAN` while `fit` trains it.

Each does one thing and works with any `GAN.fit` call, not only `gan_tf.main`.
"""
import dataclasses
import glob
import json
import math
import os
import re
import sys
import time
from collections import deque

import keras
import numpy as np
import tensorflow as tf

from gan_tf import artifacts, health, latent, quality
from gan_tf.errors import first_line
from gan_tf.gan import METRICS

# Columns of a conditional GAN's sample grid: one fixed z each, one row per class.
CLASS_GRID_COLUMNS = 8


class StopAt(keras.callbacks.Callback):
    """Stops training at step `max_steps`, after `max_seconds` of training, or
    after the step during which `request` was called (a signal handler's way
    to stop cleanly); aborts it at once after `abort`."""

    def __init__(self, max_steps=None, max_seconds=None):
        super().__init__()
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.requested = None
        self.stopped_by = None  # 'max_steps', 'max_seconds' or the request once stopped
        self.aborted = False

    def request(self, reason):
        """Stop at the end of the current step; `reason` becomes `stopped_by`."""
        self.requested = self.requested or reason

    def abort(self):
        """Abort training now: raises KeyboardInterrupt, and again at the end of
        the step and of training, should the first be lost (one raised while
        Python runs a finaliser is only printed)."""
        self.aborted = True
        raise KeyboardInterrupt

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.aborted:
            raise KeyboardInterrupt
        if self.requested:
            self.stopped_by = self.requested
        elif self.max_steps is not None and int(self.model.step) >= self.max_steps:
            self.stopped_by = 'max_steps'
        elif (self.max_seconds is not None and
              time.monotonic() - self.started >= self.max_seconds):
            self.stopped_by = 'max_seconds'
        if self.stopped_by:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.aborted:  # before the callbacks after this one save anything
            raise KeyboardInterrupt


class ProgressBar(keras.callbacks.Callback):
    """The step, the total, the time left and the latest losses: one line
    rewritten in place on a terminal, a plain line every `every` steps
    elsewhere (a CI log, a file). With `max_seconds` (as `StopAt` has it), the
    bar and the time left follow whichever limit comes first."""

    KEYS = (('d_loss', 'd_loss'), ('g_loss', 'g_loss'), ('D_x', 'D(x)'),
            ('D_G_z', 'D(G(z))'))

    def __init__(self, total_steps, every=50, stream=None, max_seconds=None):
        super().__init__()
        self.total_steps, self.every, self.max_seconds = total_steps, every, max_seconds
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty()

    def on_train_begin(self, logs=None):
        self.first_step, self.started = int(self.model.step), time.monotonic()
        self.shown = 0.0

    def on_train_batch_end(self, batch, logs=None):
        step, now = int(self.model.step), time.monotonic()
        if self.terminal and now - self.shown < 0.2 and step < self.total_steps:
            return  # redraw at most 5 times a second
        if not self.terminal and step % self.every and step < self.total_steps:
            return
        self.shown = now
        line = self.line(step, now - self.started, logs or {})
        if self.terminal:
            self.stream.write('\r' + line.ljust(getattr(self, 'width', 0)))
            self.width = len(line)
        else:
            self.stream.write(line + '\n')
        self.stream.flush()

    def on_train_end(self, logs=None):
        if self.terminal and getattr(self, 'width', 0):
            self.stream.write('\n')
            self.stream.flush()

    def line(self, step, seconds, logs):
        done = step - self.first_step
        rate = done / seconds if seconds > 0 else 0.0
        left = (self.total_steps - step) / rate if rate else float('nan')
        share = step / self.total_steps if self.total_steps else 1.0
        if self.max_seconds:
            by_time = max(self.max_seconds - seconds, 0.0)
            left = min(left, by_time) if math.isfinite(left) else by_time
            share = max(share, min(seconds / self.max_seconds, 1.0))
        bar = ('=' * int(20 * share)).ljust(20)
        losses = ' '.join(f'{label} {float(logs[key]):.3f}' for key, label in self.KEYS
                          if key in logs)
        return (f'step {step:,}/{self.total_steps:,} [{bar}] {share:4.0%} '
                f'{rate:.1f} steps/s, {_clock(left)} left  {losses}')


def _clock(seconds):
    """'1:02:03' or '2:03' for a duration; '?' before it can be estimated."""
    if not math.isfinite(seconds):
        return '?'
    minutes, s = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{s:02d}' if hours else f'{minutes}:{s:02d}'


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
        self.columns = artifacts.truncate_csv(
            self.csv_path, ['step', 'seconds', 'images_per_second', *METRICS],
            int(self.model.step))
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
        artifacts.append_csv(self.csv_path, self.columns, row)
        if self.writer:
            with self.writer.as_default(step=step):
                for key in (*METRICS, 'images_per_second'):
                    tf.summary.scalar(key, row[key])
        self.sums, self.count = dict.fromkeys(METRICS, 0.0), 0
        self.window_started = now



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
                artifacts.remove_files(glob.glob(glob.escape(prefix) + '[._]*'))


def _reason(error):
    """'File too large' out of TF's '{{function_node ...}} /path; File too large [Op:SaveV2]'."""
    return re.sub(r'\s*\[Op:\w+\]$', '', first_line(error).rsplit('; ', 1)[-1])


class PeriodicEvaluation(keras.callbacks.Callback):
    """Every `every` steps and when training ends, scores `num_samples` generated
    images with `evaluator` (a `gan_tf.judge.Evaluator`, which holds the judging
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
    images are not finite (a diverged run) is not scored. `on_best(step, result)`
    is called for each scoring with a lower FID than every earlier one (rows of
    earlier processes of the run included): `best` holds that (step, FID).
    The columns are those of COLUMNS the evaluator gives (`evaluator.metrics`:
    no class columns without labels). `copies_path`: where the last scoring's
    most-copied samples go, above their nearest training images (`copies.png`).
    """

    COLUMNS = ('step', 'fid', 'kid', 'precision', 'recall', 'density', 'coverage',
               'memorised', 'classes_covered', 'class_kl', 'classifier_score', 'confident')
    # The distribution metrics again in InceptionV3's features, where the
    # evaluator has its weights (`judge.add_inception`).
    INCEPTION_COLUMNS = tuple(f'inception_{key}' for key in COLUMNS[1:7])

    def __init__(self, evaluator, every, num_samples, csv_path, writer=None, seed=0,
                 kid_subsets=20, on_best=None, copies_path=None):
        super().__init__()
        self.evaluator, self.every, self.num_samples = evaluator, every, num_samples
        self.csv_path, self.writer, self.seed = csv_path, writer, seed
        self.kid_subsets, self.on_best = kid_subsets, on_best
        self.copies_path, self.last_images = copies_path, None
        self.history, self.last_step, self.best = [], None, None
        self.columns = ('step', *[c for c in self.COLUMNS[1:] + self.INCEPTION_COLUMNS
                                  if c in evaluator.metrics])

    def on_train_begin(self, logs=None):
        self.noise = latent.noise_from_seed(self.model.noise, self.num_samples,
                                            self.model.latent_dim, self.seed).numpy()
        # A run resumed with other columns (Inception weights found or gone)
        # keeps the earlier ones too.
        self.columns = artifacts.truncate_csv(self.csv_path, self.columns,
                                              int(self.model.step))
        earlier = artifacts.read_metrics(self.csv_path) if os.path.exists(
            self.csv_path) else {}
        if len(earlier.get('fid', ())):
            i = int(np.argmin(earlier['fid']))
            self.best = (int(earlier['step'][i]), float(earlier['fid'][i]))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        if step % self.every == 0:
            self.evaluate(step)

    def on_train_end(self, logs=None):
        step = int(self.model.step)
        if step != self.last_step:
            self.evaluate(step)
        if self.copies_path and self.last_images is not None:
            self.evaluator.save_copies(self.last_images, self.copies_path)

    def evaluate(self, step):
        self.last_step = step
        started = time.monotonic()
        generator = self.model.sampling_generator  # what the export will hold
        images = latent.generate(lambda z: generator(z, training=False), self.noise)
        if not np.isfinite(images).all():
            return
        self.last_images = images
        result = self.evaluator.score(images, kid_subsets=self.kid_subsets)
        row = {'step': step, **{k: result[k] for k in self.columns[1:] if k in result}}
        artifacts.append_csv(self.csv_path, self.columns, row)
        if self.writer:
            with self.writer.as_default(step=step):
                for key in row.keys() - {'step'}:
                    tf.summary.scalar(f'eval/{key}', row[key])
        self.history.append({**row, **{key: result[key] for key in ('kid_std',
                                                                    'class_shares')
                                       if key in result},
                             'seconds': round(time.monotonic() - started, 3)})
        if 'fid' not in result:  # too few real images: no best to keep
            return
        if self.best is None or result['fid'] < self.best[1]:
            self.best = (step, result['fid'])
            if self.on_best:
                self.on_best(step, result)


class HealthMonitor(keras.callbacks.Callback):
    """Watches a `GAN` during `fit` and reports `Finding`s.

    run_dir: where `health.jsonl` goes (None: nowhere). writer: a `tf.summary`
    writer for text markers and probe scalars. judge: what probes the samples'
    classes, realism and copying (a `gan_tf.judge.Evaluator`: its
    `class_probabilities`, `realistic_share` and `memorised_share` of images in
    [-1, 1]; classes only where it has `num_classes`, and only once
    `realistic_share` can tell); None: diversity only. real_images: a batch of real images, the
    yardstick of sample diversity. probe_every: steps between probes
    of modes and diversity. stop_on_collapse: stop training (`stop_reason` says
    why) on mode collapse or near-identical samples. stream: where warnings go.
    """

    def __init__(self, run_dir=None, writer=None, judge=None, real_images=None,
                 probe_every=500, stop_on_collapse=False, seed=0, stream=None):
        super().__init__()
        self.path = os.path.join(run_dir, 'health.jsonl') if run_dir else None
        self.writer, self.judge = writer, judge
        self.real_images, self.probe_every = real_images, probe_every
        self.stop_on_collapse, self.seed = stop_on_collapse, seed
        self.stream = stream
        self.findings, self.probes, self.stop_reason = [], [], None
        self.history = {k: deque(maxlen=health.OSCILLATION_BLOCK * health.OSCILLATION_BLOCKS)
                        for k in METRICS}
        self.active = {}  # kind -> step it last held
        self.state = {k: {} for k in health.STEP_DETECTORS}
        self.streak = dict.fromkeys(health.PROBE_DETECTORS, 0)

    def on_train_begin(self, logs=None):
        step = int(self.model.step)
        if self.path:
            self._truncate_after(step)
        self.reference = (health.mean_pairwise_distance(self.real_images)
                          if self.real_images is not None else None)
        self.noise = latent.noise_from_seed(self.model.noise, health.PROBE_SAMPLES,
                                            self.model.latent_dim, self.seed)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        bad = []
        for key in METRICS:
            if key in logs:
                value = float(logs[key])
                self.history[key].append(value)
                if not math.isfinite(value):
                    bad.append(key)
        self._judge(step, 'non_finite',
                    f'non-finite: {", ".join(bad)} became NaN or Inf' if bad else None,
                    clear_after=health.WINDOW)
        for kind, detector in health.STEP_DETECTORS.items():
            self._judge(step, kind, detector(self.history, self.state[kind]),
                        clear_after=health.WINDOW)
        if step % self.probe_every == 0 and (self.judge or self.reference):
            self.probe(step)

    def probe(self, step):
        """Measures classes covered, realism, copying and diversity of samples
        from fixed noise."""
        samples = np.asarray(self.model.generator(self.noise, training=False))
        probe = {'step': step}
        if self.reference:
            probe['diversity'] = health.diversity(samples, self.reference)
        if self.judge:
            probe['memorised'] = self.judge.memorised_share(samples)
            realistic = self.judge.realistic_share(samples)
            if realistic is not None:  # None: too few real images to tell
                probe['realistic'] = realistic
            if self.judge.num_classes and realistic is not None:
                probabilities = self.judge.class_probabilities(samples)
                statistics = quality.class_statistics(probabilities)
                probe.update(classes=probabilities.shape[1], **{
                    key: statistics[key] for key in ('classes_covered', 'confident',
                                                     'class_shares')})
        self.probes.append(probe)
        self._scalars(step, probe)
        held = {}  # collapse kinds seen on COLLAPSE_PROBES probes in a row
        for kind, detector in health.PROBE_DETECTORS.items():
            message = detector(probe)
            self.streak[kind] = self.streak[kind] + 1 if message else 0
            if self.streak[kind] >= health.COLLAPSE_PROBES:
                held[kind] = message
            self._judge(step, kind, held.get(kind),
                        clear_after=health.COLLAPSE_PROBES * self.probe_every)
        if self.stop_on_collapse and held and not self.stop_reason:
            kind, self.stop_reason = next(iter(held.items()))
            self.model.stop_training = True
            self._record(health.Finding(step, kind, self.stop_reason, event='stopped'))

    def _judge(self, step, kind, message, clear_after):
        """Fires `kind` when `message` starts; clears it `clear_after` steps after
        it last held."""
        if message:
            if kind not in self.active:
                self._record(health.Finding(step, kind, message,
                                            health.suggest(kind, self._settings())))
            self.active[kind] = step
        elif kind in self.active and step - self.active[kind] >= clear_after:
            del self.active[kind]
            self._record(health.Finding(step, kind,
                                        f'{health.NAMES[kind]}: no longer seen',
                                        event='cleared'))

    def _settings(self):
        """What the health monitor's remedies may change, as the model has it."""
        def rate(optimizer):
            return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        model = self.model
        return health.Settings(getattr(getattr(model, 'gan_loss', None), 'name', None),
                               rate(model.d_optimizer), rate(model.g_optimizer),
                               getattr(model, 'd_steps', 1), getattr(model, 'options', {}))

    def _record(self, finding):
        self.findings.append(finding)
        print(finding.line(), file=self.stream or sys.stderr, flush=True)
        if self.path:
            with open(self.path, 'a') as f:
                f.write(json.dumps(dataclasses.asdict(finding)) + '\n')
        if self.writer:
            with self.writer.as_default(step=finding.step):
                tf.summary.text('health', f'**{finding.event}** {finding.line()}',
                                step=finding.step)

    def _scalars(self, step, probe):
        if not self.writer:
            return
        with self.writer.as_default(step=step):
            for key in ('diversity', 'classes_covered', 'realistic', 'memorised'):
                if key in probe:
                    tf.summary.scalar(f'health/{key}', probe[key], step=step)

    def _truncate_after(self, step):
        """Starts health.jsonl, keeping (on resume) findings up to `step`."""
        kept = [line for line in health.read_findings_lines(self.path)
                if json.loads(line)['step'] <= step]
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, 'w') as f:
            f.writelines(kept)
