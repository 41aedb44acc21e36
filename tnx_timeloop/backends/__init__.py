"""backends room of tnx_timeloop."""
