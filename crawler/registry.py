"""Site profiles as data: a YAML registry of the sites to watch (agency, region, kind, list URLs, platform,
whether a browser is needed), and the platform profiles those entries refer to."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLATFORMS = ("trs", "hanweb", "jsapi", "challenge", "plain", "auto")

# How each platform is read; a site entry may override any of these under `profile:`.
PLATFORM_DEFAULTS: dict[str, dict[str, Any]] = {
    "trs": {"browser": False},
    "hanweb": {"browser": False},
    "jsapi": {"browser": True, "ready_selector": "#list li, #list[data-loaded]"},
    "challenge": {"browser": True, "ready_selector": "#list li, #list[data-loaded]"},
    "plain": {"browser": False},
    "auto": {"browser": False},
}


@dataclass(frozen=True)
class SiteProfile:
    key: str
    agency: str
    list_urls: tuple[str, ...]
    platform: str = "auto"
    region: str | None = None
    kind: str | None = None
    browser: bool = False
    robots: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, PLATFORM_DEFAULTS.get(self.platform, {}).get(name, default))


def parse_registry(text: str) -> list[SiteProfile]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("sites", []), list):
        raise ValueError("a site registry is a mapping with a `sites:` list of sites (its top level is "
                         f"{'a list' if isinstance(data, list) else type(data).__name__})")
    sites = []
    for entry in data.get("sites", []):
        platform = entry.get("platform", "auto")
        if platform not in PLATFORMS:
            raise ValueError(f"site {entry.get('key')}: unknown platform {platform!r} (one of {', '.join(PLATFORMS)})")
        browser = entry.get("browser", PLATFORM_DEFAULTS[platform]["browser"])
        sites.append(SiteProfile(key=str(entry["key"]), agency=str(entry["agency"]),
                                 list_urls=tuple(entry["list_urls"]), platform=platform,
                                 region=str(entry["region"]) if entry.get("region") else None, kind=entry.get("kind"),
                                 browser=bool(browser), robots=bool(entry.get("robots", True)),
                                 options=dict(entry.get("profile") or {})))
    keys = [s.key for s in sites]
    if len(keys) != len(set(keys)):
        raise ValueError("site keys must be unique in a registry")
    return sites


def load_registry(location: str) -> list[SiteProfile]:
    """A registry from a file path or an http(s) URL (e.g. the sandbox's /__sandbox__/sites.yaml)."""
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=30) as response:
            return parse_registry(response.read().decode("utf-8"))
    return parse_registry(Path(location).read_text(encoding="utf-8"))
