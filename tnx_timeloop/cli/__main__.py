"""``python -m tnx_timeloop.cli``: the same as the ``tnx`` command."""

from tnx_timeloop.cli import main

main()
