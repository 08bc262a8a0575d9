"""Evaluating a model against a suite through an endpoint: `config` (EvalConfig, case selection), `plan`
(request bodies), `dispatch` (the worker pool and reply handling), `run` (the whole run), and `local`
(in-process generation for training loops). aiohttp is imported only when a request must be sent."""
from harness.eval.config import EvalConfig, Outcome, check_key_env_name, parse_shard
from harness.eval.run import run_eval

__all__ = ["EvalConfig", "Outcome", "check_key_env_name", "parse_shard", "run_eval"]
