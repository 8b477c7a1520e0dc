"""Analysis of Featherweight results: published reference numbers, skyline, parameter and weight plots.

Modules: `reference` (the thesis tables), `skyline` (the size / score skyline and its plot), `parameters`
(parameters per model part), `weights` (weight histograms), `plot` (the `featherweight analyze plot`
command), `figures` (shared figure plumbing). Import them directly; this package imports nothing heavy.
"""
