"""A run directory: where it may be, its config.json, the GAN built from it, its
checkpoints and the generator restored from them.

    out/<run_name>/config.json     every option, the data used, library versions
    out/<run_name>/checkpoints/    the last 3 checkpoints (`make_checkpoint`)

A run directory is one folder strictly inside --out_dir: a new one, or an earlier
gan_tf run (recognised by its config.json). Nothing else is ever resumed,
replaced or deleted. Checkpoints written by earlier versions of gan_tf are
restored here too (`restore_generator`).
"""
import glob
import os
import shutil
import tempfile
import warnings

import keras
import tensorflow as tf

from gan_tf import artifacts, models, registry
from gan_tf.config import Config
from gan_tf.errors import UserError, first_line
from gan_tf.gan import GAN
from gan_tf.optimizers import FusedAdam

RECORD = 'config.json'
CHECKPOINTS = 'checkpoints'


# ----------------------------------------------------------------- the directory

def is_run(path):
    """Whether `path` is a gan_tf run directory: a folder holding config.json."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, RECORD))


def read_record(run_dir):
    """The run's config.json as a dict ({} when missing or unreadable)."""
    return artifacts.read_record(os.path.join(run_dir, RECORD))


def check_run_dir(config):
    """The run directory `config` names, once it is clear that starting (or
    resuming) there can go ahead without losing anything; UserError otherwise.

    It must lie strictly inside --out_dir (no symbolic link leading out), and,
    if it exists and holds anything, be a gan_tf run: resumed with --resume,
    replaced with --overwrite (later, by `replace_run`), else left alone.
    """
    run_dir = os.path.join(config.out_dir, config.run_dir_name)
    inside = os.path.realpath(config.out_dir)
    if os.path.dirname(os.path.realpath(run_dir)) != inside:
        raise UserError(f'run directory {run_dir} leads to {os.path.realpath(run_dir)}, '
                        f'outside --out_dir={config.out_dir}: choose another --run_name')
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f'{run_dir} is a file, not a run directory: choose another '
                        '--run_name')
    exists = os.path.isdir(run_dir) and bool(os.listdir(run_dir))
    if exists and not is_run(run_dir):
        raise UserError(f'{run_dir} holds files but no {RECORD}: it is not a gan_tf run, '
                        'and is left alone; choose another --run_name or --out_dir')
    if config.resume:
        if not exists:
            raise UserError(f'--resume: no run at {run_dir}; start it without '
                            '--resume, or pass the --run_name of an earlier run')
        if not checkpoint_paths(os.path.join(run_dir, CHECKPOINTS)):
            raise UserError(f'--resume: no checkpoint in {run_dir}/{CHECKPOINTS}; '
                            'start the run afresh with --overwrite')
        recorded = read_record(run_dir)
        if 'config' not in recorded:
            warnings.warn(f'{run_dir}/{RECORD} is unreadable: cannot check that the '
                          "flags match the run's")
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


def replace_run(run_dir):
    """Deletes the earlier run in `run_dir` (--overwrite), only if it is one, and
    says what went; returns that line, or None when there was nothing."""
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        return None
    if not is_run(run_dir):  # checked at the start too; the folder may have changed
        raise UserError(f'{run_dir} is no longer a gan_tf run (no {RECORD}): it is '
                        'left alone; choose another --run_name')
    files = [os.path.join(folder, name) for folder, _, names in os.walk(run_dir)
             for name in names]
    size = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
    shutil.rmtree(run_dir)
    return (f'--overwrite: deleted the earlier run in {run_dir} ({len(files)} files, '
            f'{size / 1e6:.1f} MB)')


# ----------------------------------------------------------------- the GAN

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
    (float32's exponent range, so no loss scaling). `gpu`: None to look for one."""
    if not mixed_precision:
        return 'float32'
    if gpu is None:
        gpu = bool(tf.config.list_physical_devices('GPU'))
    if not gpu and cpu_has_bfloat16_units() is False:
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
            auxiliary_classifier=registry.loss(config.loss).conditional)
        gan = GAN(generator, discriminator, latent_dim=config.latent_dim,
                  noise=config.noise, d_steps=config.d_steps, seed=config.seed,
                  **config.gan_options)
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


# ----------------------------------------------------------------- checkpoints

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


def generator_checkpoint(gan):
    """The part of a run's checkpoint that holds the generator to sample from."""
    parts = {'generator_weights': gan.generator.weights}
    if gan.ema_generator is not None:
        parts['ema_generator_weights'] = gan.ema_generator.weights
    return tf.train.Checkpoint(**parts)


def checkpoint_paths(directory):
    """The complete checkpoints in `directory`, oldest first (TF's state file
    lists a checkpoint only once all its files are written)."""
    state = tf.train.get_checkpoint_state(directory) if os.path.isdir(directory) else None
    return list(state.all_model_checkpoint_paths) if state else []


def remove_partial_saves(directory):
    """Deletes what a save killed midway left: TF writes to `<prefix>_temp` first."""
    artifacts.remove_files(glob.glob(os.path.join(glob.escape(directory), '*_temp')))


def restore_latest(checkpoint, paths, partial=False):
    """Restores into `checkpoint` the newest of `paths` (checkpoint prefixes,
    oldest first) that reads back whole, warning about each newer one that does
    not (cut short, corrupted); returns its path. `partial`: `checkpoint` holds
    only some of what was saved (the generator). The one restoring path of
    --resume, the export tool and the evaluation of checkpoints."""
    for path in reversed(paths):
        try:
            status = checkpoint.restore(path)
        except Exception as e:  # tf.errors, IndexError, ...: any damage to the files
            warnings.warn(f'checkpoint {path} is unreadable ({first_line(e)}); '
                          'trying the one before it')
            continue
        if partial:
            status.expect_partial()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            raise UserError(f'checkpoint {path} does not fit this configuration '
                            f'({first_line(e)}): use the flags the run was started '
                            'with') from None
        return path
    raise UserError(f'no readable checkpoint among {", ".join(paths) or "none"}')


def restore_generator(gan, paths):
    """Restores the generator (and its moving average) of the newest readable of
    checkpoint `paths` into `gan`; returns that path. Checkpoints from before
    gan_tf listed weights one by one (they reach the generator only through its
    optimizer) are read too."""
    newest = paths[-1] if paths else None
    if newest and not any(name.startswith('generator_weights/')
                          for name, _ in _variables(newest)):
        return restore_latest(tf.train.Checkpoint(generator=gan.generator,
                                                  g_optimizer=gan.g_optimizer),
                              paths, partial=True)
    return restore_latest(generator_checkpoint(gan), paths, partial=True)


def _variables(prefix):
    try:
        return tf.train.list_variables(prefix)
    except Exception:  # damaged: restore_latest says so and moves on
        return [('generator_weights/', None)]


def load_generator(path):
    """(gan with the generator's weights restored, the run's record, checkpoint
    prefix) for `path`: a run directory (its newest readable checkpoint), its
    checkpoints/ folder, or one checkpoint prefix such as
    out/RUN/checkpoints/ckpt-1000. The GAN is rebuilt from the run's config.json;
    only the generator's weights are restored."""
    path = os.path.normpath(path)
    if os.path.isdir(path):
        run_dir = path
        if not is_run(path) and is_run(os.path.dirname(path)):  # .../checkpoints
            run_dir = os.path.dirname(path)
        paths = checkpoint_paths(os.path.join(run_dir, CHECKPOINTS))
        if not paths:
            raise UserError(f'{path}: no checkpoint in {os.path.join(run_dir, CHECKPOINTS)}')
    elif os.path.exists(f'{path}.index'):
        run_dir, paths = os.path.dirname(os.path.dirname(path)), [path]
    else:
        raise UserError(f'{path}: neither a run directory nor a checkpoint (pass '
                        'out/RUN or out/RUN/checkpoints/ckpt-N)')
    record = read_record(run_dir)
    if 'config' not in record:
        raise UserError(f'{path}: no readable {RECORD} in the run directory {run_dir}')
    config = Config.from_record(record['config'])
    try:
        gan = build_gan(config, tuple(record['image_shape']),
                        record.get('num_classes', 0))
    except (UserError, TypeError) as e:  # e.g. an architecture no longer registered
        raise UserError(f'cannot rebuild the generator of {run_dir}: {e}') from None
    prefix = restore_generator(gan, paths)
    return gan, record, prefix
