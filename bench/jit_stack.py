# gdb script: name the Erlang functions on the crashing thread's stack in a
# core of a JIT-enabled BEAM (OTP 25) that ran without `+JPperf map`.
#
#   gdb -q -batch -ex "source bench/jit_stack.py" \
#       /usr/lib/erlang/erts-*/bin/beam.smp CORE
#
# The JIT registers every module's code with gdb's JIT interface
# (__jit_debug_descriptor); gdb cannot read OTP 25's format ("JITed symbol
# file is not an object file"), but the entries are in the core. Each holds
# the code's base address and, per function, its start and end offsets
# (u32 each, then a u32 line count) right before its name (a u16 length,
# then "Mod:fun/Arity" and a NUL). This reads them and prints the words
# above the stack pointer: a code address with its function, or the term's
# tag (cons, boxed, immediate).
import bisect
import re
import struct

import gdb

inf = gdb.selected_inferior()


def read(addr, n):
    return bytes(inf.read_memory(addr, n))


def u64(addr):
    return struct.unpack("<Q", read(addr, 8))[0]


ranges = []
entry = u64(int(gdb.parse_and_eval("(long)&__jit_debug_descriptor")) + 16)
while entry:
    symfile, size = u64(entry + 16), u64(entry + 24)
    blob = read(symfile, size)
    base = struct.unpack("<Q", blob[8:16])[0]
    for m in re.finditer(rb"[A-Za-z0-9_.$@']+:{1,2}[^\x00]{1,300}\x00", blob):
        s = m.start()
        if s < 14 or struct.unpack("<H", blob[s - 2 : s])[0] != m.end() - s:
            continue
        start, stop, _lines = struct.unpack("<III", blob[s - 14 : s - 2])
        if stop > start:
            ranges.append((base + start, base + stop, m.group()[:-1].decode(errors="replace")))
    entry = u64(entry)
ranges.sort()
starts = [r[0] for r in ranges]


def name(addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and ranges[i][0] <= addr < ranges[i][1]:
        return "%s+%#x" % (ranges[i][2], addr - ranges[i][0])
    return None


print("%d JIT code ranges" % len(ranges))
pc = int(gdb.parse_and_eval("$pc"))
print("pc %#x %s" % (pc, name(pc) or "(not code)"))
rsp = int(gdb.parse_and_eval("$rsp"))
for k in range(-4, 120):
    v = u64(rsp + 8 * k)
    tag = {1: "cons", 2: "boxed", 3: "immediate"}.get(v & 3, "")
    print("%+4d %#x %#018x %s" % (k, rsp + 8 * k, v, name(v) or tag))
