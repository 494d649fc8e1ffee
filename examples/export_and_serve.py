"""Generate from a run's export with plain TensorFlow, as a serving process would.

    python examples/export_and_serve.py out/mnist-mlp-non_saturating/export

No gan_tf import: the SavedModel is self-contained. Writes served.png here.
"""
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def main(export_dir):
    export = tf.saved_model.load(export_dir)

    # `generate`: a count and a seed in, uint8 images out; same seed, same images.
    generate = export.signatures['generate']
    images = generate(num=tf.constant(16), seed=tf.constant(42, tf.int64))['images']
    print('generate:', images.shape, images.dtype.name)

    # `serving_default`: your own noise in, float images in [-1, 1] out.
    serve = export.signatures['serving_default']
    latent_dim = serve.structured_input_signature[1]['z'].shape[1]
    floats = serve(z=tf.random.normal([4, latent_dim]))['images']
    print('serving_default:', floats.shape, floats.dtype.name,
          f'in [{float(tf.reduce_min(floats)):.2f}, {float(tf.reduce_max(floats)):.2f}]')

    row = np.concatenate(list(images.numpy()), axis=1)  # 16 images side by side
    Image.fromarray(row[..., 0] if row.shape[-1] == 1 else row).save('served.png')
    print('wrote served.png')


if __name__ == '__main__':
    main(sys.argv[1])
