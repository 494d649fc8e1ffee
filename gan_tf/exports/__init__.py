"""The trained generator in forms other programs run, written so that a failed
export never replaces a good one.

`saved_model`: a SavedModel for TF Serving or any TensorFlow process, always
written; `litert` and `litert_fp16` (.tflite) and `onnx` (.onnx): the same
generator's z -> images function converted for other runtimes, in folders of
the export (see `registry.EXPORT_FORMATS`). `export_run` re-exports a run's
checkpoint (`python -m gan_tf.export`).
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

from gan_tf import artifacts, registry, runs
from gan_tf.config import Config, check_export_extras
from gan_tf.errors import UserError
from gan_tf.exports.servable import Servable


def write(servable, export_dir, formats=('saved_model',), overwrite=True):
    """Writes `servable` (a `Servable`) in each of `formats`, names of
    `registry.EXPORT_FORMATS` (saved_model always, first), into the folder
    `export_dir`; returns its absolute path.

    Every format is written into a folder beside `export_dir`, each converted one
    loaded back once in its runtime, and only then is that folder swapped in, so
    a failed or interrupted export never replaces a good one. An existing export
    is replaced only if `overwrite`.
    """
    formats = registry.export_formats(formats)
    check_export_extras(formats)
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise UserError(f'{export_dir} already exists: pass --overwrite to replace '
                        'it, or choose another --export_dir')
    parent = os.path.dirname(export_dir)
    staging = None
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
        for name in formats:
            export_format = registry.export_format(name)
            registry.load(export_format.write)(
                servable, os.path.join(staging, export_format.path))
        artifacts.directory_mode(staging)  # readable as any folder, by a server too
        artifacts.replace_directory(staging, export_dir)
        staging = None
    except (OSError, tf.errors.OpError) as e:  # a full disk, a read-only folder
        raise artifacts.write_failure(export_dir, e) from None
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def servable_of(gan, config, image_shape, assets=None, class_names=()):
    """The `Servable` of `gan`'s generator to sample from (`gan.sampling_generator`),
    built by `config` for images of `image_shape` (`class_names`: its classes',
    index by index, where it is conditional); under mixed precision, with a
    float32 copy of it for the converted formats."""
    generator = gan.sampling_generator
    float32_generator = None
    if generator.compute_dtype != 'float32':
        twin = runs.build_gan(config, image_shape, gan.num_classes, policy='float32')
        float32_generator = twin.sampling_generator
        float32_generator.set_weights(generator.get_weights())
    return Servable(generator, gan.latent_dim, tuple(image_shape), gan.noise,
                    gan.num_classes, dict(assets or {}), float32_generator,
                    tuple(class_names) if gan.num_classes else ())


def export_generator(gan, run_dir, export_dir, formats=('saved_model',), overwrite=True):
    """Writes the generator to sample from in each of `formats` to `export_dir`,
    with the run's config.json among the SavedModel's assets; returns its
    absolute path."""
    with open(os.path.join(run_dir, runs.RECORD)) as f:
        record_text = f.read()
    record = json.loads(record_text)
    return write(servable_of(gan, Config.from_record(record['config']),
                             record['image_shape'], {runs.RECORD: record_text},
                             record.get('class_names') or ()),
                 export_dir, formats, overwrite)


def export_run(path, export_dir='', overwrite=False, formats=('saved_model',)):
    """Exports the generator of a run's newest readable checkpoint (`path`: the
    run directory, or one checkpoint prefix) in `formats`; returns the export's
    path."""
    gan, _, prefix = runs.load_generator(path)
    run_dir = os.path.dirname(os.path.dirname(prefix))
    return export_generator(gan, run_dir, export_dir or os.path.join(run_dir, 'export'),
                            formats, overwrite)


def export(flags):
    """`python -m gan_tf.export` (flags: see `gan_tf.export`)."""
    exported = export_run(flags.run_dir, flags.export_dir, flags.overwrite,
                          flags.export_formats)
    print(f'exported {exported} ({", ".join(flags.export_formats)})')
