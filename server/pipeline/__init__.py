"""The memory pipeline: the write path, the Decider, recall, reconcile, forget and undo, results."""
