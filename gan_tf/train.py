"""Trains a GAN from a `Config` and leaves every artifact in its run directory."""
import glob
import math
import os
import shutil
import sys
import tempfile
import warnings

import keras
import tensorflow as tf

from gan_tf import (artifacts, callbacks, distribute, evaluate, export, health,
                    input_pipeline, losses, models, report)
from gan_tf.errors import UserError, first_line
from gan_tf.gan import GAN, OPTIONS
from gan_tf.optimizers import FusedAdam

NUM_SAMPLES = 64  # images in each sample grid


def cpu_has_bfloat16_units(cpuinfo='/proc/cpuinfo'):
    """Whether this CPU multiplies bfloat16 in hardware (x86 AMX or AVX512-BF16,
    Arm BF16), read from Linux's `cpuinfo`; None where that cannot be read."""
    try:
        with open(cpuinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    features = {word for line in lines if line.startswith(('flags', 'Features'))
                for word in line.partition(':')[2].split()}
    return bool(features & {'amx_bf16', 'avx512_bf16', 'bf16'})


def dtype_policy(mixed_precision, gpu=None):
    """The Keras dtype policy of the players: float32, or with mixed precision
    mixed_float16 on GPU (whose tensor cores want it) and mixed_bfloat16 on CPU
    (float32's exponent range, so no loss scaling; 4x float32's matmul rate on
    an AMX CPU). `gpu`: None to look for one."""
    if not mixed_precision:
        return 'float32'
    if gpu is None:
        gpu = bool(tf.config.list_physical_devices('GPU'))
    if not gpu and cpu_has_bfloat16_units() is False:
        # Measured on a 2-core AVX2 EPYC: the MLP step 76 ms in bfloat16, 68 in float32.
        warnings.warn('--mixed_precision: this CPU has no bfloat16 units (AMX, '
                      'AVX512-BF16), so bfloat16 is emulated and slower than float32 '
                      'here; `python -m gan_tf.bench --mixed_precision` measures it')
    return 'mixed_float16' if gpu else 'mixed_bfloat16'


def build_gan(config, image_shape, num_classes=0, policy=None):
    """A compiled `GAN` for `config` and images of `image_shape`, in
    `num_classes` classes (the dataset's; used with --conditional). `policy`: the
    players' dtype policy (None: `dtype_policy(config.mixed_precision)`)."""
    if config.conditional and not num_classes:
        raise UserError(f'--conditional: {config.dataset} has no class labels; train '
                        'without --conditional, or choose a labelled dataset')
    policy = policy or dtype_policy(config.mixed_precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # what the players' layers are built with
    try:  # shapes an architecture cannot make, losses it cannot serve
        generator, discriminator = models.build(
            config.arch, image_shape, config.g_widths, config.d_widths,
            spectral_norm=config.spectral_norm,
            num_classes=num_classes if config.conditional else 0,
            auxiliary_classifier=losses.get(config.loss).conditional)
        # Every loss option and stabiliser is a Config field of the same name.
        gan = GAN(generator, discriminator, latent_dim=config.latent_dim,
                  noise=config.noise, d_steps=config.d_steps, seed=config.seed,
                  **{name: getattr(config, name) for name in OPTIONS})
        optimizers = [FusedAdam(lr, beta_1=config.beta1)
                      for lr in (config.lr_d, config.lr_g)]
        if policy == 'mixed_float16':  # float16 gradients underflow unscaled
            optimizers = [keras.optimizers.LossScaleOptimizer(o) for o in optimizers]
        gan.compile(d_optimizer=optimizers[0], g_optimizer=optimizers[1],
                    loss=config.loss, jit_compile=config.jit_compile)
    except ValueError as e:
        raise UserError(str(e)) from None
    finally:
        keras.config.set_dtype_policy(previous)
    return gan


def make_checkpoint(gan, **extra):
    """A run's `tf.train.Checkpoint`: every weight of both players (and of the
    generator's moving average), both optimizers, the seed generators' states,
    and `extra`.

    Weights are listed one by one: tf.train.Checkpoint does not walk the Python
    lists in which Keras models keep their layers (batch-norm statistics would be
    lost), nor find the seed generators (noise, dropout) a resumed run must
    continue, so that it draws the same numbers.
    """
    parts = dict(generator_weights=gan.generator.weights,
                 discriminator_weights=gan.discriminator.weights,
                 g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                 rng_states=[v for v in gan.variables
                             if 'seed_generator_state' in v.path])
    if gan.ema_generator is not None:
        parts['ema_generator_weights'] = gan.ema_generator.weights
    return tf.train.Checkpoint(**parts, **extra)


def restore_generator(gan, prefix):
    """Loads the generator weights (and their moving average) of checkpoint
    `prefix` into `gan`; returns the generator to sample from."""
    parts = {'generator_weights': gan.generator.weights}
    if gan.ema_generator is not None:
        parts['ema_generator_weights'] = gan.ema_generator.weights
    status = tf.train.Checkpoint(**parts).restore(prefix).expect_partial()
    status.assert_existing_objects_matched()
    return gan.sampling_generator


def check_run_dir(config):
    """The run directory `config` names, once it is clear that starting (or
    resuming) there can go ahead without losing anything; UserError otherwise."""
    run_dir = os.path.join(config.out_dir, config.run_dir_name)
    exists = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
    if config.resume:
        if not exists:
            raise UserError(f'--resume: no run at {run_dir}; start it without '
                            '--resume, or pass the --run_name of an earlier run')
        if not tf.train.get_checkpoint_state(os.path.join(run_dir, 'checkpoints')):
            raise UserError(f'--resume: no checkpoint in {run_dir}/checkpoints; '
                            'start the run afresh with --overwrite')
        recorded = artifacts.read_config(os.path.join(run_dir, 'config.json'))
        if 'config' not in recorded:
            warnings.warn(f'{run_dir}/config.json is missing or unreadable: cannot '
                          "check that the flags match the run's")
        changed = config.differences(recorded.get('config', {}))
        if 'config' in recorded and changed and not config.allow_config_change:
            raise UserError(f"--resume: flags differ from the run's: "
                            f'{"; ".join(changed)}. Resume with the flags it was '
                            'started with, or pass --allow_config_change')
    elif exists and not config.overwrite:
        raise UserError(f'run directory {run_dir} already exists: pass --resume '
                        'to continue it, --overwrite to replace it, or choose '
                        'another --run_name')
    probe_dir = run_dir if exists else config.out_dir
    try:
        os.makedirs(probe_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as e:
        raise UserError(f'cannot write to {probe_dir} ({e.strerror}); choose another '
                        '--out_dir') from None
    return run_dir


def restore_latest(checkpoint, manager, tidy=True):
    """Restores the newest of `manager`'s checkpoints that reads back whole; warns
    about each newer one that does not (cut short, corrupted). Returns its path.
    `tidy`: first delete what a killed save left there (the chief's job)."""
    if tidy:
        _remove_partial_saves(manager.directory)
    for path in reversed(manager.checkpoints):
        try:
            status = checkpoint.restore(path)
        except Exception as e:  # tf.errors, IndexError, ...: any damage to the files
            warnings.warn(f'checkpoint {path} is unreadable ({first_line(e)}); '
                          'trying the one before it')
            continue
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            raise UserError(f'--resume: checkpoint {path} does not fit this '
                            f'configuration ({first_line(e)}); resume with the '
                            'flags the run was started with') from None
        return path
    raise UserError(f'--resume: no readable checkpoint in {manager.directory}; '
                    'start the run afresh with --overwrite')


def _remove_partial_saves(directory):
    """Deletes what a save killed midway left: TF writes to `<prefix>_temp` first."""
    callbacks.remove_files(glob.glob(os.path.join(glob.escape(directory), '*_temp')))


def make_evaluator(config):
    """The `evaluate.Evaluator` scoring samples during training, or None (no
    labels to train its classifier on, or --eval_every=0)."""
    if not config.eval_every:
        return None
    try:
        return evaluate.Evaluator(config.dataset, config.data_dir, config.manual_dir)
    except UserError as e:
        print(f'evaluation: skipped ({e})', file=sys.stderr)
        return None


def health_classifier(config, evaluator=None):
    """Class probabilities of images for the health monitor, or None (no labels,
    or --nohealth_classes)."""
    if not config.health_classes:
        return None
    if evaluator is not None:
        return health.classify_with(evaluator.classifier)
    try:
        classifier, _ = evaluate.load_classifier(config.dataset, config.data_dir,
                                                 config.manual_dir)
    except UserError as e:
        print(f'health monitor: not counting classes ({e})', file=sys.stderr)
        return None
    return health.classify_with(classifier)


def write_plots(run_dir, samples):
    """curves.png from metrics.csv and progress.gif from the sample grids."""
    metrics_csv = os.path.join(run_dir, 'metrics.csv')
    if os.path.exists(metrics_csv):
        artifacts.plot_curves(metrics_csv, os.path.join(run_dir, 'curves.png'))
    if os.path.isdir(samples.samples_dir):
        artifacts.save_gif(samples.frames(), os.path.join(run_dir, 'progress.gif'))


def train_and_evaluate(config):
    """Trains as `config` says, under its `--strategy`; returns the run directory.

    Under MultiWorkerMirroredStrategy every worker runs this; only the chief
    writes to the run directory (`distribute.is_chief`).
    """
    config.validate()
    strategy = distribute.make_strategy(config.strategy)  # before any other TF op
    try:
        return _train(config, strategy)
    except tf.errors.OpError as e:
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        reason = distribute.lost_worker(e) if multi_worker else None
        if reason is None:
            raise
        raise UserError(reason) from None


def _train(config, strategy):
    chief = distribute.is_chief(strategy)
    run_dir = (check_run_dir(config) if chief else
               os.path.join(config.out_dir, config.run_dir_name))
    keras.utils.set_random_seed(config.seed)
    data = input_pipeline.load(config.dataset, config.data_dir, config.manual_dir,
                               download=config.download)
    images_per_step = config.batch_size * config.discriminator_steps
    if images_per_step > data.num_examples:
        raise UserError(f'--batch_size={config.batch_size} with --d_steps='
                        f'{config.discriminator_steps} needs {images_per_step} images a step; '
                        f'{config.dataset} has {data.num_examples}: lower --batch_size')
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UserError(f'--batch_size={config.batch_size} does not split evenly '
                        f'between the {replicas} replicas of --strategy='
                        f'{config.strategy}: use a multiple of {replicas}')

    with strategy.scope():  # weights, optimizer slots, seed states: on every replica
        gan = build_gan(config, data.image_shape, data.num_classes)
        # Conditional grids: one row per class, one fixed z per column.
        fixed_noise = tf.Variable(gan.sample_noise(
            callbacks.CLASS_GRID_COLUMNS if gan.num_classes else NUM_SAMPLES),
            trainable=False)
        checkpoint = make_checkpoint(gan, fixed_noise=fixed_noise)
    if chief:
        # Only now, with the data and the model in hand, is an old run replaced.
        if not config.resume and os.path.isdir(run_dir):
            shutil.rmtree(run_dir)
        os.makedirs(run_dir, exist_ok=True)
    checkpoint_dir = os.path.join(run_dir, 'checkpoints')
    # Every worker takes part in a save (TensorFlow's multi-worker pattern); all
    # but the chief write theirs to a temporary folder, deleted at the end.
    scratch = None if chief else tempfile.TemporaryDirectory(prefix='gan_tf_worker_')
    manager = tf.train.CheckpointManager(
        checkpoint, scratch.name if scratch else checkpoint_dir, max_to_keep=3)
    if config.resume:  # every worker, from the chief's checkpoints
        restore_latest(checkpoint, manager if chief else tf.train.CheckpointManager(
            checkpoint, checkpoint_dir, max_to_keep=3), tidy=chief)
    start_step = int(gan.step)
    batches = distribute.distribute_input(
        input_pipeline.train_batches(data, images_per_step, config.seed, start_step,
                                     labels=config.conditional),
        strategy, config.discriminator_steps)
    if chief:
        artifacts.write_config(os.path.join(run_dir, 'config.json'), config,
                               data_source=data.source, data_detail=data.detail,
                               num_examples=data.num_examples,
                               num_classes=data.num_classes,
                               image_shape=data.image_shape, started_at_step=start_step)
        real = input_pipeline.to_unit_range(next(iter(data.images.batch(NUM_SAMPLES))))
        artifacts.save_grid(real, os.path.join(run_dir, 'real.png'))
    steps_per_epoch = data.num_examples // images_per_step
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)

    stop = callbacks.StopAt(total_steps, config.max_seconds)
    guard = callbacks.NonFiniteGuard()
    saver = callbacks.CheckpointSaver(manager, config.checkpoint_every, guard)
    writer = (tf.summary.create_file_writer(os.path.join(run_dir, 'tensorboard'))
              if chief else tf.summary.create_noop_writer())
    watchers = []  # what writes to the run directory: the chief's alone
    if chief:
        samples = callbacks.SampleGrid(os.path.join(run_dir, 'samples'), fixed_noise,
                                       config.sample_every, writer)
        evaluator = make_evaluator(config)
        evaluation = [callbacks.PeriodicEvaluation(
            evaluator, config.eval_every, config.eval_samples,
            os.path.join(run_dir, 'evaluation.csv'), writer, seed=config.seed)
        ] if evaluator else []
        monitor = health.HealthMonitor(run_dir, writer,
                                       health_classifier(config, evaluator),
                                       real.numpy(), config.health_every,
                                       config.stop_on_collapse, config.seed)
        watchers = [callbacks.MetricsLogger(os.path.join(run_dir, 'metrics.csv'),
                                            config.log_every, writer, images_per_step),
                    samples,
                    *evaluation,  # before the monitor: it reads the same step's row
                    monitor]
    if start_step < total_steps:
        try:
            gan.fit(batches, epochs=math.ceil(total_steps / steps_per_epoch),
                    initial_epoch=start_step // steps_per_epoch, shuffle=False,
                    steps_per_epoch=steps_per_epoch,
                    verbose=1 if sys.stdout.isatty() else 2,
                    callbacks=[
                        guard,  # first: a non-finite step stops all that follows
                        stop,
                        *watchers,
                        saver,
                    ])
        except OSError as e:  # a full disk, a folder gone: the checkpoints stay good
            saver.failure = f'could not write to {run_dir} ({e.strerror or e})'
    writer.close()
    if scratch:
        scratch.cleanup()
    if saver.failure:
        raise UserError(f'{saver.failure}; last good checkpoint: '
                        f'{manager.latest_checkpoint or "none"}. Free some space '
                        'and continue with --resume')
    if not chief:
        if guard.diverged_at is not None:
            raise UserError(f'training diverged at step {guard.diverged_at}; the '
                            'chief says more')
        print(f'{config.run_dir_name}: step {int(gan.step)} of {total_steps} '
              f'done; the chief writes the results to {run_dir}', flush=True)
        return run_dir
    write_plots(run_dir, samples)
    if guard.diverged_at is not None:
        report.write_report(run_dir)
        raise UserError(
            f'training diverged at step {guard.diverged_at} '
            f'({", ".join(guard.diverged_metrics)} not finite); last good checkpoint: '
            f'{manager.latest_checkpoint or "none"}; no export written. Start afresh '
            'with lower --lr_d and --lr_g (and --overwrite, or another --run_name)')

    if config.export:
        with open(os.path.join(run_dir, 'config.json')) as f:
            run_config = f.read()
        # The run's own export follows the run, --resume included.
        export.export_generator(gan.sampling_generator, config.latent_dim, config.noise,
                                os.path.join(run_dir, 'export'),
                                assets={'config.json': run_config},
                                num_classes=gan.num_classes)
    report.write_report(run_dir)
    stopped = (' (stopped by --max_seconds)' if stop.stopped_by == 'max_seconds' else
               f' (stopped by --stop_on_collapse: {monitor.stop_reason})'
               if monitor.stop_reason else '')
    print(f'{config.run_dir_name}: step {int(gan.step)} of {total_steps}{stopped}'
          f'; results in {run_dir}; open {os.path.join(run_dir, "report.html")}',
          flush=True)
    return run_dir
