"""The app's tabs, one module each: `leaderboard`, `run` (run detail and the failure explorer), `compare`,
`jobs` (the job console; its views over the registry in `job_views`). Each module has the tab's view
functions (plain values and gradio updates), a `build_*` that lays the tab out and returns its components,
and a `wire_*` for the events that stay inside the tab; ui.app wires the events between tabs.
"""
