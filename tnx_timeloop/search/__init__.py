"""search room of tnx_timeloop."""
