"""Generate lib/syscalls/tables.json: per-architecture syscall name -> number tables.

Run with Debian's Python and its libseccomp binding (`npm run gen:syscalls`, which is
`/usr/bin/python3 scripts/gen-syscall-tables.py`). The tables are exactly the names the
installed libseccomp can resolve, which is what runc and crun can resolve too.

Numbers are enumerated by resolving number -> name. The opposite direction is unusable for
the multiplexed calls: on x86, s390 and ppc libseccomp answers `socket` or `semget` with the
number of `socketcall`/`ipc`, not the call's own number.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import seccomp

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "lib" / "syscalls" / "tables.json"

# Far above the highest number any of these tables uses (about 550 in 2025).
PROBE_LIMIT = 2048
# x32 calls are the x86_64 numbers with this bit set; libseccomp also resolves the bare
# numbers, but a filter sees (and the profile must name) the flagged ones.
X32_SYSCALL_BIT = 0x40000000
# ARM's private calls (breakpoint, cacheflush, set_tls, ...) live in the kernel's
# __ARM_NR_BASE range.
ARM_PRIVATE_BASE = 0x0F0000
ARM_PRIVATE_SIZE = 0x800
ARM_PRIVATE_LAST = ARM_PRIVATE_BASE + ARM_PRIVATE_SIZE - 1
# A binding that resolves only a handful of names is broken, not an old libseccomp.
MIN_NAMES_PER_ARCH = 250

ARCHITECTURES = {
    "SCMP_ARCH_X86_64": (seccomp.Arch.X86_64, [range(PROBE_LIMIT)]),
    "SCMP_ARCH_X86": (seccomp.Arch.X86, [range(PROBE_LIMIT)]),
    "SCMP_ARCH_X32": (seccomp.Arch.X32, [range(X32_SYSCALL_BIT, X32_SYSCALL_BIT + PROBE_LIMIT)]),
    "SCMP_ARCH_AARCH64": (seccomp.Arch.AARCH64, [range(PROBE_LIMIT)]),
    "SCMP_ARCH_ARM": (
        seccomp.Arch.ARM,
        [range(PROBE_LIMIT), range(ARM_PRIVATE_BASE, ARM_PRIVATE_BASE + ARM_PRIVATE_SIZE)],
    ),
    "SCMP_ARCH_RISCV64": (seccomp.Arch.RISCV64, [range(PROBE_LIMIT)]),
    "SCMP_ARCH_S390X": (seccomp.Arch.S390X, [range(PROBE_LIMIT)]),
    # s390x nodes run 31-bit s390 binaries, so profiles for them list S390 as well.
    "SCMP_ARCH_S390": (seccomp.Arch.S390, [range(PROBE_LIMIT)]),
    "SCMP_ARCH_PPC64LE": (seccomp.Arch.PPC64LE, [range(PROBE_LIMIT)]),
}


def libseccomp_version() -> str:
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libseccomp2"],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        sys.exit(f"gen-syscall-tables: dpkg-query cannot report the libseccomp2 version: {err}")
    return result.stdout.strip()


def resolve_table(scmp_name: str, arch: int, ranges: list[range]) -> dict[str, int]:
    table: dict[str, int] = {}
    for numbers in ranges:
        for number in numbers:
            try:
                name = seccomp.resolve_syscall(arch, number).decode("ascii")
            except ValueError:
                continue
            if name in table and table[name] != number:
                sys.exit(
                    f"gen-syscall-tables: libseccomp resolves {name} to both {table[name]} and {number} "
                    f"on {scmp_name}; the table format holds one number per name"
                )
            table[name] = number
    if len(table) < MIN_NAMES_PER_ARCH:
        sys.exit(
            f"gen-syscall-tables: only {len(table)} syscalls resolved on {scmp_name} "
            f"(expected at least {MIN_NAMES_PER_ARCH}); is the seccomp binding working?"
        )
    return table


def render(version: str) -> str:
    document = {
        "source": (
            f"libseccomp {version} (Debian package libseccomp2), enumerated by "
            "scripts/gen-syscall-tables.py resolving numbers to names with the python3-seccomp "
            f"binding: 0-{PROBE_LIMIT - 1} on every architecture, x32 with bit 0x40000000 set, "
            f"plus ARM's private range 0x{ARM_PRIVATE_BASE:06x}-0x{ARM_PRIVATE_LAST:06x}"
        ),
        "architectures": {
            scmp_name: resolve_table(scmp_name, arch, ranges)
            for scmp_name, (arch, ranges) in ARCHITECTURES.items()
        },
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the JSON (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args()
    text = render(libseccomp_version())
    args.output.write_text(text, encoding="utf-8", newline="\n")
    print(f"gen-syscall-tables: wrote {args.output}")


if __name__ == "__main__":
    main()
