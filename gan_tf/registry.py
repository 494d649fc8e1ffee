"""Every name a flag chooses from, and where its implementation lives.

The command line checks its flags against these tables before TensorFlow starts
(which takes seconds), so this module imports nothing heavy: an entry names its
implementation as 'module:attribute', imported the first time it is used
(`load`). Adding an architecture, a loss, a DiffAugment transformation or an export
format means writing it where its entry points, and adding the entry here.
"""
import dataclasses
import importlib
import importlib.util
import os
import re
from typing import Callable, Optional, Union


def load(target):
    """`target` itself, unless it is a path: 'module' (that module, imported if
    need be) or 'module:attribute' (that attribute of it)."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(':')
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


# ------------------------------------------------------------------- architectures

@dataclasses.dataclass(frozen=True)
class Architecture:
    """A generator and a discriminator class (or their paths), constructed as
    `Class(image_shape, widths=None)` (see `gan_tf.models`), and the training
    options that suit this architecture best where they differ from `Config`'s
    defaults (any option the user gives wins)."""
    generator: Union[str, type]
    discriminator: Union[str, type]
    defaults: dict = dataclasses.field(default_factory=dict)

    def classes(self):
        return load(self.generator), load(self.discriminator)


def _built_in(module, generator, discriminator, **defaults):
    return Architecture(f'gan_tf.models.{module}:{generator}',
                        f'gan_tf.models.{module}:{discriminator}', defaults)


# The defaults: the best settings measured for each architecture, and a run
# length of about ten minutes of training on a 2-core CPU (BUILD.md, "Default run
# lengths"; README, "Quality in ten minutes").
ARCHITECTURES = {
    'mlp': _built_in('mlp', 'MLPGenerator', 'MLPDiscriminator', max_steps=20_000),
    'maxout': _built_in('maxout', 'MaxoutGenerator', 'MaxoutDiscriminator',
                        max_steps=15_000),
    'dcgan': _built_in('dcgan', 'DCGANGenerator', 'DCGANDiscriminator', max_steps=12_000),
    # Zhang et al. 2019's two time-scale update rule.
    'sagan': _built_in('sagan', 'SAGANGenerator', 'SAGANDiscriminator', max_steps=5_000,
                       lr_g=1e-4, lr_d=4e-4),
}


def register_architecture(name, generator, discriminator, defaults=None):
    """Makes `name` an architecture (`--arch=name`, `models.build(name, ...)`):
    two Keras model classes, or their 'module:Class' paths, and the options
    that suit it where they differ from `Config`'s defaults."""
    if name in ARCHITECTURES:
        raise ValueError(f'architecture {name!r} is already registered')
    ARCHITECTURES[name] = Architecture(generator, discriminator, dict(defaults or {}))


def architecture(name):
    """The `Architecture` called `name`; ValueError listing the choices if none."""
    return _lookup(ARCHITECTURES, name, 'architecture')


# -------------------------------------------------------------------------- losses

@dataclasses.dataclass(frozen=True)
class Loss:
    """A GAN loss: its two functions (in `gan_tf.losses`) and what the training
    step must give them.

    The discriminator function is called `discriminator(real_logits,
    fake_logits, **kw)` and the generator's `generator(fake_logits, **kw)`, `kw`
    holding exactly what the entry names: `discriminator_options` /
    `generator_options`, hyperparameters (GAN keywords and Config fields of the
    same name); `generator_inputs`, tensors computed only for losses that name
    them: 'real_logits' (D on a real batch), 'fake_images' (G's output),
    'fake_class_logits' (an auxiliary classifier D's class logits for the
    fakes), 'labels' (the classes of the real batch, which its fakes were
    generated for); `discriminator_inputs`, the same for D: 'real_class_logits',
    'fake_class_logits', 'labels'. A loss naming 'labels' needs a conditional GAN.
    """
    name: str
    discriminator: Union[str, Callable]
    generator: Union[str, Callable]
    # True for the sigmoid cross-entropy family: sigmoid(logits) is the
    # probability that the input is real, and the step reports D(x) and D(G(z))
    # as probabilities.
    probabilities: bool = True
    # The logit that separates "real" from "fake" in the reported accuracies; None
    # where logits have no absolute scale (critics, relativistic): an image then
    # counts as classified right when it beats the other batch's mean logit.
    boundary: Optional[float] = 0.0
    default_d_steps: int = 1  # the paper's discriminator updates per G update
    default_clip: float = 0.0  # the paper's weight clipping bound; 0: none
    gradient_penalty: bool = False  # D's loss adds gp_weight * the gradient penalty
    discriminator_options: tuple = ()
    generator_options: tuple = ()
    discriminator_inputs: tuple = ()
    generator_inputs: tuple = ()

    @property
    def conditional(self):
        """Whether the loss needs labels and D's class logits (ACGAN)."""
        return 'labels' in self.discriminator_inputs + self.generator_inputs

    @property
    def options(self):
        """Every hyperparameter either function takes."""
        return self.discriminator_options + self.generator_options

    def d_steps(self, requested=None):
        """Discriminator updates per generator update: `requested`, or this
        loss's own when none is."""
        return requested or self.default_d_steps

    def functions(self):
        """(discriminator loss function, generator loss function)."""
        return load(self.discriminator), load(self.generator)


def _loss(name, discriminator, generator, **kwargs):
    return Loss(name, f'gan_tf.losses:{discriminator}_discriminator_loss',
                f'gan_tf.losses:{generator}_generator_loss', **kwargs)


CROSS_ENTROPY_OPTIONS = ('label_smoothing',)

LOSSES = {loss.name: loss for loss in (
    _loss('minimax', 'minimax', 'minimax', discriminator_options=CROSS_ENTROPY_OPTIONS),
    _loss('non_saturating', 'minimax', 'non_saturating',
          discriminator_options=CROSS_ENTROPY_OPTIONS),
    # Arjovsky et al. 2017, Algorithm 1: n_critic = 5, clipping c = 0.01.
    _loss('wasserstein', 'wasserstein', 'wasserstein', probabilities=False,
          boundary=None, default_d_steps=5, default_clip=0.01),
    # Gulrajani et al. 2017, Algorithm 1: n_critic = 5, lambda = 10 (gp_weight).
    _loss('wgan_gp', 'wasserstein', 'wasserstein', probabilities=False, boundary=None,
          default_d_steps=5, gradient_penalty=True),
    _loss('hinge', 'hinge', 'hinge', probabilities=False),
    _loss('least_squares', 'least_squares', 'least_squares', probabilities=False,
          boundary=0.5),
    _loss('energy', 'energy', 'energy', probabilities=False,
          discriminator_options=('margin',), generator_options=('pt_weight',),
          generator_inputs=('fake_images',)),
    _loss('relativistic', 'relativistic', 'relativistic', probabilities=False,
          boundary=None, generator_inputs=('real_logits',)),
    _loss('acgan', 'acgan', 'acgan',
          discriminator_options=CROSS_ENTROPY_OPTIONS + ('aux_weight',),
          generator_options=('aux_weight',),
          discriminator_inputs=('real_class_logits', 'fake_class_logits', 'labels'),
          generator_inputs=('fake_class_logits', 'labels')),
)}

# Options that only some losses use, and their "not used" value: setting one for
# a loss that ignores it is a mistake worth an error (`config.check_gan_options`).
LOSS_SPECIFIC_OPTIONS = {'label_smoothing': 0.0, 'pt_weight': 0.0, 'aux_weight': 1.0}


def loss(name):
    """The `Loss` called `name`; ValueError listing the choices if none."""
    return _lookup(LOSSES, name, 'loss')


# ------------------------------------------------------------- smaller choices

# DiffAugment transformations (Zhao et al. 2020), applied in the order given.
AUGMENTATIONS = {name: f'gan_tf.augment:{name}'
                 for name in ('color', 'translation', 'cutout')}


def augmentations(policy):
    """'translation,cutout' -> ('translation', 'cutout'); '' -> (). ValueError
    naming the choices for an unknown name."""
    names = tuple(name.strip() for name in policy.split(',') if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f'unknown DiffAugment transformation {unknown[0]!r}; '
                         f'choose from: {", ".join(AUGMENTATIONS)}')
    return names


# Where `--dataset`'s images come from (`gan_tf.data.load`): each loader takes
# the same arguments and returns `ImageData`'s fields.
DATA_SOURCES = {'folder': 'gan_tf.data.folder:load',
                'tfds': 'gan_tf.data.tfds_source:load'}
TFDS_PREFIX = 'tfds:'  # --dataset=tfds:mnist: the tfds dataset even beside a folder mnist/


def data_source(dataset):
    """('folder' or 'tfds', the folder's path or the dataset's name) for a
    `--dataset` value: a folder when it names one that exists, or looks like a
    path (has a "/", starts with "." or "~"; a missing folder is then reported as
    one), else a tensorflow-datasets name. 'tfds:NAME' is always tfds."""
    if dataset.startswith(TFDS_PREFIX):
        return 'tfds', dataset[len(TFDS_PREFIX):]
    path = os.path.expanduser(dataset)
    if os.path.isdir(path) or os.sep in dataset or dataset.startswith(('.', '~')) or (
            os.altsep and os.altsep in dataset) or os.path.exists(path):
        return 'folder', path
    return 'tfds', dataset


def dataset_name(dataset):
    """A short name of `--dataset` fit for one folder name (run directories,
    caches): a tfds name as it is, a folder's base name with anything but
    letters, digits, '.', '_' and '-' replaced by '_'."""
    kind, where = data_source(dataset)
    if kind == 'tfds':
        return where
    base = os.path.basename(os.path.abspath(where)) or 'root'
    return re.sub(r'[^A-Za-z0-9._-]+', '_', base).strip('.') or 'folder'


# Distributions of the latent z (`gan_tf.latent`).
NOISE_KINDS = ('normal', 'uniform')
# tf.distribute strategies (`gan_tf.distribute.make_strategy`).
STRATEGIES = ('auto', 'default', 'mirrored', 'multi_worker')


# ------------------------------------------------------------------ export formats

@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """A form the generator is written in, inside a run's export folder.

    `write(servable, path)` writes it at `path` (see `gan_tf.exports.servable`);
    `load(path)` opens it in its own runtime as a function `(z, labels=None)` ->
    float32 images in [-1, 1] (what the parity tests and the bench call).
    `path`: where it lies in the export folder ('' for the folder itself).
    `extra`: the `pip install 'gan_tf[extra]'` that brings `modules`, the
    packages it needs beyond gan_tf's own.
    """
    write: str
    load: str
    path: str
    extra: str = ''
    modules: tuple = ()

    def missing_extra(self):
        """The extra to install when one of `modules` cannot be imported, else ''."""
        if all(importlib.util.find_spec(module) for module in self.modules):
            return ''
        return self.extra


LITERT_MODULES = ('ai_edge_litert',)
ONNX_MODULES = ('tf2onnx', 'onnx', 'onnxruntime')

# 'saved_model' is always written, first; the others are converted from the
# generator's z -> images function.
EXPORT_FORMATS = {
    'saved_model': ExportFormat('gan_tf.exports.saved_model:write',
                                'gan_tf.exports.saved_model:load', ''),
    'litert': ExportFormat('gan_tf.exports.litert:write', 'gan_tf.exports.litert:load',
                           'litert/generator.tflite', 'litert', LITERT_MODULES),
    'litert_fp16': ExportFormat('gan_tf.exports.litert:write_float16',
                                'gan_tf.exports.litert:load',
                                'litert/generator_fp16.tflite', 'litert', LITERT_MODULES),
    'onnx': ExportFormat('gan_tf.exports.onnx:write', 'gan_tf.exports.onnx:load',
                         'onnx/generator.onnx', 'onnx', ONNX_MODULES),
}


def export_format(name):
    """The `ExportFormat` called `name`; ValueError listing the choices if none."""
    return _lookup(EXPORT_FORMATS, name, 'export format')


def export_formats(names):
    """`names` as an export writes them: 'saved_model' first, each name once;
    ValueError naming the choices for an unknown one."""
    for name in names:
        export_format(name)
    return tuple(dict.fromkeys(('saved_model', *names)))


def _lookup(table, name, what):
    try:
        return table[name]
    except KeyError:
        raise ValueError(f'unknown {what} {name!r}; choose one of: '
                         f'{", ".join(sorted(table))}') from None
