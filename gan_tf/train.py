"""Trains a GAN from a `Config` and leaves every artifact in its run directory."""
import math
import os
import shutil
import sys

import keras
import tensorflow as tf

from gan_tf import artifacts, callbacks, export, input_pipeline, models
from gan_tf.errors import UserError
from gan_tf.gan import GAN
from gan_tf.optimizers import FusedAdam

NUM_SAMPLES = 64  # images in each sample grid


def build_gan(config, image_shape):
    """A compiled `GAN` for `config` and images of `image_shape`."""
    generator, discriminator = models.build(
        config.arch, image_shape, config.g_widths, config.d_widths)
    gan = GAN(generator, discriminator, latent_dim=config.latent_dim,
              noise=config.noise, d_steps=config.d_steps, seed=config.seed)
    gan.compile(
        d_optimizer=FusedAdam(config.lr_d, beta_1=config.beta1),
        g_optimizer=FusedAdam(config.lr_g, beta_1=config.beta1),
        loss=config.loss)
    return gan


def prepare_run_dir(config):
    """Creates (or, for --resume, finds) the run directory; never loses a run."""
    run_dir = os.path.join(config.out_dir, config.run_dir_name)
    exists = os.path.isdir(run_dir) and os.listdir(run_dir)
    if config.resume:
        if not exists:
            raise UserError(f'--resume: no run at {run_dir}; start it without '
                            '--resume, or pass the --run_name of an earlier run')
    elif exists:
        if not config.overwrite:
            raise UserError(f'run directory {run_dir} already exists: pass --resume '
                            'to continue it, --overwrite to replace it, or choose '
                            'another --run_name')
        shutil.rmtree(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = os.path.join(run_dir, '.writable')
        open(probe, 'w').close()
        os.remove(probe)
    except OSError as e:
        raise UserError(f'cannot write to {run_dir} ({e.strerror}); choose another '
                        '--out_dir') from None
    return run_dir


def train_and_evaluate(config):
    """Trains as `config` says; returns the run directory."""
    config.validate()
    run_dir = prepare_run_dir(config)
    keras.utils.set_random_seed(config.seed)
    data = input_pipeline.load(config.dataset, config.data_dir, config.manual_dir,
                               download=config.download)
    images_per_step = config.batch_size * config.d_steps
    if images_per_step > data.num_examples:
        raise UserError(f'--batch_size={config.batch_size} with --d_steps='
                        f'{config.d_steps} needs {images_per_step} images a step; '
                        f'{config.dataset} has {data.num_examples}: lower --batch_size')

    gan = build_gan(config, data.image_shape)
    fixed_noise = tf.Variable(gan.sample_noise(NUM_SAMPLES), trainable=False)
    checkpoint = tf.train.Checkpoint(
        generator=gan.generator, discriminator=gan.discriminator,
        g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
        noise_state=gan.seed_generator.state, fixed_noise=fixed_noise)
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(run_dir, 'checkpoints'), max_to_keep=3)
    if config.resume:
        if not manager.latest_checkpoint:
            raise UserError(f'--resume: no checkpoint in {manager.directory}; '
                            'start the run afresh with --overwrite')
        try:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise UserError(f'--resume: checkpoint {manager.latest_checkpoint} does '
                            f'not fit this configuration ({str(e).splitlines()[0]}); '
                            'resume with the flags the run was started with') from None
    start_step = int(gan.step)
    artifacts.write_config(os.path.join(run_dir, 'config.json'), config,
                           data_source=data.source, data_detail=data.detail,
                           num_examples=data.num_examples,
                           image_shape=data.image_shape, started_at_step=start_step)

    batches = input_pipeline.train_batches(data, images_per_step, config.seed)
    artifacts.save_grid(next(iter(batches))[:NUM_SAMPLES],
                        os.path.join(run_dir, 'real.png'))
    steps_per_epoch = data.num_examples // images_per_step
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)

    writer = tf.summary.create_file_writer(os.path.join(run_dir, 'tensorboard'))
    samples = callbacks.SampleGrid(os.path.join(run_dir, 'samples'), fixed_noise,
                                   config.sample_every, writer)
    stop = callbacks.StopAt(total_steps, config.max_seconds)
    guard = callbacks.NonFiniteGuard()
    if start_step < total_steps:
        gan.fit(batches, epochs=math.ceil(total_steps / steps_per_epoch),
                initial_epoch=start_step // steps_per_epoch, shuffle=False,
                steps_per_epoch=steps_per_epoch,
                verbose=1 if sys.stdout.isatty() else 2,
                callbacks=[
                    guard,  # first: a non-finite step stops all that follows
                    stop,
                    callbacks.MetricsLogger(os.path.join(run_dir, 'metrics.csv'),
                                            config.log_every, writer,
                                            images_per_step),
                    samples,
                    callbacks.CheckpointSaver(manager, config.checkpoint_every, guard),
                ])
    writer.close()
    if guard.diverged_at is not None:
        raise UserError(
            f'training diverged at step {guard.diverged_at} '
            f'({", ".join(guard.diverged_metrics)} not finite); last good checkpoint: '
            f'{manager.latest_checkpoint or "none"}; no export written. Start afresh '
            'with lower --lr_d and --lr_g (and --overwrite, or another --run_name)')

    metrics_csv = os.path.join(run_dir, 'metrics.csv')
    if os.path.exists(metrics_csv):
        artifacts.plot_curves(metrics_csv, os.path.join(run_dir, 'curves.png'))
    if os.path.isdir(samples.samples_dir):
        artifacts.save_gif(samples.frames(), os.path.join(run_dir, 'progress.gif'))
    if config.export:
        with open(os.path.join(run_dir, 'config.json')) as f:
            run_config = f.read()
        # The run's own export follows the run, --resume included.
        export.export_generator(gan.generator, config.latent_dim, config.noise,
                                os.path.join(run_dir, 'export'),
                                assets={'config.json': run_config})
    print(f'{config.run_dir_name}: step {int(gan.step)} of {total_steps}'
          f'{" (stopped by --max_seconds)" if stop.stopped_by == "max_seconds" else ""}'
          f'; results in {run_dir}', flush=True)
    return run_dir
