"""The readers behind the UI's tabs: plain data from the run store and run directories, no gradio.

Everything here returns plain lists and dicts, so it is testable without a browser and the API endpoints
return exactly what the page shows. One module per job — import from it directly: `runs` (the store, one
run's summary, manifest, suite and breakdowns), `leaderboard`, `failures`, `compare`, `loop` (loop.json),
`files` (tolerant JSON readers), `text` (scrubbing, number formats, escaping).
"""
