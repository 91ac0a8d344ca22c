"""App support: what an app port needs from an export folder.

`golden` writes `golden.json` (the cases a port must reproduce exactly; each task contributes
its sections through `Task.golden`) and the model-free recommendation rules file; `bundle`
copies an export into an app's assets, every file checked against the manifest, swapped in
whole. The commands are `python -m export.golden` and `python -m export.bundle`.
"""
