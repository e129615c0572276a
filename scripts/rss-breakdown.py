#!/usr/bin/env python3
"""Which parts of a running program are resident, by module (issue 9, item 5).

    scripts/rss-breakdown.py PID [TOP]      (as root: it reads /proc/PID/pagemap)

Reads the program's mappings of its own executable from /proc/PID/maps, asks /proc/PID/pagemap
which of their pages are present, and attributes each present page to the symbol it falls in, and
so to a Swift module (from the mangled name), the Swift runtime, ICU, C++ or C. The executable
must still have its symbol table (an unstripped build, e.g. .build-static/release/insitu): a
stripped one attributes everything to the few dynamic symbols. Pages before the first symbol are
the ELF headers, dynamic symbol table and relocations. The kernel maps file pages around each fault
(fault-around), so a module's share is the code near what ran, not only what ran.
"""
import bisect
import collections
import re
import struct
import subprocess
import sys

PAGE = 4096


def module_of(name: str) -> str:
    match = re.match(r"^_?\$s(\d+)", name)
    if match:
        length = int(match.group(1))
        start = match.end()
        return name[start:start + length]
    if name.startswith("$ss") or name.startswith("$sS"):
        return "Swift"
    if name.startswith("swift_") or name.startswith("_swift") or name.startswith("_ZN5swift"):
        return "Swift runtime"
    if "icu_" in name or name.startswith("icudt"):
        return "ICU"
    if name.startswith("_Z"):
        return "C++"
    return "C"


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    pid = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    executable = subprocess.run(["readlink", "-f", f"/proc/{pid}/exe"], capture_output=True, text=True).stdout.strip()
    mappings = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == executable:
                low, high = (int(x, 16) for x in fields[0].split("-"))
                mappings.append((low, high, fields[1], int(fields[2], 16)))
    if not mappings:
        print(f"rss-breakdown: no mapping of {executable} in process {pid}", file=sys.stderr)
        return 1
    base = min(low - offset for low, _, _, offset in mappings)
    symbols = []
    listing = subprocess.run(["nm", "-n", "--defined-only", executable], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTrRdDbBvVwW":
            symbols.append((int(parts[0], 16), parts[2]))
    if len(symbols) < 1000:
        print(f"rss-breakdown: {executable} has {len(symbols)} symbols: use an unstripped build", file=sys.stderr)
    addresses = [address for address, _ in symbols]
    pages = collections.Counter()
    total = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for low, high, permissions, _ in mappings:
            pagemap.seek(low // PAGE * 8)
            entries = pagemap.read((high - low) // PAGE * 8)
            for index in range(0, len(entries), 8):
                (entry,) = struct.unpack("<Q", entries[index:index + 8])
                if not entry >> 63 & 1:
                    continue
                address = low + index // 8 * PAGE - base
                position = bisect.bisect_right(addresses, address) - 1
                # Before the first code or data symbol (the ABI note's) lie the ELF headers, the
                # dynamic symbol table and the relocations.
                if position <= 0 or symbols[position][1] == "__abi_tag":
                    owner = "headers, dynamic symbols, relocations"
                else:
                    owner = module_of(symbols[position][1])
                pages[(permissions, owner)] += 1
                total += 1
    print(f"{executable}: {total * PAGE / 1048576:.1f} MB of its own pages resident")
    for (permissions, owner), count in pages.most_common(top):
        print(f"{count * PAGE / 1048576:7.2f} MB  {permissions}  {owner}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
