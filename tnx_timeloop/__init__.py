"""tnx-timeloop: Timeloop-compatible accelerator modelling and design-space exploration."""

__version__ = "0.1.0"
