"""The models: the cerebellum (GGUF LLM), the embedder, model files, prompts, the gate's calibration."""
