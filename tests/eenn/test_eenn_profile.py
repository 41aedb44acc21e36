"""Exit statistics measured on a small early-exit model trained in the test (no download; skips without torch)."""

from __future__ import annotations

import numpy as np
import pytest

from tnx_timeloop.errors import SpecError
from tnx_timeloop.frontends.exit_stats import Provenance, exit_distribution, load_statistics, write_statistics

torch = pytest.importorskip("torch", reason="torch is an optional extra (pip install torch)")

from tnx_timeloop.frontends.eenn_profile import (  # noqa: E402
    collect_probabilities,
    confidence,
    evaluate_policy,
    exit_curves,
    fake_quantize,
    profile_exits,
)

THRESHOLDS = (0.5, 0.7, 0.9, 0.99)


def _data():
    """scikit-learn's digits when installed, else three Gaussian blobs per class (seeded)."""
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    except ImportError:
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((10, 64)).astype(np.float32)
        y = rng.integers(0, 10, 1500)
        x = (centres[y] + 0.9 * rng.standard_normal((1500, 64))).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    return x[order], y[order]


class TinyEENN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(64, 32)
        self.l2 = torch.nn.Linear(32, 32)
        self.fc = torch.nn.Linear(32, 10)
        self.exits = torch.nn.ModuleList([torch.nn.Linear(32, 10)])

    def forward(self, x):
        h = torch.relu(self.l1(x))
        e = self.exits[0](h)
        return [e, self.fc(torch.relu(self.l2(h)))]


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    x, y = _data()
    cut = int(0.7 * len(y))
    xt, yt = torch.from_numpy(x[:cut]), torch.from_numpy(y[:cut])
    model = TinyEENN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = sum(torch.nn.functional.cross_entropy(o, yt) for o in model(xt))
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = torch.utils.data.TensorDataset(torch.from_numpy(x[cut:]), torch.from_numpy(y[cut:]))
    return model.eval(), torch.utils.data.DataLoader(test, batch_size=128)


def test_curves_match_direct_computation(trained):
    model, loader = trained
    probs, labels = collect_probabilities(model, loader)
    assert len(probs) == 2 and probs[0].shape == (len(labels), 10)
    curves = exit_curves(probs, labels, exit_names=["e1"], thresholds=THRESHOLDS)
    final = curves[1]
    assert final.exit == "final" and final.accuracy > 0.8
    conf = probs[0].max(axis=1)
    correct = probs[0].argmax(axis=1) == labels
    for k, t in enumerate(THRESHOLDS):
        m = conf >= t
        assert curves[0].rates[k] == pytest.approx(m.mean())
        if m.any():
            assert curves[0].exit_accuracy[k] == pytest.approx(correct[m].mean())
    assert all(a >= b for a, b in zip(curves[0].rates, curves[0].rates[1:], strict=False))


def test_entropy_criterion(trained):
    model, loader = trained
    probs, labels = collect_probabilities(model, loader)
    h = confidence(probs[0], "entropy")
    assert (h >= 0).all() and (h <= 1 + 1e-9).all()
    curves = exit_curves(probs, labels, exit_names=["e1"], thresholds=(0.1, 0.3, 0.6), criterion="entropy")
    assert all(a <= b for a, b in zip(curves[0].rates, curves[0].rates[1:], strict=False))


def test_profile_writes_valid_statistics(trained, tmp_path):
    model, loader = trained
    prov = Provenance("measured", "profiled in the test", model="TinyEENN trained 60 epochs in the test",
                      data="digits test split (or seeded blobs)")
    st = profile_exits(model, loader, network="tiny", exit_names=["e1"], thresholds=THRESHOLDS, provenance=prov,
                       precisions=[("fp32", "fp32"), ("int8", "int8"), ("int8", "int4"), ("int4", "int4")])
    assert {(c.exit, c.backbone, c.exit_precision) for c in st.curves} >= {
        ("e1", "fp32", "fp32"), ("e1", "int8", "int4"), ("final", "int4", "*")}
    path = write_statistics(st, tmp_path / "tiny.stats.yaml")
    again = load_statistics(path)
    assert again.provenance.kind == "measured" and again.provenance.model.startswith("TinyEENN")
    assert again.lookup("final", backbone="int8").accuracy > 0.75
    with pytest.raises(SpecError, match="measured"):
        profile_exits(model, loader, network="tiny", exit_names=["e1"], thresholds=THRESHOLDS,
                      provenance=Provenance("assumption", "no"))


def test_fake_quantization_changes_weights_not_the_original(trained):
    model, _ = trained
    before = model.l1.weight.detach().clone()
    q = fake_quantize(model, "int4", exit_precision="int8")
    assert torch.equal(model.l1.weight, before)
    levels = torch.unique(q.l1.weight[0]).numel()
    assert levels <= 15  # 4-bit symmetric: at most 15 values per output channel
    assert torch.unique(q.exits[0].weight[0]).numel() <= 255  # the exit head at 8 bits


def test_nested_combination_is_exact_for_one_exit_fraction(trained):
    model, loader = trained
    probs, labels = collect_probabilities(model, loader)
    curves = exit_curves(probs, labels, exit_names=["e1"], thresholds=THRESHOLDS)
    for k, t in enumerate(THRESHOLDS):
        exact_fr, exact_acc = evaluate_policy(probs, labels, [0], t)
        model_d = exit_distribution([curves[0]], curves[1], k)
        assert model_d.fractions == pytest.approx(exact_fr)
        assert model_d.accuracy == pytest.approx(exact_acc, abs=0.05)
