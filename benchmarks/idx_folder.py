"""Writes a folder of PNG files, one class subfolder each, from the training
split of MNIST's or Fashion-MNIST's original IDX files: a small labelled folder
of real images of the kind a user brings, for measuring gan_tf on folders.

    python benchmarks/idx_folder.py PATH/fashion_mnist /tmp/fashion5k 500

writes the first 500 training images of each class (5,000 in all) to
/tmp/fashion5k/<class name>/<index>.png.
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

CLASS_NAMES = {
    'mnist': [str(digit) for digit in range(10)],
    'fashion_mnist': ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal',
                      'shirt', 'sneaker', 'bag', 'ankle_boot'],
}


def write_folder(idx_dir, root, per_class):
    """Class subfolders of the first `per_class` training images of each class
    in the IDX files of `idx_dir`, named by CLASS_NAMES for the folder's name
    (`fashion_mnist`: the clothes; any other: the digits 0 to 9)."""
    with gzip.open(os.path.join(idx_dir, 'train-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(idx_dir, 'train-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    names = CLASS_NAMES.get(os.path.basename(os.path.normpath(idx_dir)),
                            CLASS_NAMES['mnist'])
    for label, name in enumerate(names):
        os.makedirs(os.path.join(root, name))
        for i in np.flatnonzero(labels == label)[:per_class]:
            Image.fromarray(images[i]).save(os.path.join(root, name, f'{i}.png'))
    return root


if __name__ == '__main__':
    write_folder(sys.argv[1], sys.argv[2], int(sys.argv[3]))
