"""spec room of tnx_timeloop."""
