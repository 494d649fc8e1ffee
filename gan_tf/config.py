"""Every training option, its default and its help text, in one place.

`gan_tf.main` turns each field into an absl flag of the same name; library users
build a `Config` directly, e.g. `Config(arch='maxout', max_steps=1000)`.
"""
import dataclasses
from typing import Optional

from gan_tf import gan, losses, models
from gan_tf.errors import UserError


def option(default, help, choices=None, lower_bound=None):
    """A config field with the metadata its command-line flag needs.

    `choices`: the valid values, or a function returning them, for registries that
    can grow after import (`models.register`).
    """
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, lower_bound=lower_bound))


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

    # Data.
    dataset: str = option('mnist', 'Any tensorflow-datasets image dataset '
                          '(mnist, fashion_mnist, cifar10, ...).')
    data_dir: str = option('', 'tensorflow-datasets data directory (empty: '
                           "tfds's default, ~/tensorflow_datasets).")
    manual_dir: str = option('', "Folder holding the dataset's original files "
                             "(e.g. MNIST's four IDX .gz files), used offline "
                             '(empty: <data_dir>/downloads/manual).')
    download: bool = option(True, 'Let tensorflow-datasets download the data '
                            'when it is neither prepared nor in --manual_dir.')

    # How long and how fast.
    epochs: int = option(20, 'Passes over the training split.', lower_bound=1)
    max_steps: Optional[int] = option(None, 'Stop after this many steps '
                                      '(generator updates) in all.',
                                      lower_bound=1)
    max_seconds: Optional[float] = option(None, 'Stop cleanly, with checkpoint, '
                                          'samples and export, after this much '
                                          'training time in this process.',
                                          lower_bound=0)
    batch_size: int = option(64, 'Images per discriminator step.', lower_bound=1)
    d_steps: int = option(1, 'Discriminator updates per generator update, '
                          'each on its own batch.', lower_bound=1)
    lr_g: float = option(2e-4, 'Generator Adam learning rate.', lower_bound=0)
    lr_d: float = option(2e-4, 'Discriminator Adam learning rate.', lower_bound=0)
    beta1: float = option(0.5, 'Adam beta_1 for both players.', lower_bound=0)
    seed: int = option(0, 'Random seed: weights, noise, data order.')

    # Where results go.
    out_dir: str = option('out', 'Parent folder of run directories.')
    run_name: str = option('', 'Run directory name under --out_dir (empty: '
                           '<dataset>-<arch>-<loss>).')
    resume: bool = option(False, "Continue the run in the run directory from "
                          "its last checkpoint.")
    overwrite: bool = option(False, 'Delete an existing run directory of the '
                             'same name and start afresh.')
    export: bool = option(True, 'Write the generator as a SavedModel to '
                          '<run>/export at the end.')
    log_every: int = option(50, 'Steps between rows of metrics.csv and '
                            'TensorBoard scalars.', lower_bound=1)
    sample_every: int = option(500, 'Steps between sample grids.', lower_bound=1)
    checkpoint_every: int = option(1000, 'Steps between checkpoints.',
                                   lower_bound=1)

    @property
    def run_dir_name(self):
        return self.run_name or f'{self.dataset}-{self.arch}-{self.loss}'

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
        return self
