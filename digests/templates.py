"""The Jinja2 environment for digests and alerts: admin overrides first, then ours, then the
command templates (shared partials such as `_footer.j2`)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from commands.rendering import make_environment
from storage.config import ConfigError, RevbotConfig

DIGEST_TEMPLATES = Path(__file__).parent / "templates"


def digest_environment(config: RevbotConfig) -> Environment:
    dirs: list[str | Path] = []
    if config.digests.template_dir:
        folder = Path(config.digests.template_dir)
        if not folder.is_dir():
            raise ConfigError(f"revbot.toml: `digests.template_dir`: {folder} is not a folder")
        dirs.append(folder)
    dirs.append(DIGEST_TEMPLATES)
    return make_environment(*dirs)
