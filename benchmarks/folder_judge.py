"""Trains a folder's judge afresh and prints its held-out accuracy and time
(README, "Train on your own images"; BUILD.md, "Judging a folder of images").

    python benchmarks/folder_judge.py PATH/emoji 32          # unlabelled: rotations
    python benchmarks/folder_judge.py --digits=PATH/mnist 32 # 10 class subfolders of
                                                             # 200 MNIST digits each

The prepared images and the judge go to a temporary data directory, deleted at
the end; run it from the checkout's root.
"""
import os
import sys
import tempfile

from gan_tf import judge
from idx_folder import write_folder


def main(folder, size):
    with tempfile.TemporaryDirectory() as scratch:
        if folder.startswith('--digits='):
            folder = write_folder(folder[len('--digits='):],
                                  os.path.join(scratch, 'digits'), per_class=200)
        real = judge.RealImages(folder, scratch, image_options={'image_size': size})
        _, info = judge.train_classifier(real, where=scratch)
        print(f'{folder} at {size} px: {info["task"]}, {info["test_accuracy"]:.1%} right '
              f'on {info["held_out"]} held-out images, {info["epochs"]} epochs, '
              f'{info["seconds"]} s')


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
