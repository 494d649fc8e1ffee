"""The trained generator in a form other programs run, written so that a failed
export never replaces a good one.

`saved_model`: a SavedModel for TF Serving or any TensorFlow process.
`export_run` re-exports a run's checkpoint (`python -m gan_tf.export`).
"""
import os

from gan_tf import runs
from gan_tf.exports import saved_model


def export_generator(gan, run_dir, export_dir, overwrite=True):
    """Writes the generator to sample from (`gan.sampling_generator`) as a
    SavedModel in `export_dir`, with the run's config.json among its assets;
    returns its absolute path."""
    with open(os.path.join(run_dir, runs.RECORD)) as f:
        record = f.read()
    return saved_model.export_generator(
        gan.sampling_generator, gan.latent_dim, gan.noise, export_dir,
        assets={runs.RECORD: record}, overwrite=overwrite, num_classes=gan.num_classes)


def export_run(path, export_dir='', overwrite=False):
    """Exports the generator of a run's newest readable checkpoint (`path`: the
    run directory, or one checkpoint prefix); returns the export's path."""
    gan, _, prefix = runs.load_generator(path)
    run_dir = os.path.dirname(os.path.dirname(prefix))
    return export_generator(gan, run_dir, export_dir or os.path.join(run_dir, 'export'),
                            overwrite)


def export(flags):
    """`python -m gan_tf.export` (flags: see `gan_tf.export`)."""
    print(f'exported {export_run(flags.run_dir, flags.export_dir, flags.overwrite)}')
