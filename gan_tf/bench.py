"""Training speed: python -m gan_tf.bench --arch=mlp --batch_size=256

Prints images/second of the compiled training step, the FLOP/s that implies
(FLOPs counted by TensorFlow's profiler on the step's graph), and this machine's
float32 2048x2048 matmul FLOP/s measured in the same run, as a yardstick.
Timings alternate between the two and keep each one's best repeat, so a busy
machine slows both alike. It accepts every training flag (arch, loss, widths...).
`--replicas=N` also times the step under MirroredStrategy over N replicas, with
`--batch_size` the global batch, and prints the speed-up over one device.
`--deploy` times the exported generator instead, in each runtime:

    python -m gan_tf.bench --deploy --arch=dcgan --export_formats=litert,litert_fp16,onnx

Also `gan-tf bench`.
"""
from absl import flags

from gan_tf import cli


def define_flags(flag_values):
    cli.define_config_flags(flag_values)

    def define(kind, name, default, help, **kwargs):
        getattr(flags, f'DEFINE_{kind}')(name, default, help, flag_values=flag_values,
                                         **kwargs)
    define('integer', 'steps', 30, 'Training steps per timed repeat.', lower_bound=1)
    define('integer', 'repeats', 5, 'Timed repeats; the best one counts.', lower_bound=1)
    define('list', 'image_shape', ['28', '28', '1'], 'Height, width, channels '
           '(--image_size=N instead: N x N x 3, or --channels).')
    define('bool', 'profile', False, 'Also print where the step spends its time, by '
           'TensorFlow op type (from a TensorFlow profiler trace).')
    define('bool', 'pipeline', False, 'Also time the input pipeline (gan_tf.data.'
           'train_batches) on --dataset, which must be prepared or in --manual_dir; '
           '--image_shape is then its shape.')
    define('bool', 'deploy', False, 'Instead of the training step, time one batch of '
           '--batch_size z through the (untrained) generator exported in each of '
           '--export_formats, each in its own runtime (TensorFlow, LiteRT, '
           'onnxruntime), and print their sizes on disk.')
    define('integer', 'replicas', 1, 'Also time the step under MirroredStrategy over '
           'this many replicas: GPUs where that many are visible, else logical CPU '
           'devices split from the CPU.', lower_bound=1)


COMMAND = cli.Command('bench', __doc__, define_flags, run='gan_tf.speed:bench',
                      options=lambda flag_values: (cli.config_from_flags(flag_values),
                                                   flag_values))

if __name__ == '__main__':
    cli.main(COMMAND)
