"""Trains a folder's judge afresh and prints its held-out accuracy and time
(README, "Train on your own images"; BUILD.md, "Judging a folder of images").

    python benchmarks/folder_judge.py PATH/emoji 32          # unlabelled: rotations
    python benchmarks/folder_judge.py --digits=PATH/mnist 32 # 10 class subfolders of
                                                             # 200 MNIST digits each

The prepared images and the judge go to a temporary data directory, deleted at
the end; run it from the checkout's root.
"""
import gzip
import os
import sys
import tempfile

import numpy as np
from PIL import Image

from gan_tf import judge


def digit_folder(mnist_dir, root, per_class=200):
    """Class subfolders of the first `per_class` training digits of each class."""
    with gzip.open(os.path.join(mnist_dir, 'train-images-idx3-ubyte.gz')) as f:
        digits = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(mnist_dir, 'train-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    for digit in range(10):
        os.makedirs(os.path.join(root, str(digit)))
        for i in np.flatnonzero(labels == digit)[:per_class]:
            Image.fromarray(digits[i]).save(os.path.join(root, str(digit), f'{i}.png'))
    return root


def main(folder, size):
    with tempfile.TemporaryDirectory() as scratch:
        if folder.startswith('--digits='):
            folder = digit_folder(folder[len('--digits='):], os.path.join(scratch, 'digits'))
        real = judge.RealImages(folder, scratch, image_options={'image_size': size})
        _, info = judge.train_classifier(real, where=scratch)
        print(f'{folder} at {size} px: {info["task"]}, {info["test_accuracy"]:.1%} right '
              f'on {info["held_out"]} held-out images, {info["epochs"]} epochs, '
              f'{info["seconds"]} s')


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
