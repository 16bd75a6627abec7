"""Notebooks 00 and 03: banner, plots, image upload, config editor (ipywidgets)."""
