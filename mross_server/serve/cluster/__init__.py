"""Several machines behind one front door, on Ray: `dispatcher` (in the front door, no Ray), `bridge` (the
Ray driver, a child process), `worker` (the actor holding a warm engine), `link` (what the two sides say over
their pipe), `pool` (which job goes to which worker)."""
