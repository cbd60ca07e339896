# Sphinx configuration of mod_swiftwsgi's documentation (built by `make docs`).
# Pages are Markdown (MyST); Debian 12's python3-sphinx 5.3 and python3-myst-parser 0.18 build them
# (scripts/setup-debian installs both), with no network.

project = 'mod_swiftwsgi'
author = 'the mod_swiftwsgi authors'
copyright = '2026, ' + author

extensions = ['myst_parser']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']

# "#some-heading" links and {ref} targets for headings down to ###.
myst_heading_anchors = 3
# ":Syntax: ..." field lists: the directive reference's Apache-style entries.
myst_enable_extensions = ['fieldlist', 'deflist']

# Literal blocks are configuration, shell and Python alike: no guessing of a lexer.
highlight_language = 'none'

nitpicky = True

html_theme = 'alabaster'
html_title = 'mod_swiftwsgi'
html_theme_options = {'description': 'Python WSGI applications in Apache, with a Swift core', 'fixed_sidebar': True}
