"""frontends room of tnx_timeloop."""
