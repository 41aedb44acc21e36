"""study room of tnx_timeloop."""
