"""energy room of tnx_timeloop."""
