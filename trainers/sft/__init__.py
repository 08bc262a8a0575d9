"""The SFT machinery every backend shares: loss masks (`masks`), trainer_log.jsonl and progress (`log`),
checkpoints and --resume (`checkpoints`), training.json (`record`), seeds and quiet libraries
(`runtime`), the shared-prefix loss (`prefix`) and the TRL SFTTrainer glue (`trainer`)."""
from __future__ import annotations

from trainers.sft.checkpoints import RUN_CONFIG, checkpoints
from trainers.sft.log import LOG_FIELDS, LOG_NAME, Progress, TrainerLog, read_trainer_log
from trainers.sft.masks import (IGNORE_INDEX, encode_examples, has_generation_markers, require_generation_markers,
                                target_tokens)
from trainers.sft.record import TRAINING_JSON

__all__ = ["IGNORE_INDEX", "LOG_FIELDS", "LOG_NAME", "Progress", "RUN_CONFIG", "TRAINING_JSON", "TrainerLog",
           "checkpoints", "encode_examples", "has_generation_markers", "read_trainer_log",
           "require_generation_markers", "target_tokens"]
