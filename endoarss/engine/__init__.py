"""The training engine: the ``Trainer`` loop, its resumable state, checkpoints, and the RUN folder."""
