"""Images from an exported generator: python -m gan_tf.sample --export_dir=out/RUN/export

    python -m gan_tf.sample --export_dir=out/RUN/export --num=64 --out=grid.png
    python -m gan_tf.sample --export_dir=... --npy=samples.npy --num=10000
    python -m gan_tf.sample --export_dir=... --interpolate --out=walk.gif
    python -m gan_tf.sample --export_dir=... --labels=3 --num=16   # conditional

Needs only the SavedModel: z is drawn from the noise distribution recorded in its
`assets/config.json`, seeded by --seed exactly as the export's `generate` signature
draws it, and fed to `serving_default`. A class-conditional export is also fed
labels: the --num images are split among the classes of --labels (default: all),
one row per class in the grid. Also `gan-tf sample`.
"""
from absl import flags

from gan_tf import cli


def define_flags(flag_values):
    def define(kind, name, default, help, **kwargs):
        getattr(flags, f'DEFINE_{kind}')(name, default, help, flag_values=flag_values,
                                         **kwargs)
    define('string', 'export_dir', None, "A run's export/ folder.")
    define('integer', 'num', 64, 'Images (per frame, with --interpolate).', lower_bound=1)
    define('integer', 'seed', 0, 'Seed of the noise: same seed, same images.')
    define('string', 'out', '', 'PNG grid (default samples.png), or the GIF with '
           '--interpolate (default walk.gif).')
    define('string', 'npy', '', 'Also write the images, float32 NHWC in [-1, 1].')
    define('bool', 'interpolate', False, 'A GIF walking between latent points.')
    define('list', 'labels', [], 'Class-conditional exports: the classes to draw, by '
           'number or name (config.json\'s class_names), e.g. 3, 0,1,2 or cats,dogs; '
           'the images are split among them (default: all classes).')
    flags.mark_flag_as_required('export_dir', flag_values=flag_values)


COMMAND = cli.Command('sample', __doc__, define_flags, run='gan_tf.sources:sample')

if __name__ == '__main__':
    cli.main(COMMAND)
