# Sphinx configuration of the offline docs site (tools/build_docs.py copies this folder next to the processed
# notebooks and builds into docs/). Notebooks are rendered as executed by papermill: MyST-NB never runs them.
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['='])
_cfg.read(Path(__file__).resolve().parents[3] / 'settings.ini')   # build/docs-src/src -> repository root
_cfg = _cfg['DEFAULT']

project = _cfg['title']
author = _cfg['author']
copyright = _cfg['copyright']
release = _cfg['version']

extensions = ['myst_nb']
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence']
myst_heading_anchors = 3
nb_execution_mode = 'off'                 # executed by papermill beforehand
nb_merge_streams = True
exclude_patterns = ['_build', '**.ipynb_checkpoints']
suppress_warnings = ['myst.header', 'misc.highlighting_failure', 'mystnb.unknown_mime_type']

html_theme = 'furo'
html_title = f"{project} {release}"
html_static_path = ['_static']
html_show_sourcelink = False
html_copy_source = False
# MathJax 3 from this site, never a CDN (the site must work with no network): the es5 build that the PyPI package
# django-static-mathjax ships (MathJax 3.2.2 as static files, no dependencies; only its files are used). The SVG
# output draws glyphs as paths, so no web fonts are fetched.
mathjax_path = 'mathjax/tex-svg-full.js'
mathjax3_config = {'svg': {'fontCache': 'global'}, 'options': {'enableMenu': False}}
html_favicon = '_static/favicon.png'
