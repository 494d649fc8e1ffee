"""Scores generated images: python -m gan_tf.evaluate --export_dir=out/RUN/export

    python -m gan_tf.evaluate --checkpoint=out/RUN      # or out/RUN/checkpoints/ckpt-N
    python -m gan_tf.evaluate --samples=samples.npy --dataset=mnist --json=result.json
    python -m gan_tf.evaluate --export_dir=out/RUN/export --copies=copies.png

Prints FID, KID, precision/recall, density/coverage, the share of samples that
copy a training image and, where the images are labelled, the classes covered,
judged against the real images the run trained on (a dataset's test split, or
the whole folder; see `gan_tf.judge`), at the run's image size, crop and
channels unless the flags say otherwise; also `gan-tf evaluate`.
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
    define('string', 'dataset', '', "The real data to compare with: a folder of images "
           "or a tensorflow-datasets name (default: the run's, for --export_dir and "
           '--checkpoint; else mnist).')
    # What the real images become, as training's flags of the same names; None:
    # the run's (its config.json), else the data's own.
    define('integer', 'image_size', None, "Side of the real images (default: the "
           "run's, else the data's own).")
    define('string', 'crop', None, "centre, pad or stretch (default: the run's, else "
           'centre).')
    define('integer', 'channels', None, "1 or 3 (default: the run's, else the data's).")
    define('string', 'background', None, "Colour under transparent pixels (default: "
           "the run's, else white).")
    define('bool', 'keep_alpha', None, "Keep transparency as a channel (default: the "
           "run's, else off).")
    define('string', 'data_dir', '', 'tensorflow-datasets data directory.')
    define('string', 'manual_dir', '', "Folder of the dataset's original files.")
    define('string', 'inception_weights', '', 'Keras InceptionV3 no-top weights (.h5) '
           "for inception_fid and the rest; none: never (default: Keras' cached copy "
           "in ~/.keras/models, else, for a folder's or colour images, fetched once "
           'into it where the network allows).')
    define('integer', 'inception_size', 299, 'Side images are resized to for '
           'InceptionV3: 299 compares with published FIDs; 75 (the least) is far '
           'cheaper on a CPU. The real images only once (cached).', lower_bound=75)
    define('string', 'json', '', 'Also write the result to this JSON file.')
    define('string', 'copies', '', 'Also write a PNG of the 8 samples nearest a '
           'training image (top row) above the training image nearest each.')


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
