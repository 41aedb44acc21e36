"""Regenerate the *assumed* exit statistics shipped in this folder.

    python3 workloads/eenn/stats/generate_assumed.py

Nothing here is measured. Each file states its provenance as ``kind: assumption``
and repeats the assumptions below; replace a file by one measured with
``tnx eenn profile`` when a trained early-exit model is available.

Assumption model (``tnx_timeloop.frontends.exit_stats.calibrated_power_curve``):
every classifier is calibrated and its maximum softmax probability follows a
power law on [1/K, 1] whose mean is the classifier's accuracy. Accuracies:

* final classifier at FP32: published CIFAR-10 test accuracies of the same
  architectures (cited per network below);
* early exits at FP32 with the ``medium`` head: assumed values rising with depth
  (listed per network), ``small`` heads 3 points lower, ``large`` heads 1.5 points
  higher (capped half a point below the final classifier);
* quantization: INT8 backbone -0.3 points, INT4 backbone -2.0 points; INT8 exit
  head -0.2 points, INT4 exit head -1.2 points (additive; assumed values in the
  range reported for quantization-aware training of small CIFAR-10 CNNs).
"""

from __future__ import annotations

from pathlib import Path

from tnx_timeloop.frontends.exit_stats import (
    ExitCurve,
    ExitStatistics,
    Provenance,
    calibrated_power_curve,
    write_statistics,
)

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)
PRECISIONS = ("fp32", "int8", "int4")
BACKBONE_DELTA = {"fp32": 0.0, "int8": -0.003, "int4": -0.020}
EXIT_DELTA = {"fp32": 0.0, "int8": -0.002, "int4": -0.012}
HEAD_DELTA = {"small": -0.03, "medium": 0.0, "large": 0.015}

NETWORKS = {
    "mobilenetv2-cifar10": {
        "final": 0.9339,
        "final_source": "93.39 % for MobileNetV2 on CIFAR-10 in the brondaeh/CIFAR-Image-Classifier README "
        "(a kuangliu/pytorch-cifar derivative)",
        "exits": {"b2_project": 0.50, "b3_add": 0.56, "b5_add": 0.65, "b7_project": 0.71, "b9_add": 0.76,
                  "b11_project": 0.81, "b13_add": 0.86, "b16_add": 0.90},
    },
    "resnet20-cifar10": {
        "final": 0.9125,
        "final_source": "8.75 % test error of ResNet-20 on CIFAR-10, K. He et al., CVPR 2016, Table 6",
        "exits": {"s1b1_add": 0.45, "s1b2_add": 0.52, "s1b3_add": 0.57, "s2b1_add": 0.64, "s2b2_add": 0.69,
                  "s2b3_add": 0.74, "s3b1_add": 0.82, "s3b2_add": 0.87},
    },
    "resnet18-cifar10": {
        "final": 0.9302,
        "final_source": "93.02 % for ResNet18 on CIFAR-10 in the kuangliu/pytorch-cifar README",
        "exits": {"s1b1_add": 0.55, "s1b2_add": 0.62, "s2b1_add": 0.70, "s2b2_add": 0.77, "s3b1_add": 0.84,
                  "s3b2_add": 0.88, "s4b1_add": 0.91},
    },
    "vgg11-cifar10": {
        "final": 0.92,
        "final_source": "assumed 92 % (VGG-16 reaches 92.64 % in the kuangliu/pytorch-cifar README; VGG-11 is "
        "not listed there)",
        "exits": {"pool1": 0.42, "pool2": 0.58, "pool3": 0.78, "pool4": 0.89},
    },
    "vgg16-cifar10": {
        "final": 0.9264,
        "final_source": "92.64 % for VGG16 on CIFAR-10 in the kuangliu/pytorch-cifar README",
        "exits": {"pool1": 0.45, "pool2": 0.62, "pool3": 0.82, "pool4": 0.91},
    },
}


def _curve(exit_name: str, head: str, backbone: str, exit_prec: str, accuracy: float) -> ExitCurve:
    rates, accs = calibrated_power_curve(accuracy, THRESHOLDS, 10)
    return ExitCurve(exit_name, head, backbone, exit_prec, accuracy, tuple(rates), tuple(accs))


def build(name: str, spec: dict) -> ExitStatistics:
    """The assumed statistics of one network."""
    final = spec["final"]
    curves = []
    for b in PRECISIONS:
        curves.append(_curve("final", "*", b, "*", final + BACKBONE_DELTA[b]))
    for exit_name, base in spec["exits"].items():
        for head, dh in HEAD_DELTA.items():
            for b in PRECISIONS:
                for e in PRECISIONS:
                    acc = min(base + dh, final - 0.005) + BACKBONE_DELTA[b] + EXIT_DELTA[e]
                    curves.append(_curve(exit_name, head, b, e, acc))
    exits_text = ", ".join(f"{k} {v:.2f}" for k, v in spec["exits"].items())
    text = (
        "ASSUMED, not measured. Calibrated classifiers whose maximum softmax probability follows a power law "
        "on [1/10, 1] with mean equal to the accuracy (tnx_timeloop.frontends.exit_stats.calibrated_power_curve). "
        f"Final classifier at FP32: {final:.4f} ({spec['final_source']}). Early exits at FP32 with the medium "
        f"head (assumed): {exits_text}; small heads -0.03, large +0.015 (capped 0.005 below the final). "
        "Quantization (assumed, additive): INT8 backbone -0.003, INT4 backbone -0.020, INT8 exit -0.002, "
        "INT4 exit -0.012. Written by workloads/eenn/stats/generate_assumed.py."
    )
    return ExitStatistics(name, "confidence", THRESHOLDS, Provenance("assumption", text), tuple(curves))


def main() -> None:
    """Write every ``<network>.stats.yaml``."""
    for name, spec in NETWORKS.items():
        stats = build(name, spec)
        header = (f"{name}: ASSUMED exit statistics (no trained model was profiled); see provenance.text\n"
                  "Regenerate with: python3 workloads/eenn/stats/generate_assumed.py")
        write_statistics(stats, HERE / f"{name}.stats.yaml", header=header)


if __name__ == "__main__":
    main()
