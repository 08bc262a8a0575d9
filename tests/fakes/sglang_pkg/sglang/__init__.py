"""A stand-in `sglang` package for tests (put tests/fakes/sglang_pkg on PYTHONPATH): only
`python -m sglang.launch_server`, which records its argv and runs tests/fakes/sglang_contract_server."""
