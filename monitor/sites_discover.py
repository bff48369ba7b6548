"""`nianbao sites discover|import` — registry entries found from portals rather than typed — and the learned
shortcuts `nianbao sites check` reports."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXIT_OK, EXIT_UNRESOLVED = 0, 2


def _fetcher(args: argparse.Namespace) -> Any:
    from crawler.discovery import Fetcher

    from .cli import _settings

    settings = _settings(args)
    allowed = set(args.allow_host or []) | set(settings.allowed_hosts)
    return Fetcher(frozenset(h.strip().lower() for h in allowed if h.strip()), max_requests=args.max_requests,
                   browser=not args.no_browser, user_agent=settings.user_agent, chromium=settings.chromium)


def _registry_yaml(entries: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"sites": entries}, allow_unicode=True, sort_keys=False, width=200)


def cmd_discover(args: argparse.Namespace) -> int:
    from crawler.discovery import discover

    sites: list[dict[str, Any]] = []
    unresolved: list[dict[str, str]] = []
    keys: set[str] = set()
    for url in args.targets:
        found = discover(url, _fetcher(args), max_depth=args.max_depth)
        entries = _unique_keys(found.entries(), keys)
        sites += entries
        print(f"discover: {url}: " + (f"{len(entries)} column(s), {found.requests} requests, {found.seconds:.1f} s"
                                      if entries else f"unresolved: {found.why_not}"), file=sys.stderr)
        if not entries:
            unresolved.append({"url": url, "agency": found.agency or "", "why": found.why_not or ""})
    if args.json:
        print(json.dumps({"sites": sites, "unresolved": unresolved}, ensure_ascii=False, indent=1))
    else:
        sys.stdout.write(_registry_yaml(sites))
        for row in unresolved:
            print(f"# unresolved: {row['url']} ({row['agency'] or 'agency unknown'}): {row['why']}")
    return EXIT_OK if not unresolved else EXIT_UNRESOLVED


def _unique_keys(entries: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    for entry in entries:
        base, number = entry["key"], 1
        while entry["key"] in keys:
            number += 1
            entry["key"] = f"{base}-{number}"
        keys.add(entry["key"])
    return entries


@dataclass(frozen=True)
class AgencyRow:
    line: int
    agency: str
    url: str
    region: str | None
    kind: str | None


def read_agencies(text: str) -> list[AgencyRow]:
    """Rows of agency, portal URL, optional region (name or code) and kind; a header row is recognised."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if rows and not any(cell.strip().startswith(("http://", "https://")) for cell in rows[0]):
        rows = rows[1:]
        start = 2
    else:
        start = 1
    out = []
    for offset, row in enumerate(rows):
        cells = [cell.strip() for cell in row] + ["", "", "", ""]
        if not any(cells):
            continue
        out.append(AgencyRow(start + offset, cells[0], cells[1], cells[2] or None, cells[3] or None))
    return out


def _region(row: AgencyRow) -> tuple[str | None, str | None]:
    """The region code for a row: as given (a name or a code), else from the agency's name; and what was
    wrong with the one given, if anything."""
    from domain.regions import RegionNotFound, region_from_agency_name, resolve_region

    problem = None
    if row.region:
        try:
            return resolve_region(row.region).code, None
        except RegionNotFound as exc:
            problem = str(exc)  # said in the entry; the name may still tell
    region = region_from_agency_name(row.agency)
    return (region.code if region else None), problem


def cmd_import(args: argparse.Namespace) -> int:
    from crawler.discovery import discover

    source = Path(args.targets[0])
    rows = read_agencies(source.read_text(encoding="utf-8-sig"))
    output = Path(args.output or source.with_suffix(".registry.yaml"))
    report = Path(args.report or source.with_suffix(".unresolved.csv"))
    began = time.monotonic()
    done = 0

    def one(row: AgencyRow) -> tuple[AgencyRow, list[dict[str, Any]], str | None]:
        nonlocal done
        why: str | None
        if not row.agency or not row.url.startswith(("http://", "https://")):
            why = "no agency name" if not row.agency else f"not an http(s) portal URL: {row.url!r}"
            entries: list[dict[str, Any]] = []
            cost = ""
        else:
            region, region_problem = _region(row)
            found = discover(row.url, _fetcher(args), max_depth=args.max_depth)
            cost = f" ({found.requests} requests, {found.seconds:.2f} s)"
            entries = found.entries(agency=row.agency, region=region, kind=row.kind)
            why = found.why_not
            if region_problem:
                for entry in entries:
                    entry["discovery"]["region_problem"] = region_problem
        done += 1
        print(f"import: [{done}/{len(rows)}] {row.agency or row.url}: "
              + (f"{', '.join(e['platform'] + ' ' + e['list_urls'][0] for e in entries)}" if entries
                 else f"unresolved ({why})") + cost, file=sys.stderr, flush=True)
        return row, entries, why

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, rows))
    keys: set[str] = set()
    sites: list[dict[str, Any]] = []
    unresolved: list[tuple[AgencyRow, str]] = []
    for row, entries, why in results:
        if entries:
            sites += _unique_keys(entries, keys)
        else:
            unresolved.append((row, why or "no annual-report column found"))
    output.write_text(_registry_yaml(sites), encoding="utf-8")
    with report.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "agency", "portal_url", "why"])
        for row, why in unresolved:
            writer.writerow([row.line, row.agency, row.url, why])
    print(f"import: {len(rows)} agencies in {time.monotonic() - began:.1f} s: {len(sites)} site(s) written to "
          f"{output}, {len(unresolved)} unresolved listed in {report}", file=sys.stderr)
    return EXIT_OK if not unresolved else EXIT_UNRESOLVED


def print_shortcuts(sessions: Any) -> None:
    """Per site with a learned shortcut: does it still hold (as of the check just made)?"""
    from storage.shortcuts import shortcuts_by_site_key

    learned = shortcuts_by_site_key(sessions)
    if not learned:
        return
    print("\nlearned shortcuts (a list's JSON API, a challenge's clearance cookie):")
    for key in sorted(learned):
        for kind, shortcut in sorted(learned[key].items()):
            state = "holds" if shortcut.holds else "does not hold"
            detail = ""
            if kind == "api":
                from crawler.apishortcut import ApiShortcut

                detail = "; ".join(ApiShortcut.from_json(a).describe() for a in shortcut.data.get("lists", {}).values())
            elif shortcut.data.get("expires"):
                detail = "expires " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(shortcut.data["expires"])))
            checked = shortcut.checked_at.strftime("%Y-%m-%d %H:%M") if shortcut.checked_at else "-"
            print(f"{key:<12} {kind:<7} {state:<14} checked {checked}  {detail}"
                  + (f"  ({shortcut.note})" if shortcut.note else ""))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", help="discover: portal URLs; import: the agencies CSV")
    parser.add_argument("--json", action="store_true", help="discover: JSON instead of YAML registry entries")
    parser.add_argument("--output", help="import: the registry to write (default AGENCIES.registry.yaml)")
    parser.add_argument("--report", help="import: the unresolved rows' report (default AGENCIES.unresolved.csv)")
    parser.add_argument("--jobs", type=int, default=4, help="import: portals discovered at once (default 4)")
    parser.add_argument("--max-requests", type=int, default=30, help="discover: requests per portal (default 30)")
    parser.add_argument("--max-depth", type=int, default=3, help="discover: navigation levels (default 3)")
    parser.add_argument("--no-browser", action="store_true", help="discover: never start a browser (a portal "
                        "behind a cookie challenge then stays unresolved)")
