"""The same MLP GAN training step in PyTorch, eager, as PyTorch GAN code runs it.

A yardstick for `python -m gan_tf.bench --arch=mlp`: same layer sizes, dropout,
loss (non-saturating, from logits), Adam settings, and the same work per step
(D on real and on a fresh fake batch, then G on new noise). Random data: this
times the step, not the input pipeline. Needs PyTorch, which gan_tf does not:

    python -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy
    /tmp/torch/bin/python benchmarks/pytorch_mlp_gan.py --batch_size=256
"""
import argparse
import time

import torch
from torch import nn


def mlp(sizes, last, dropout=0.0):
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, last)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch_size', type=int, default=256)
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = mlp([100, 256, 512, 1024], nn.Sequential(nn.Linear(1024, 784), nn.Tanh()))
    discriminator = mlp([784, 1024, 512, 256], nn.Linear(256, 1), dropout=0.3)
    g_opt = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    batch = args.batch_size
    real = torch.rand(batch, 784) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        with torch.no_grad():
            fake = generator(torch.randn(batch, 100))
        d_loss = bce(discriminator(real), ones) + bce(discriminator(fake), zeros)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = bce(discriminator(generator(torch.randn(batch, 100))), ones)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        return d_loss.item() + g_loss.item()

    def best_seconds(function, calls):
        best = float('inf')
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(calls):
                function()
            best = min(best, (time.perf_counter() - start) / calls)
        return best

    step()
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    step_time = best_seconds(step, args.steps)
    matmul_time = best_seconds(lambda: torch.mm(a, b), 10)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}')
    print(f'step:          {step_time * 1e3:8.2f} ms')
    print(f'images/second: {batch / step_time:8.0f}')
    print(f'matmul FLOP/s: {2 * n ** 3 / matmul_time / 1e9:8.1f} GFLOP/s (float32 2048x2048)')


if __name__ == '__main__':
    main()
