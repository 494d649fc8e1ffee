"""What the PyTorch yardsticks share: the GAN step as PyTorch GAN code writes it
(eager, BCE with logits, D on real and fake, then G), and best-of timing."""
import time

import torch
from torch import nn


def gan_step(generator, discriminator, g_opt, d_opt, real, latent_dim=100,
             ema_decay=None):
    """A function doing one D update on `real` (or the batch it is given) and one
    G update (then, with `ema_decay`, the moving average of G's weights that
    gan_tf keeps by default); it returns the summed losses (a float, so the step
    has finished)."""
    bce = nn.BCEWithLogitsLoss()
    batch = len(real)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    weights = list(generator.parameters())
    average = [w.detach().clone() for w in weights]

    def step(real=real):
        with torch.no_grad():
            fake = generator(torch.randn(batch, latent_dim))
        d_loss = bce(discriminator(real), ones) + bce(discriminator(fake), zeros)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = bce(discriminator(generator(torch.randn(batch, latent_dim))), ones)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        if ema_decay is not None:
            with torch.no_grad():
                torch._foreach_lerp_(average, weights, 1 - ema_decay)
        return d_loss.item() + g_loss.item()
    return step


def best_seconds(function, calls, repeats):
    """The fastest of `repeats` timings of `calls` calls, per call."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best
