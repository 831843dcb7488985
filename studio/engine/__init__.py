"""Qt-free engine: executor, worker process and its client."""
