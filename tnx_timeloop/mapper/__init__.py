"""mapper room of tnx_timeloop."""
