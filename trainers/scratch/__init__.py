"""Tiny base models trained from scratch: the tokenizer (`tokenizer`), presets and model building
(`presets`), copy augmentation (`augment`), the schedule and thread tuning (`schedule`) and the training
loop of `harness train-base` (`train`)."""
from __future__ import annotations

from trainers.scratch.presets import PRESETS, Preset, build_tiny_model, init_model
from trainers.scratch.tokenizer import CHAT_TEMPLATE, corpus_texts, train_tokenizer
from trainers.scratch.train import TrainBaseConfig, TrainBaseResult, train_base

__all__ = ["CHAT_TEMPLATE", "PRESETS", "Preset", "TrainBaseConfig", "TrainBaseResult", "build_tiny_model",
           "corpus_texts", "init_model", "train_base", "train_tokenizer"]
