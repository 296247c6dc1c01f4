"""Measurements of the cerebellum's decisions and the store's recall, for whatever GGUF models are configured."""
