"""Every training option, its default and its help text, in one place.

`gan_tf.main` turns each field into an absl flag of the same name; library users
build a `Config` directly, e.g. `Config(arch='maxout', max_steps=1000)`.
"""
import dataclasses
import json
from typing import Optional

from gan_tf import distribute, gan, losses, models
from gan_tf.errors import UserError


def option(default, help, choices=None, lower_bound=None, setting=False):
    """A config field with the metadata its command-line flag needs.

    `choices`: the valid values, or a function returning them, for registries that
    can grow after import (`models.register`).
    `setting`: True for how a process runs (where data and results live, how long,
    how often to log), False for what is trained. Only settings may change when a
    run is resumed (unless --allow_config_change).
    """
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, lower_bound=lower_bound, setting=setting))


def choices(field):
    """The valid values of `field`, or None where any value goes."""
    options = field.metadata['choices']
    return tuple(options()) if callable(options) else options


@dataclasses.dataclass(frozen=True)
class Config:
    # What to train.
    arch: str = option('mlp', 'Generator/discriminator architecture.',
                       choices=lambda: sorted(models.ARCHITECTURES))
    loss: str = option('non_saturating', 'GAN loss.',
                       choices=lambda: sorted(losses.LOSSES))
    g_widths: tuple = option((), "Generator layer widths, e.g. 256,512,1024 "
                             "(empty: the architecture's default).")
    d_widths: tuple = option((), "Discriminator layer widths (empty: the "
                             "architecture's default).")
    latent_dim: int = option(100, 'Size of the noise vector z.', lower_bound=1)
    noise: str = option('normal', 'Distribution of z: standard normal, or '
                        'uniform in [-1, 1].', choices=gan.NOISE_KINDS)
    spectral_norm: bool = option(False, 'Spectrally normalise the discriminator '
                                 "(Miyato et al. 2018); sagan's always is.")
    conditional: bool = option(False, 'Class-conditional: G gets a label embedding, '
                               'D is a projection discriminator (an auxiliary '
                               'classifier with --loss=acgan); labelled datasets only.')

    # Loss options and stabilisers.
    clip: Optional[float] = option(None, "Clip D's weights to [-clip, clip] after "
                                   'each D update (none: the loss\'s, 0.01 for '
                                   'wasserstein; 0: off).', lower_bound=0)
    gp_weight: float = option(10.0, 'Gradient penalty weight lambda of '
                              '--loss=wgan_gp.', lower_bound=0)
    margin: float = option(1.0, 'Margin m of --loss=energy: D pushes the energy '
                           '-log D(G(z)) of samples up to m.', lower_bound=0)
    pt_weight: float = option(0.0, 'Weight of the pulling-away term of '
                              '--loss=energy, on generated images (0: off).',
                              lower_bound=0)
    aux_weight: float = option(1.0, 'Weight of the class cross-entropy of '
                               '--loss=acgan, in both players\' losses.', lower_bound=0)
    label_smoothing: float = option(0.0, 'One-sided label smoothing: real targets '
                                    'become 1 - this, e.g. 0.1 (cross-entropy '
                                    'losses only; 0: off).', lower_bound=0)
    r1_weight: float = option(0.0, "R1 penalty gamma: D's loss adds gamma/2 "
                              "E|grad D(x)|^2 on real images (0: off).",
                              lower_bound=0)
    dragan_weight: float = option(0.0, 'DRAGAN penalty weight, e.g. 10 (0: off).',
                                  lower_bound=0)
    instance_noise: float = option(0.0, 'Std of Gaussian noise added to every '
                                   'image D sees, annealed linearly to 0 over '
                                   '--instance_noise_steps (0: off).', lower_bound=0)
    instance_noise_steps: int = option(10000, 'Steps over which instance noise '
                                       'anneals to 0.', lower_bound=1)
    diffaugment: str = option('', 'DiffAugment transformations applied to real '
                              'and fake images before D, comma-separated from '
                              'color, translation, cutout (empty: off).')
    ema_decay: Optional[float] = option(None, 'Keep an exponential moving average '
                                        'of the generator weights with this decay '
                                        '(e.g. 0.999) for samples and export '
                                        '(none: off).', lower_bound=0)

    # Data.
    dataset: str = option('mnist', 'Any tensorflow-datasets image dataset '
                          '(mnist, fashion_mnist, cifar10, ...).')
    data_dir: str = option('', 'tensorflow-datasets data directory (empty: '
                           "tfds's default, ~/tensorflow_datasets).", setting=True)
    manual_dir: str = option('', "Folder holding the dataset's original files "
                             "(e.g. MNIST's four IDX .gz files), used offline "
                             '(empty: <data_dir>/downloads/manual).',
                             setting=True)
    download: bool = option(True, 'Let tensorflow-datasets download the data '
                            'when it is neither prepared nor in --manual_dir.',
                            setting=True)

    # How long and how fast.
    epochs: int = option(20, 'Passes over the training split.', lower_bound=1,
                         setting=True)
    max_steps: Optional[int] = option(None, 'Stop after this many steps '
                                      '(generator updates) in all.',
                                      lower_bound=1, setting=True)
    max_seconds: Optional[float] = option(None, 'Stop cleanly, with checkpoint, '
                                          'samples and export, after this much '
                                          'training time in this process.',
                                          lower_bound=0, setting=True)
    batch_size: int = option(64, 'Images per discriminator step: the global batch, '
                             'split evenly between the replicas of --strategy.',
                             lower_bound=1)
    d_steps: Optional[int] = option(None, 'Discriminator updates per generator '
                                    "update, each on its own batch (none: the "
                                    "loss's own: 5 for wasserstein and wgan_gp, "
                                    'else 1).', lower_bound=1)
    lr_g: float = option(2e-4, 'Generator Adam learning rate.', lower_bound=0)
    lr_d: float = option(2e-4, 'Discriminator Adam learning rate.', lower_bound=0)
    beta1: float = option(0.5, 'Adam beta_1 for both players.', lower_bound=0)
    seed: int = option(0, 'Random seed: weights, noise, data order.')
    strategy: str = option('auto', 'tf.distribute strategy: default (one device), '
                           'mirrored (every GPU of this machine, else every logical '
                           'CPU device), multi_worker (several machines, from '
                           'TF_CONFIG; see BUILD.md) or auto (mirrored when more '
                           'than one GPU is visible, else default).',
                           choices=distribute.STRATEGIES, setting=True)

    # How the step computes.
    mixed_precision: bool = option(False, 'Compute in 16-bit floats, weights kept '
                                   'in float32: bfloat16 on CPU (fast on CPUs '
                                   'with AMX or AVX512-BF16), float16 with loss '
                                   'scaling on GPU.')
    jit_compile: bool = option(False, 'Compile the training step with XLA '
                               '(measured slower on CPU; try it on GPU).',
                               setting=True)

    # Where results go.
    out_dir: str = option('out', 'Parent folder of run directories.', setting=True)
    run_name: str = option('', 'Run directory name under --out_dir (empty: '
                           '<dataset>-<arch>-<loss>).', setting=True)
    resume: bool = option(False, "Continue the run in the run directory from "
                          "its last complete checkpoint.", setting=True)
    allow_config_change: bool = option(False, 'Let --resume continue with '
                                       'training options that differ from the '
                                       "run's (e.g. a lower learning rate).",
                                       setting=True)
    overwrite: bool = option(False, 'Replace an existing run directory of the '
                             'same name, once the new run has started.',
                             setting=True)
    export: bool = option(True, 'Write the generator as a SavedModel to '
                          '<run>/export at the end.', setting=True)
    log_every: int = option(50, 'Steps between rows of metrics.csv and '
                            'TensorBoard scalars.', lower_bound=1, setting=True)
    sample_every: int = option(500, 'Steps between sample grids.', lower_bound=1,
                               setting=True)
    checkpoint_every: int = option(1000, 'Steps between checkpoints.',
                                   lower_bound=1, setting=True)
    eval_every: int = option(5000, 'Steps between scorings of --eval_samples '
                             'generated images by gan_tf.evaluate (FID, KID, '
                             'precision/recall, density/coverage, classes) into '
                             '<run>/evaluation.csv and TensorBoard eval/; 0: never. '
                             'Labelled datasets only.', lower_bound=0, setting=True)
    eval_samples: int = option(2000, 'Generated images per such scoring.',
                               lower_bound=6, setting=True)
    health_every: int = option(500, "Steps between the health monitor's looks at "
                               'samples (classes covered, diversity).',
                               lower_bound=1, setting=True)
    health_classes: bool = option(True, 'Let the health monitor count the classes '
                                  "of samples with gan_tf.evaluate's classifier "
                                  '(trained once per dataset, then cached).',
                                  setting=True)
    stop_on_collapse: bool = option(False, 'Stop training, cleanly, when the health '
                                    'monitor sees mode collapse.', setting=True)

    @property
    def discriminator_steps(self):
        """--d_steps, or the loss's own number when it is not given."""
        return self.d_steps or losses.get(self.loss).default_d_steps

    @classmethod
    def from_record(cls, options):
        """The Config of `options`, a run's config.json "config" dict: lists back
        to tuples; options this version does not know are ignored."""
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in options.items() if k in known})

    @property
    def run_dir_name(self):
        return self.run_name or f'{self.dataset}-{self.arch}-{self.loss}'

    def differences(self, recorded):
        """`--name=value (run: value)` for each training option (not a setting)
        that differs from `recorded`, a dict of an earlier run's options."""
        found = []
        for field in dataclasses.fields(self):
            if field.metadata['setting']:
                continue
            # Through JSON, as config.json stores them: tuples become lists.
            value = json.loads(json.dumps(getattr(self, field.name)))
            before = recorded.get(field.name, json.loads(json.dumps(field.default)))
            if value != before:
                found.append(f'--{field.name}={_flag_text(value)} (run: '
                             f'{_flag_text(before)})')
        return found

    def validate(self):
        """Raises UserError naming the first field whose value is out of range."""
        for field in dataclasses.fields(self):
            value, valid = getattr(self, field.name), choices(field)
            if valid and value not in valid:
                raise UserError(f'--{field.name}={value}: choose one of '
                                f'{", ".join(valid)}')
            bound = field.metadata['lower_bound']
            if bound is not None and value is not None and value < bound:
                raise UserError(f'--{field.name}={value}: must be at least {bound}')
        if losses.get(self.loss).conditional and not self.conditional:
            raise UserError(f'--loss={self.loss} needs class labels: add --conditional')
        if self.strategy == 'multi_worker':
            # Each worker would decide alone, and stop at its own step.
            for name in ('max_seconds', 'stop_on_collapse'):
                if getattr(self, name):
                    raise UserError(f'--{name} cannot stop every worker at the same '
                                    'step under --strategy=multi_worker: use '
                                    '--max_steps instead')
        try:  # ranges and combinations of the loss options
            gan.check_options(self.loss, self.d_steps,
                              **{name: getattr(self, name) for name in gan.OPTIONS})
        except ValueError as e:
            raise UserError(f'--{e}') from None
        return self


def _flag_text(value):
    return ','.join(map(str, value)) if isinstance(value, list) else str(value)
