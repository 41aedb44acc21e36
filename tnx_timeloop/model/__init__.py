"""model room of tnx_timeloop."""
