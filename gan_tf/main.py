"""Trains a GAN: python -m gan_tf.main --arch=mlp --dataset=mnist

Every `gan_tf.config.Config` field is a flag of the same name; `--flagfile` reads
flags from a file (see examples/*.flags). The run's files go to
<out_dir>/<run_name>/; open its report.html first. Also `gan-tf train`.
"""
from gan_tf import cli

COMMAND = cli.Command('train', __doc__, cli.define_config_flags,
                      run='gan_tf.train:train_and_evaluate',
                      options=cli.config_from_flags)


def run(argv=None):
    """`python -m gan_tf.main`, also from a script that registered its own
    architectures first (examples/custom_models.py)."""
    cli.main(COMMAND, argv)


if __name__ == '__main__':
    run()
