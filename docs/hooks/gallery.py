"""mkdocs hook: serve the committed example runs (``plots/example*/``: pages and figures) under ``gallery/``.

The figures and pages stay where a sweep wrote them (one copy in git); the site links to them as
``gallery/RUN_ID/index.html`` and ``gallery/RUN_ID/NAME.png``, and the strict build checks those links
like any other, so a renamed or removed example run fails the build.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    """Add every PNG and HTML page of ``plots/example*/`` to the site's files."""
    root = Path(config["config_file_path"]).resolve().parent
    for folder in sorted((root / "plots").glob("example*")):
        for path in sorted(folder.iterdir()):
            if path.suffix in (".png", ".html"):
                files.append(File.generated(config, f"gallery/{folder.name}/{path.name}", abs_src_path=str(path)))
    return files
