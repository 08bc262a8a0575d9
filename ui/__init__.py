"""The Gradio app behind `harness ui`: `app` (launch and layout), `tabs/` (one module per tab), `data/` (the
readers behind the tabs), `api` (the named endpoints), `charts` (SVG), `forms` (job forms -> command lines),
`jobs` (the job registry) and `jobrun` (the wrapper each job runs under), `browser` (headless Chromium for
tests and screenshots). It reads harness only through its public API and the harness.log/harness.score
readers."""
