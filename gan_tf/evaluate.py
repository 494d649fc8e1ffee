"""Scores generated images: python -m gan_tf.evaluate --export_dir=out/RUN/export --dataset=mnist

    python -m gan_tf.evaluate --checkpoint=out/RUN      # or out/RUN/checkpoints/ckpt-N
    python -m gan_tf.evaluate --samples=samples.npy --dataset=mnist --json=result.json

Prints FID, KID, precision/recall, density/coverage and the classes covered,
judged against the dataset's real test split (see `gan_tf.judge`); also `gan-tf
evaluate`.
"""
from absl import flags

from gan_tf import cli
from gan_tf.errors import UserError

SOURCES = ('export_dir', 'checkpoint', 'samples')


def define_flags(flag_values):
    def define(kind, name, default, help, **kwargs):
        getattr(flags, f'DEFINE_{kind}')(name, default, help, flag_values=flag_values,
                                         **kwargs)
    define('string', 'export_dir', '', 'A SavedModel export to sample from.')
    define('string', 'checkpoint', '', 'A run directory (its newest readable '
           'checkpoint) or a checkpoint prefix, e.g. out/RUN/checkpoints/ckpt-1000.')
    define('string', 'samples', '', 'A .npy of images in [-1, 1], NHWC.')
    define('integer', 'num', 10_000, 'Samples to draw from --export_dir or '
           '--checkpoint.', lower_bound=6)
    define('integer', 'seed', 0, 'Seed of the noise (as gan_tf.sample --seed).')
    define('string', 'dataset', 'mnist', 'The real data to compare with.')
    define('string', 'data_dir', '', 'tensorflow-datasets data directory.')
    define('string', 'manual_dir', '', "Folder of the dataset's original files.")
    define('string', 'inception_weights', '', 'Keras InceptionV3 no-top weights (.h5) '
           "for inception_fid (default: Keras' cached copy in ~/.keras/models, if "
           'there).')
    define('integer', 'inception_size', 299, 'Side images are resized to for '
           'InceptionV3: 299 compares with published FIDs; 75 (the least) is far '
           'cheaper on a CPU. The real images only once (cached).', lower_bound=75)
    define('string', 'json', '', 'Also write the result to this JSON file.')


def one_source(flag_values):
    """The flags, once it is clear that they name exactly one source of samples."""
    named = [name for name in SOURCES if getattr(flag_values, name)]
    if len(named) != 1:
        raise UserError('give exactly one of --export_dir, --checkpoint or --samples '
                        f'(got {", ".join("--" + n for n in named) or "none"})')
    return flag_values


COMMAND = cli.Command('evaluate', __doc__, define_flags, run='gan_tf.judge:evaluate',
                      options=one_source)

if __name__ == '__main__':
    cli.main(COMMAND)
