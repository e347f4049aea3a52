"""Run every benchmark in bench/ and write bench/RESULTS.md with the machine it ran on.

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
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.node()}: {os.cpu_count()} cores{mem}, {platform.platform()}, Python {platform.python_version()}"


def run(script: Path) -> tuple[list[dict[str, object]], str]:
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=3600, check=False)
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    text = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("RESULT "))
    if proc.returncode:
        text += f"\n(exit {proc.returncode}) {proc.stderr.strip()[-500:]}"
    return results, text


def main() -> None:
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")
    )
    lines = [f"# Benchmark results\n\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.\n"]
    for script in scripts:
        print(f"== {script.name}", flush=True)
        results, text = run(script)
        print(text, flush=True)
        lines.append(f"## {script.stem}\n\n```\n{text.strip()}\n```\n")
        if results:
            keys = list(results[0])
            lines.append("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
            lines.extend("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in results)
            lines.append("")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
