"""Training: failures → training data (`data`), one TrainConfig for every backend (`config`), vLLM's
adapter rules (`vllm_rules`), the SFT machinery (`sft/`), the backends (`backends/`: peft, unsloth,
grpo) and tiny base models trained from scratch (`scratch/`).

Layer rule: trainers import `protocols` and the standard library, never `harness`; the harness hands
trainers examples and callables (a run reader, a reward). Heavy packages (torch, transformers, peft, trl,
datasets) are imported inside the functions that use them.
"""
