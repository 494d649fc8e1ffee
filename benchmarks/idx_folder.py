"""Writes a folder of PNG files, one class subfolder each, from the training
split of MNIST's or Fashion-MNIST's original IDX files: a small labelled folder
of real images of the kind a user brings, for measuring gan_tf on folders.

    python benchmarks/idx_folder.py PATH/fashion_mnist /tmp/fashion5k 500

writes the first 500 training images of each class (5,000 in all) to
/tmp/fashion5k/<class name>/<index>.png. With `colour` after the count, each
image is an RGB picture instead: the item in a colour of its own (any hue,
strong and bright) on a white background, its grey levels kept as its shading,
so that the folder is a colour one whose classes are still the item's shape
(the colours are drawn from a fixed seed: the same folder every time).
"""
import colorsys
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


def colourise(grey, rng):
    """An RGB uint8 picture of a grey item on black: the item in a random
    colour, lit by its own grey levels, over white where it was black."""
    rgb = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0),
                                       rng.uniform(0.7, 1.0)))
    coverage = grey[..., None] / 255.0
    item = rgb * (0.35 + 0.65 * coverage)
    return np.round(255 * (coverage * item + (1 - coverage))).astype(np.uint8)


def write_folder(idx_dir, root, per_class, colour=False):
    """Class subfolders of the first `per_class` training images of each class
    in the IDX files of `idx_dir`, named by CLASS_NAMES for the folder's name
    (`fashion_mnist`: the clothes; any other: the digits 0 to 9); in colour
    by `colourise` when `colour`."""
    with gzip.open(os.path.join(idx_dir, 'train-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(idx_dir, 'train-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    names = CLASS_NAMES.get(os.path.basename(os.path.normpath(idx_dir)),
                            CLASS_NAMES['mnist'])
    rng = np.random.default_rng(0)
    for label, name in enumerate(names):
        os.makedirs(os.path.join(root, name))
        for i in np.flatnonzero(labels == label)[:per_class]:
            image = colourise(images[i], rng) if colour else images[i]
            Image.fromarray(image).save(os.path.join(root, name, f'{i}.png'))
    return root


if __name__ == '__main__':
    if len(sys.argv) not in (4, 5) or sys.argv[4:] not in ([], ['colour']):
        sys.exit('usage: python benchmarks/idx_folder.py IDX_DIR OUT_DIR PER_CLASS [colour]')
    write_folder(sys.argv[1], sys.argv[2], int(sys.argv[3]), colour=sys.argv[4:] == ['colour'])
