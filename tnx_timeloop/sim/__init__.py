"""sim room of tnx_timeloop."""
