"""Run every benchmark in bench/ and write bench/RESULTS.md with the machine it ran on.

    python bench/run_all.py                 # all
    python bench/run_all.py access_grant    # only these; their sections replace the old ones

Each benchmark prints human-readable lines and one or more ``RESULT {json}`` lines; this
collects them. Benchmarks that need the lab take the machine-wide lab lock themselves.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py"}  # and helpers named _*.py


def machine() -> str:
    mem = ""
    try:
        kb = int(
            next(
                ln
                for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")
            ).split()[1]
        )
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.node()}: {os.cpu_count()} cores{mem}, {platform.platform()}, Python {platform.python_version()}"


def run(script: Path) -> tuple[list[dict[str, object]], str]:
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=3600, check=False
    )
    results = [
        json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")
    ]
    text = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("RESULT "))
    if proc.returncode:
        text += f"\n(exit {proc.returncode}) {proc.stderr.strip()[-500:]}"
    return results, text


def section(script: Path) -> str:
    """Run one benchmark; its Markdown section (output and a table of its RESULT lines)."""
    print(f"== {script.name}", flush=True)
    results, text = run(script)
    print(text, flush=True)
    lines = [f"## {script.stem}\n\n```\n{text.strip()}\n```\n"]
    if results:
        keys = list(dict.fromkeys(k for r in results for k in r))
        lines.append("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        lines.extend("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in results)
        lines.append("")
    return "\n".join(lines) + "\n"


def main(only: list[str]) -> None:
    """All benchmarks, or only the named ones: their sections replace those in RESULTS.md."""
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")
    )
    if only:
        unknown = set(only) - {p.stem for p in scripts}
        if unknown:
            sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        scripts = [p for p in scripts if p.stem in only]
    out = HERE / "RESULTS.md"
    sections = _sections(out.read_text()) if only and out.exists() else {}
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    for script in scripts:
        text = section(script)
        if only:
            text = text.replace("\n\n", f"\n\n(re-run {stamp})\n\n", 1)
        sections[script.stem] = text
    header = (
        sections.pop("", None) or f"# Benchmark results\n\nMeasured {stamp} on {machine()}.\n\n"
    )
    out.write_text(header + "".join(sections[k] for k in sorted(sections)))
    print(f"wrote {out}")


def _sections(text: str) -> dict[str, str]:
    """RESULTS.md split into its header ("") and one section per benchmark."""
    parts: dict[str, str] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            name = line[3:].strip()
        parts[name] = parts.get(name, "") + line
    return parts


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main(sys.argv[1:])
