"""Every training option: its default, its valid values and its help, in one place.

The command line turns each field into a flag of the same name (`gan_tf.cli`);
library users build a `Config` directly, e.g. `Config(arch='maxout',
max_steps=1000)`. An option not given takes its architecture's default where the
architecture has one (`registry.ARCHITECTURES`: the best settings measured for
it), else the field's own. Either way, `Config(...)` checks every value as it is made: its
type, its range (NaN and infinity are never valid), the names of registered
choices and the rules between options, raising a one-line `UserError` that names
the flag. `GAN` checks its keyword options with the same rules
(`check_gan_options`). Imports nothing heavy: the command line checks its flags
before TensorFlow starts.
"""
import dataclasses
import json
import math
import numbers
import os
import typing
from typing import Optional, Tuple

from PIL import ImageColor  # light (no TensorFlow): colour names for --background

from gan_tf import registry
from gan_tf.errors import UserError


class _Unset:
    """The value of an option the user did not give, until `Config` replaces it
    with the architecture's default or the option's own."""

    def __repr__(self):
        return 'unset'


UNSET = _Unset()


def option(default, help, choices=None, minimum=None, below=None, check=None,
           setting=False, gan_option=False):
    """A Config field with what its flag and its checks need; `default` is its
    value unless the user or the architecture gives another.

    `choices`: the valid values, or a function returning them (registries can
    grow after import: `models.register`). `minimum`: the least valid value
    (each element's, for widths); `below`: a bound the value must stay under;
    `check`: a function raising ValueError for an invalid value.
    `setting`: True for how a process runs (where data and results live, how
    long, how often to log), False for what is trained; only settings may change
    when a run is resumed (unless --allow_config_change). `gan_option`: a `GAN`
    keyword of the same name (a loss option or a stabiliser).
    """
    return dataclasses.field(default=UNSET, metadata=dict(
        default=default, help=help, choices=choices, minimum=minimum, below=below,
        check=check, setting=setting, gan_option=gan_option))


IMAGE_SIZES = (32, 64, 128)
CROPS = ('centre', 'pad', 'stretch')


def parse_colour(colour):
    """(r, g, b) of a colour name or #rrggbb; ValueError for anything else."""
    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        raise ValueError('not a colour: use a name (white, black, grey) or '
                         '#rrggbb') from None


@dataclasses.dataclass(frozen=True)
class Config:
    # What to train.
    arch: str = option('mlp', 'Generator/discriminator architecture.',
                       choices=lambda: sorted(registry.ARCHITECTURES))
    loss: str = option('non_saturating', 'GAN loss.',
                       choices=lambda: sorted(registry.LOSSES))
    g_widths: tuple = option((), "Generator layer widths, e.g. 256,512,1024 "
                             "(empty: the architecture's default).", minimum=1)
    d_widths: tuple = option((), "Discriminator layer widths (empty: the "
                             "architecture's default).", minimum=1)
    latent_dim: int = option(100, 'Size of the noise vector z.', minimum=1)
    noise: str = option('normal', 'Distribution of z: standard normal, or '
                        'uniform in [-1, 1].', choices=registry.NOISE_KINDS)
    spectral_norm: bool = option(False, 'Spectrally normalise the discriminator '
                                 "(Miyato et al. 2018); sagan's always is.")
    conditional: bool = option(False, 'Class-conditional: G gets a label embedding, '
                               'D is a projection discriminator (an auxiliary '
                               'classifier with --loss=acgan); labelled datasets only.')

    # Loss options and stabilisers: GAN keywords of the same name.
    clip: Optional[float] = option(None, "Clip D's weights to [-clip, clip] after "
                                   "each D update (none: the loss's, 0.01 for "
                                   'wasserstein; 0: off).', minimum=0, gan_option=True)
    gp_weight: float = option(10.0, 'Gradient penalty weight lambda of '
                              '--loss=wgan_gp.', minimum=0, gan_option=True)
    margin: float = option(1.0, 'Margin m of --loss=energy: D pushes the energy '
                           '-log D(G(z)) of samples up to m.', minimum=0,
                           gan_option=True)
    pt_weight: float = option(0.0, 'Weight of the pulling-away term of '
                              '--loss=energy, on generated images (0: off).',
                              minimum=0, gan_option=True)
    aux_weight: float = option(1.0, "Weight of the class cross-entropy of "
                               "--loss=acgan, in both players' losses.", minimum=0,
                               gan_option=True)
    label_smoothing: float = option(0.0, 'One-sided label smoothing: real targets '
                                    'become 1 - this, e.g. 0.1 (cross-entropy '
                                    'losses only; 0: off).', minimum=0, below=1,
                                    gan_option=True)
    r1_weight: float = option(0.0, "R1 penalty gamma: D's loss adds gamma/2 "
                              "E|grad D(x)|^2 on real images (0: off).", minimum=0,
                              gan_option=True)
    dragan_weight: float = option(0.0, 'DRAGAN penalty weight, e.g. 10 (0: off).',
                                  minimum=0, gan_option=True)
    instance_noise: float = option(0.0, 'Std of Gaussian noise added to every '
                                   'image D sees, annealed linearly to 0 over '
                                   '--instance_noise_steps (0: off).', minimum=0,
                                   gan_option=True)
    instance_noise_steps: int = option(10000, 'Steps over which instance noise '
                                       'anneals to 0.', minimum=1, gan_option=True)
    diffaugment: str = option('', 'DiffAugment transformations applied to real '
                              'and fake images before D, comma-separated from '
                              f'{", ".join(registry.AUGMENTATIONS)} (empty: off).',
                              check=registry.augmentations, gan_option=True)
    ema_decay: Optional[float] = option(0.999, 'Sample and export an exponential '
                                        "moving average of the generator's weights "
                                        'with this decay, ramped up over the first '
                                        'steps (none: the last weights).', minimum=0,
                                        below=1, gan_option=True)

    # Data.
    dataset: str = option('mnist', 'A folder of images (searched recursively; '
                          'its top-level subfolders are the classes when there are '
                          'two or more), or a tensorflow-datasets image dataset '
                          '(mnist, fashion_mnist, cifar10, ...; tfds:NAME where a '
                          'folder has the same name).')
    image_size: Optional[int] = option(None, 'Train on square images of this side '
                                       '(none: a folder\'s from its median image, a '
                                       "tfds dataset's own size).",
                                       choices=IMAGE_SIZES)
    crop: str = option('centre', 'How a non-square image becomes square: centre '
                       '(crop its middle), pad (whole image, padded with '
                       '--background) or stretch.', choices=CROPS)
    channels: Optional[int] = option(None, 'Colour channels to train on: 1 (grey) or '
                                     '3 (colour); none: 1 when every image is grey, '
                                     'else 3. --keep_alpha adds one.', choices=(1, 3))
    background: str = option('white', 'Colour on which transparent images are '
                             'composited, and --crop=pad pads: a name or #rrggbb.',
                             check=lambda colour: parse_colour(colour))
    keep_alpha: bool = option(False, 'Keep transparency as a channel (RGBA, or grey '
                              'and alpha) instead of compositing on --background.')
    flip: bool = option(False, 'Mirror each real image left-right at random: twice '
                        'the images, for pictures that have no left and right.')
    data_dir: str = option('', 'tensorflow-datasets data directory, where image '
                           'folders are prepared too, in gan_tf_images/ (empty: '
                           "tfds's default, ~/tensorflow_datasets).", setting=True)
    manual_dir: str = option('', "Folder holding the dataset's original files "
                             "(e.g. MNIST's four IDX .gz files), used offline "
                             '(empty: <data_dir>/downloads/manual).', setting=True)
    download: bool = option(True, 'Let tensorflow-datasets download the data '
                            'when it is neither prepared nor in --manual_dir.',
                            setting=True)

    # How long and how fast.
    max_steps: Optional[int] = option(10_000, 'Steps (generator updates) in all: '
                                      "the run's length, the same whatever the size "
                                      'of the data (none: --epochs).', minimum=1,
                                      setting=True)
    epochs: Optional[int] = option(None, 'Passes over the training split, instead of '
                                   '--max_steps (both: whichever ends first).',
                                   minimum=1, setting=True)
    max_seconds: Optional[float] = option(None, 'Stop cleanly, with checkpoint, '
                                          'samples and export, after this much '
                                          'training time in this process.',
                                          minimum=0, setting=True)
    batch_size: int = option(64, 'Images per discriminator step: the global batch, '
                             'split evenly between the replicas of --strategy.',
                             minimum=1)
    d_steps: Optional[int] = option(None, 'Discriminator updates per generator '
                                    "update, each on its own batch (none: the "
                                    "loss's own: 5 for wasserstein and wgan_gp, "
                                    'else 1).', minimum=1)
    lr_g: float = option(2e-4, 'Generator Adam learning rate.', minimum=0)
    lr_d: float = option(2e-4, 'Discriminator Adam learning rate.', minimum=0)
    beta1: float = option(0.5, 'Adam beta_1 for both players.', minimum=0, below=1)
    seed: int = option(0, 'Random seed: weights, noise, data order.')
    strategy: str = option('auto', 'tf.distribute strategy: default (one device), '
                           'mirrored (every GPU of this machine, else every logical '
                           'CPU device), multi_worker (several machines, from '
                           'TF_CONFIG; see BUILD.md) or auto (mirrored when more '
                           'than one GPU is visible, else default).',
                           choices=registry.STRATEGIES, setting=True)

    # How the step computes.
    mixed_precision: bool = option(False, 'Compute in 16-bit floats, weights kept '
                                   'in float32: bfloat16 on CPU (fast on CPUs '
                                   'with AMX or AVX512-BF16), float16 with loss '
                                   'scaling on GPU.')
    jit_compile: bool = option(False, 'Compile the training step with XLA '
                               '(slower on CPU; try it on GPU).', setting=True)

    # Where results go.
    out_dir: str = option('out', 'Parent folder of run directories.', setting=True)
    run_name: str = option('', 'Run directory name: one folder inside --out_dir '
                           "(empty: <dataset>-<arch>-<loss>, a folder's base name "
                           'for <dataset>).', setting=True)
    resume: bool = option(False, 'Continue the run in the run directory from '
                          'its last complete checkpoint.', setting=True)
    allow_config_change: bool = option(False, 'Let --resume continue with '
                                       'training options that differ from the '
                                       "run's (e.g. a lower learning rate).",
                                       setting=True)
    overwrite: bool = option(False, 'Replace an existing run of the same name (a '
                             'folder holding a gan_tf config.json), once the new '
                             'run has loaded its data and built its models.',
                             setting=True)
    export: bool = option(True, 'Write the generator as a SavedModel to '
                          '<run>/export (and in --export_formats).', setting=True)
    export_best: bool = option(True, "Export the generator of the run's best scoring "
                               '(lowest FID in evaluation.csv) each time one beats '
                               'the ones before, not the last weights; the last '
                               'where no scoring runs (--eval_every=0, no labels).',
                               setting=True)
    export_formats: Tuple[str, ...] = option(
        ('saved_model',), 'Forms of the generator to export, comma-separated: '
        'saved_model (TF Serving, any TensorFlow process; always written, first), '
        'litert (.tflite, float32: phones, LiteRT), litert_fp16 (.tflite with '
        'float16 weights, half the size), onnx (.onnx: onnxruntime, browsers). '
        'The others are converted from the generator into <export>/litert/ and '
        "<export>/onnx/, and need pip install 'gan_tf[litert]' or 'gan_tf[onnx]'.",
        choices=lambda: tuple(registry.EXPORT_FORMATS), setting=True)
    log_every: int = option(50, 'Steps between rows of metrics.csv and '
                            'TensorBoard scalars.', minimum=1, setting=True)
    sample_every: int = option(500, 'Steps between sample grids.', minimum=1,
                               setting=True)
    checkpoint_every: int = option(1000, 'Steps between checkpoints.', minimum=1,
                                   setting=True)
    eval_every: int = option(5000, 'Steps between scorings of --eval_samples '
                             'generated images by gan_tf.evaluate (FID, KID, '
                             'precision/recall, density/coverage, classes) into '
                             '<run>/evaluation.csv and TensorBoard eval/; 0: never. '
                             'Class columns for labelled data only.', minimum=0,
                             setting=True)
    eval_samples: int = option(2000, 'Generated images per such scoring.',
                               minimum=6, setting=True)
    inception_weights: str = option(
        '', 'Keras InceptionV3 no-top weights (.h5): each scoring adds inception_fid, '
        'inception_kid and the rest, in ImageNet features (2,000 samples take a 2-core '
        "CPU about 2 minutes). Default: for a folder's or colour images, Keras' cached "
        'copy, else fetched once into it where the network allows; for grey datasets, '
        'none. none: never.', check=lambda path: weights_file(path), setting=True)
    health_every: int = option(500, "Steps between the health monitor's looks at "
                               'samples (classes covered, diversity).', minimum=1,
                               setting=True)
    health_classes: bool = option(True, 'Let the health monitor count the classes '
                                  "of samples with gan_tf.evaluate's classifier "
                                  '(trained once per dataset, then cached).',
                                  setting=True)
    stop_on_collapse: bool = option(False, 'Stop training, cleanly, when the health '
                                    'monitor sees mode collapse.', setting=True)

    def __post_init__(self):
        given = {name for name in FIELDS if getattr(self, name) is not UNSET}
        arch = self.arch if 'arch' in given else FIELDS['arch'].metadata['default']
        check_field(FIELDS['arch'], arch)
        for name, field in FIELDS.items():
            value = getattr(self, name) if name in given else default(name, arch)
            if name == 'max_steps' and 'epochs' in given and name not in given:
                value = None  # --epochs alone sets the length
            # Normalised: ints in float fields become floats, lists tuples.
            object.__setattr__(self, name, check_field(field, value))
        if self.max_steps is None and self.epochs is None:
            raise UserError('--max_steps=none needs --epochs: give the length of the run')
        if registry.loss(self.loss).conditional and not self.conditional:
            raise UserError(f'--loss={self.loss} needs class labels: add --conditional')
        if self.resume and self.overwrite:
            raise UserError('--resume continues the run and --overwrite replaces '
                            'it: pass one of them')
        if self.run_name in ('.', '..') or os.sep in self.run_name or (
                os.altsep and os.altsep in self.run_name) or '\0' in self.run_name:
            raise UserError(f'--run_name={self.run_name}: must be the name of one '
                            'folder inside --out_dir (no "/", not "." or "..")')
        if self.strategy == 'multi_worker':
            # Each worker would decide alone, and stop at its own step.
            for name in ('max_seconds', 'stop_on_collapse'):
                if getattr(self, name):
                    raise UserError(f'--{name} cannot stop every worker at the same '
                                    'step under --strategy=multi_worker: use '
                                    '--max_steps instead')
        check_gan_options(self.loss, **self.gan_options)
        object.__setattr__(self, 'export_formats',
                           registry.export_formats(self.export_formats))

    @property
    def gan_options(self):
        """{name: value} of the loss options and stabilisers, `GAN`'s keywords."""
        return {name: getattr(self, name) for name in GAN_OPTIONS}

    @property
    def image_options(self):
        """{name: value} of what every image becomes, `data.load`'s keywords."""
        return {name: getattr(self, name) for name in IMAGE_OPTIONS}

    @property
    def discriminator_steps(self):
        """--d_steps, or the loss's own number when it is not given."""
        return registry.loss(self.loss).d_steps(self.d_steps)

    @property
    def run_dir_name(self):
        return self.run_name or (f'{registry.dataset_name(self.dataset)}-'
                                 f'{self.arch}-{self.loss}')

    @classmethod
    def from_record(cls, options):
        """The Config of `options`, a run's config.json "config" dict: lists back
        to tuples; options this version does not know are ignored."""
        return cls(**{k: v for k, v in options.items() if k in FIELDS})

    def differences(self, recorded):
        """`--name=value (run: value)` for each training option (not a setting)
        that differs from `recorded`, a dict of an earlier run's options."""
        found = []
        for field in dataclasses.fields(self):
            if field.metadata['setting']:
                continue
            # Through JSON, as config.json stores them: tuples become lists.
            value = json.loads(json.dumps(getattr(self, field.name)))
            before = recorded.get(field.name, json.loads(json.dumps(
                default(field.name, recorded.get('arch', self.arch)))))
            if value != before:
                found.append(f'--{field.name}={flag_text(value)} (run: '
                             f'{flag_text(before)})')
        return found


FIELDS = {field.name: field for field in dataclasses.fields(Config)}


def default(name, arch):
    """Option `name`'s value when not given: architecture `arch`'s default where
    it has one, else the option's own."""
    entry = registry.ARCHITECTURES.get(arch)
    if entry and name in entry.defaults:
        return entry.defaults[name]
    return FIELDS[name].metadata['default']


IMAGE_OPTIONS = ('image_size', 'crop', 'channels', 'background', 'keep_alpha')
# The loss options and stabilisers, in the order GAN takes them.
GAN_OPTIONS = tuple(name for name, field in FIELDS.items()
                    if field.metadata['gan_option'])


def choices(field):
    """The valid values of `field`, or None where any value of its type goes."""
    options = field.metadata['choices']
    return tuple(options()) if callable(options) else options


def value_type(field):
    """(type, optional): int for `int`, (int, True) for `Optional[int]`, tuple
    for `tuple` (of integers) and `Tuple[str, ...]` (of names)."""
    if typing.get_origin(field.type) is tuple:
        return tuple, False
    args = [t for t in typing.get_args(field.type) if t is not type(None)]
    return (args[0], True) if args else (field.type, False)


def item_type(field):
    """What a tuple field holds: str for `Tuple[str, ...]`, else int."""
    return str if typing.get_args(field.type)[:1] == (str,) else int


_TYPE_NAMES = {int: 'an integer', float: 'a number', bool: 'true or false',
               str: 'a string', tuple: 'comma-separated integers, e.g. 256,512,1024'}


def weights_file(path):
    """ValueError unless `path` is '', 'none' or an existing file."""
    if path not in ('', 'none') and not os.path.isfile(path):
        raise ValueError('no such file; give a Keras InceptionV3 no-top weights '
                         '.h5, or none')


def check_field(field, value):
    """`value` as field `field` keeps it (int -> float for a float field, list ->
    tuple); UserError, one line naming the flag, when it is not a valid value."""
    kind, optional = value_type(field)
    name = field.name
    if value is None and optional:
        return None

    def fail(why):
        raise UserError(f'--{name}={flag_text(value)}: {why}')

    def integer(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if kind is int and integer(value):
        value = int(value)
    elif kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        if not math.isfinite(value):
            fail('must be a finite number')
    elif kind is tuple and item_type(field) is str and isinstance(
            value, (tuple, list)) and all(isinstance(v, str) for v in value):
        value = tuple(v.strip() for v in value if v.strip())
    elif kind is tuple and isinstance(value, (tuple, list)) and all(map(integer, value)):
        value = tuple(int(v) for v in value)
    elif not (kind in (bool, str) and isinstance(value, kind)):
        expected = ('comma-separated names' if kind is tuple and item_type(field) is str
                    else _TYPE_NAMES[kind])
        raise UserError(f'--{name}={value!r}: expected {expected}, got '
                        f'{type(value).__name__}')
    valid = choices(field)
    if valid is not None:
        unknown = [v for v in (value if kind is tuple else [value]) if v not in valid]
        if unknown and kind is tuple:
            fail(f'{unknown[0]!r} is unknown; choose from {", ".join(map(str, valid))}')
        if unknown:
            fail(f'choose one of {", ".join(map(str, valid))}')
    minimum, below = field.metadata['minimum'], field.metadata['below']
    for v in value if kind is tuple else [value]:
        if minimum is not None and v < minimum:
            fail(f'{"each value " if kind is tuple else ""}must be at least {minimum}')
        if below is not None and v >= below:
            fail(f'must be below {below}')
    if field.metadata['check']:
        try:
            field.metadata['check'](value)
        except ValueError as e:
            fail(e)
    return value


def check_gan_options(loss=None, d_steps=None, **options):
    """The `GAN` keyword options' values, checked as Config fields (UserError
    naming the flag), and, given `loss` (a registered name), that each one set
    has an effect with it. Returns `options`, normalised."""
    checked = {name: check_field(FIELDS[name], value) for name, value in options.items()}
    if d_steps is not None:
        check_field(FIELDS['d_steps'], d_steps)
    if loss is not None:
        spec = registry.loss(loss)
        for name, value in checked.items():
            unused = registry.LOSS_SPECIFIC_OPTIONS.get(name)
            if name in registry.LOSS_SPECIFIC_OPTIONS and name not in spec.options \
                    and value != unused:
                users = sorted(n for n, l in registry.LOSSES.items() if name in l.options)
                raise UserError(f'--{name}={flag_text(value)}: no effect with loss '
                                f'{loss!r}; it applies to: {", ".join(users)}')
    return checked


def check_export_extras(formats):
    """UserError, one line naming the pip extra to install, when a package one of
    export `formats` needs cannot be imported (checked without importing it, so
    before TensorFlow starts and before training does)."""
    for name in formats:
        extra = registry.export_format(name).missing_extra()
        if extra:
            raise UserError(f"--export_formats={name} needs the {extra} extra: pip "
                            f"install 'gan_tf[{extra}]'")


def flag_text(value):
    """A value as its flag is written: lists comma-separated, None as none."""
    if isinstance(value, (list, tuple)):
        return ','.join(map(str, value))
    return 'none' if value is None else str(value)
