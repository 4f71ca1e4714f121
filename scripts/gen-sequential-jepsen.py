#!/usr/bin/env python3
"""Writes a sequential Jepsen etcd register history of about SIZE bytes to stdout, for timing
`quorate-sim lincheck` on long histories (see README). Usage: gen-sequential-jepsen.py SIZE_MB

Five processes take turns; each operation completes before the next is invoked, cycling through
write, read (of the value just written), cas from it (ok) and a failing cas. The result is
linearizable and every operation is ordered, so a checker should cost the same per operation
however long the file."""
import sys

def main():
    target = int(float(sys.argv[1]) * 1_000_000)
    out = sys.stdout
    written, i, value = 0, 0, 0
    lines = []
    while written < target:
        p = i % 5
        kind = i % 4
        if kind == 0:
            value = i
            ev = [f"{p}\t:invoke\t:write\t{value}", f"{p}\t:ok\t:write\t{value}"]
        elif kind == 1:
            ev = [f"{p}\t:invoke\t:read\tnil", f"{p}\t:ok\t:read\t{value}"]
        elif kind == 2:
            ev = [f"{p}\t:invoke\t:cas\t[{value} {value + 1}]", f"{p}\t:ok\t:cas\t[{value} {value + 1}]"]
            value += 1
        else:
            ev = [f"{p}\t:invoke\t:cas\t[{value + 7} 0]", f"{p}\t:fail\t:cas\t[{value + 7} 0]"]
        for e in ev:
            line = f"INFO  jepsen.util - {e}\n"
            lines.append(line)
            written += len(line)
        if len(lines) > 10000:
            out.write("".join(lines))
            lines.clear()
        i += 1
    out.write("".join(lines))

main()
