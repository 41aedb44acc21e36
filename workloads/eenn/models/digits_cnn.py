"""A small early-exit CNN for scikit-learn's 8 x 8 digits: the example of *measured* exit statistics.

    tnx eenn profile workloads/eenn/models/digits_cnn.py:make_model \
        --data workloads/eenn/models/digits_cnn.py:make_loader ...

(see ``workloads/eenn/README.md`` for the full command). Everything is seeded and
runs on the CPU in a few seconds; no data is downloaded (the digits ship with
scikit-learn). Needs the optional extras torch and scikit-learn.

Model: conv3x3(1->16) - exit1 - conv3x3/2(16->32) - exit2 - conv3x3(32->64) -
conv3x3/2(64->64) - global average pool - fc(64->10); each exit is
conv1x1 - global average pool - fc(->10). Trained jointly (sum of the three
cross-entropies), Adam, 60 epochs, batch 64, seed 0, on the first 70 % of a seeded
permutation of the 1,797 digits; the loader serves the other 30 % (540 images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SEED = 0
EPOCHS = 60
TRAIN_FRACTION = 0.7


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(y))
    cut = int(TRAIN_FRACTION * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def build() -> Any:
    """The untrained model."""
    import torch
    from torch import nn

    class DigitsEENN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
            self.conv4 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)
            self.exits = nn.ModuleList([
                nn.Sequential(nn.Conv2d(16, 16, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)),
                nn.Sequential(nn.Conv2d(32, 32, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)),
            ])

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            x = torch.relu(self.conv1(x))
            e1 = self.exits[0](x)
            x = torch.relu(self.conv2(x))
            e2 = self.exits[1](x)
            x = torch.relu(self.conv3(x))
            x = torch.relu(self.conv4(x))
            return [e1, e2, self.fc(torch.flatten(self.pool(x), 1))]

    torch.manual_seed(SEED)
    return DigitsEENN()


def make_model() -> Any:
    """The trained model (deterministic: seeded, one CPU thread)."""
    import torch

    torch.set_num_threads(1)
    model = build()
    x, y, _, _ = _data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), 64):
            idx = perm[i:i + 64]
            loss = sum(torch.nn.functional.cross_entropy(o, yt[idx]) for o in model(xt[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def make_loader() -> Any:
    """Batches of the held-out 30 % of the digits."""
    import torch

    _, _, x, y = _data()
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(ds, batch_size=256, shuffle=False)
