"""`nianbao` — the command line. A thin shell over the library: it reads files, calls the pure core,
and prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from parser import Limits, ParseError, Record
from parser.guard import parse_guarded

from .render import render_findings, render_record

EXIT_OK = 0
EXIT_UNREADABLE = 2


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(max_bytes=int(args.max_mb * 1024 * 1024), max_pages=args.max_pages, seconds=args.timeout)


def _read(path: Path, limits: Limits) -> Record:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"cannot open: {exc.strerror}") from exc
    if size > limits.max_bytes:
        raise ParseError(f"too large: {size} bytes, over the limit of {limits.max_bytes}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror}") from exc
    return parse_guarded(data, limits=limits)


def cmd_parse(args: argparse.Namespace) -> int:
    limits = _limits(args)
    status = EXIT_OK
    for index, name in enumerate(args.paths):
        path = Path(name)
        try:
            record = _read(path, limits)
        except ParseError as exc:
            print(f"{path}: {exc.kind}: {exc.reason}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        if args.json:
            print(json.dumps(record.to_json(with_source=args.source), ensure_ascii=False))
        else:
            if index:
                print()
            print(f"== {path}")
            print(render_record(record))
        sys.stdout.flush()
    return status


def cmd_check(args: argparse.Namespace) -> int:
    import checks
    from checks.deadlines import load_calendar

    limits = _limits(args)
    status = EXIT_OK
    history: list[Record] = []
    for name in args.history or ():
        try:
            history.append(_read(Path(name), limits))
        except ParseError as exc:
            print(f"{name}: {exc.kind}: {exc.reason} (history file skipped)", file=sys.stderr)
    calendar = load_calendar()
    for index, name in enumerate(args.paths):
        path = Path(name)
        try:
            record = _read(path, limits)
        except ParseError as exc:
            print(f"{path}: {exc.kind}: {exc.reason}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        findings = checks.run(record, history=history, calendar=calendar, kind=args.kind, region=args.region or "")
        if args.json:
            print(json.dumps({"report": record.to_json(with_source=args.source),
                              "findings": [f.to_json() for f in findings]}, ensure_ascii=False))
        else:
            if index:
                print()
            print(f"== {path}: {record.title or '（标题未识别）'}")
            print(render_findings(findings))
        sys.stdout.flush()
    return status


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-mb", type=float, default=50, help="largest file read, in MB (default 50)")
    parser.add_argument("--max-pages", type=int, default=300, help="most pages read per document (default 300)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per document, OCR included (default 120)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nianbao", description="Monitor Chinese government information-"
                                     "disclosure annual reports (政府信息公开工作年度报告).")
    commands = parser.add_subparsers(dest="command", required=True)

    parse = commands.add_parser("parse", help="read report files into the canonical record")
    parse.add_argument("paths", nargs="+", help="report files: HTML, PDF (text or scanned), DOCX, DOC, text")
    parse.add_argument("--json", action="store_true", help="print nianbao.report/1 JSON (JSON Lines for several)")
    parse.add_argument("--source", action="store_true",
                       help="with --json: include the `source` block (format, pages, body text, evidence)")
    _add_limit_options(parse)
    parse.set_defaults(handler=cmd_parse)

    check = commands.add_parser("check", help="parse report files and list what is wrong with them")
    check.add_argument("paths", nargs="+", help="report files")
    check.add_argument("--json", action="store_true",
                       help='print {"report": ..., "findings": [...]} per file (JSON Lines for several)')
    check.add_argument("--source", action="store_true", help="with --json: include the record's `source` block")
    check.add_argument("--history", nargs="+", metavar="PATH",
                       help="the same agency's reports of other years (for CARRY-OVER, IN-FORCE-DRIFT, "
                            "DUPLICATE-CONTENT)")
    check.add_argument("--kind", choices=("department", "government", "township", "other"),
                       help="agency kind for the deadline (default: inferred from the agency's name)")
    check.add_argument("--region", help="行政区划代码 of the agency, for regional deadline rules")
    _add_limit_options(check)
    check.set_defaults(handler=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
