"""The generator as a self-contained SavedModel for TF Serving or any TF process.

Signature `serving_default`: float32 `z` [batch, latent_dim] -> float32 `images`
[batch, height, width, channels] in [-1, 1]. Loading it needs TensorFlow only.
"""
import os
import shutil
import tempfile

import keras
import tensorflow as tf


def export_generator(generator, latent_dim, export_dir, assets=None):
    """Writes the SavedModel to `export_dir`, replacing any earlier export.

    The new export is written beside `export_dir` first and only then swapped in,
    so an interrupted export never replaces a good one. `assets` maps file
    names to text stored under `<export_dir>/assets/` (e.g. the run config).
    """
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(generator)
        archive.add_endpoint(
            name='serving_default',
            fn=lambda z: {'images': generator(z, training=False)},
            input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name='z')])
        archive.write_out(staging, verbose=False)
        os.makedirs(os.path.join(staging, 'assets'), exist_ok=True)
        for name, text in (assets or {}).items():
            with open(os.path.join(staging, 'assets', name), 'w') as f:
                f.write(text)
        _swap_in(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def _swap_in(new_dir, target):
    """Moves `new_dir` to `target`; the old `target` is deleted only afterwards."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix='.export-old-', dir=os.path.dirname(target))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(new_dir, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)
