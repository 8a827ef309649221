"""Views of runs: terminal tables and progress, figures, HTML pages, Markdown.

Everything here reads tables and metadata and draws or prints them; nothing here
measures. The core modules of :mod:`harness` never import this package.
"""
