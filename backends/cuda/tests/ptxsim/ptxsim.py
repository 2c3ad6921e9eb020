#!/usr/bin/env python3
"""A small PTX simulator for the subset of PTX that tessera-cuda prints, to check the
semantics of generated kernels on machines without a GPU.

Usage: ptxsim.py KERNEL.ptx GRIDX,GRIDY,GRIDZ BUF0.bin BUF1.bin ...
       ptxsim.py --batch MANIFEST   (one such command line per line)

Runs every thread of the launch (threads of a block in lock-step between `bar.sync`s and
`shfl.sync.bfly`s, which exchange register values within each warp of 32 threads, and
warp-collective `mma.sync`s, which every thread of the block must reach together),
with the buffers bound to the kernel's pointer parameters in order (plus a status word), and
writes the buffers back in place. Prints `status N` (the status word). Arithmetic follows
IEEE with round-to-nearest-even via numpy scalars; an access outside every buffer, or an
instruction it does not know, is an error (exit code 2), so predicated-off accesses really
must be predicated off.
"""

import re
import struct
import sys
from fractions import Fraction

import numpy as np

np.seterr(all="ignore")


class SimError(Exception):
    pass


def f32_of(bits):
    return np.frombuffer(struct.pack("<I", bits & 0xFFFFFFFF), dtype=np.float32)[0]


def bits_f32(v):
    return struct.unpack("<I", np.float32(v).tobytes())[0]


def f64_of(bits):
    return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]


def bits_f64(v):
    return struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def f16_of(bits):
    return np.frombuffer(struct.pack("<H", bits & 0xFFFF), dtype=np.float16)[0]


def bits_f16(v):
    return struct.unpack("<H", np.float16(v).tobytes())[0]


def bf16_bits_rne(f32bits):
    if (f32bits & 0x7FFFFFFF) > 0x7F800000:
        return ((f32bits >> 16) | 0x40) & 0xFFFF
    lsb = (f32bits >> 16) & 1
    return ((f32bits + 0x7FFF + lsb) >> 16) & 0xFFFF


def tf32_bits_rna(f32bits):
    """f32 bits rounded to tf32 (10 mantissa bits, nearest, ties away from zero)."""
    if (f32bits & 0x7F800000) == 0x7F800000:
        return f32bits  # inf and NaN unchanged
    return ((f32bits & 0xFFFFFFFF) + 0x1000) & 0xFFFFE000


def signed(v, w):
    v &= (1 << w) - 1
    return v - (1 << w) if v >> (w - 1) else v


WIDTH = {"8": 8, "16": 16, "32": 32, "64": 64}


_TW = {}


def tw(t):
    w = _TW.get(t)
    if w is None:
        w = _TW[t] = int(re.sub(r"[a-zA-Z]", "", t) or "1")
    return w


class Kernel:
    def __init__(self, text):
        self.params = re.findall(r"\.param \.u64[^,\n]* (param_\w+)", text)
        self.shared = {}
        off = 0
        for name, size in re.findall(r"\.shared \.align 16 \.b8 (\w+)\[(\d+)\]", text):
            self.shared[name] = off
            off += (int(size) + 15) // 16 * 16
        self.shared_size = off
        m = re.search(r"\.reqntid (\d+), (\d+), (\d+)", text)
        self.block = tuple(int(x) for x in m.groups()) if m else (1, 1, 1)
        body = text[text.index("{", text.index(".entry")) + 1 : text.rindex("}")]
        self.code = []
        self.labels = {}
        for line in body.split("\n"):
            line = line.split("//")[0].strip()
            if not line or line.startswith(".reg") or line.startswith(".shared"):
                continue
            if line.endswith(":"):
                self.labels[line[:-1]] = len(self.code)
                continue
            line = line.rstrip(";")
            guard = None
            if line.startswith("@"):
                g, line = line.split(None, 1)
                guard = (g[1:].startswith("!"), g.lstrip("@!"))
            parts = line.split(None, 1)
            op = parts[0]
            args = split_args(parts[1]) if len(parts) > 1 else []
            self.code.append((guard, op, op.split("."), args))


def split_args(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Memory:
    def __init__(self, bufs):
        self.bufs = bufs  # list of bytearray
        self.base = [0x10000000 * (i + 1) for i in range(len(bufs))]

    def locate(self, addr, n):
        for b, base in zip(self.bufs, self.base):
            if base <= addr and addr + n <= base + len(b):
                return b, addr - base
        raise SimError(f"global access of {n} bytes at {addr:#x} outside every buffer")


class Thread:
    def __init__(self, k, mem, shared, tid, ctaid):
        self.k, self.mem, self.shared = k, mem, shared
        self.r = {}
        self.tid, self.ctaid = tid, ctaid
        self.pc = 0

    # -- operands ------------------------------------------------------------------------
    def val(self, a, t):
        """Operand `a` as raw bits (ints) for type t, or bool for predicates."""
        if a in self.r:
            return self.r[a]
        if a.startswith("%tid.") or a.startswith("%ctaid."):
            ax = "xyz".index(a[-1])
            return (self.tid if a.startswith("%tid") else self.ctaid)[ax]
        if a.startswith("0f"):
            return int(a[2:], 16)
        if a.startswith("0d"):
            return int(a[2:], 16)
        if a in self.k.shared:
            return self.k.shared[a]
        if a.lstrip("-").isdigit():
            v = int(a)
            w = tw(t) if any(c.isdigit() for c in t) else 32
            if t[0] == "f":
                # integer immediates are not valid for float types
                raise SimError(f"integer immediate {a} for type {t}")
            return v & ((1 << w) - 1)
        raise SimError(f"unknown operand {a}")

    def fval(self, a, t):
        b = self.val(a, t)
        return f32_of(b) if t == "f32" else f64_of(b)

    def set(self, d, v):
        self.r[d] = v

    def addr(self, a):
        inner = a[1:-1]
        reg, _, off = inner.partition("+")
        return self.r[reg] + int(off or 0)

    # -- memory ----------------------------------------------------------------------------
    def load(self, space, addr, t):
        n = tw(t) // 8
        if space == "shared":
            if addr + n > len(self.shared) or addr < 0:
                raise SimError(f"shared access at {addr} outside shared memory")
            buf, off = self.shared, addr
        else:
            buf, off = self.mem.locate(addr, n)
        raw = int.from_bytes(buf[off : off + n], "little")
        if t[0] == "s":
            raw = signed(raw, 8 * n) & 0xFFFFFFFFFFFFFFFF
        return raw

    def store(self, space, addr, t, v):
        n = tw(t) // 8
        if space == "shared":
            if addr + n > len(self.shared) or addr < 0:
                raise SimError(f"shared access at {addr} outside shared memory")
            buf, off = self.shared, addr
        else:
            buf, off = self.mem.locate(addr, n)
        buf[off : off + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    # -- execution ---------------------------------------------------------------------------
    def run(self):
        """A generator: yields None at every bar.sync and a tuple at every shfl (and is sent
        the exchanged value back), returns at ret."""
        code = self.k.code
        budget = 2_000_000
        while True:
            budget -= 1
            if budget == 0:
                raise SimError("instruction budget exceeded (a loop that does not end?)")
            guard, op, parts, args = code[self.pc]
            self.pc += 1
            if guard is not None:
                neg, p = guard
                if bool(self.r[p]) == neg:
                    continue
            if op == "ret":
                return
            if op == "bar.sync":
                yield None
                continue
            if op.startswith("shfl.sync.bfly"):
                # shfl.sync.bfly.b32 d, a, lanemask, clamp, membermask: the block runner
                # exchanges the values of the whole block and sends back this thread's.
                got = yield ("shfl", self.pc, self.val(args[1], "b32") & 0xFFFFFFFF,
                             int(args[2]), int(args[3]), int(args[4]) & 0xFFFFFFFF)
                self.set(args[0], got)
                continue
            if op.startswith("mma."):
                yield ("mma", self.pc)
                continue
            if op == "bra":
                self.pc = self.k.labels[args[0]]
                continue
            self.exec(parts, args)

    def exec(self, parts, a):
        name = parts[0]
        t = parts[-1]
        if name == "mov":
            half = tw(t) // 2
            m = (1 << half) - 1
            if a[0].startswith("{"):
                # unpack: {lo, hi} = the low and high halves
                regs = [x.strip() for x in a[0].strip("{}").split(",")]
                v = self.val(a[1], t)
                self.set(regs[0], v & m)
                self.set(regs[1], (v >> half) & m)
            elif a[1].startswith("{"):
                regs = [x.strip() for x in a[1].strip("{}").split(",")]
                lo, hi = self.val(regs[0], f"b{half}"), self.val(regs[1], f"b{half}")
                self.set(a[0], (lo & m) | ((hi & m) << half))
            elif t == "pred":
                self.set(a[0], bool(self.val(a[1], t)))
            else:
                self.set(a[0], self.val(a[1], t) & ((1 << tw(t)) - 1))
            return
        if name == "ld" and parts[1] == "param":
            idx = self.k.params.index(a[1].strip("[]"))
            self.set(a[0], self.mem.base[idx] if idx < len(self.mem.base) else 0)
            return
        if name == "cvta":
            self.set(a[0], self.val(a[1], "u64"))
            return
        if name in ("ld", "st"):
            space = parts[1]
            vec = parts[2] if parts[2].startswith("v") else None
            if name == "ld":
                regs = [x.strip() for x in a[0].strip("{}").split(",")] if vec else [a[0]]
                base = self.addr(a[1])
                n = tw(t) // 8
                for i, r in enumerate(regs):
                    if vec and base % (n * len(regs)) != 0:
                        raise SimError(f"misaligned vector load at {base:#x}")
                    self.set(r, self.load(space, base + i * n, t))
            else:
                regs = [x.strip() for x in a[1].strip("{}").split(",")] if vec else [a[1]]
                base = self.addr(a[0])
                n = tw(t) // 8
                for i, r in enumerate(regs):
                    if vec and base % (n * len(regs)) != 0:
                        raise SimError(f"misaligned vector store at {base:#x}")
                    self.store(space, base + i * n, t, self.val(r, t))
            return
        if name == "red":
            addr = self.addr(a[0])
            buf, off = self.mem.locate(addr, 4)
            v = int.from_bytes(buf[off : off + 4], "little") | self.val(a[1], "b32")
            buf[off : off + 4] = v.to_bytes(4, "little")
            return
        if name == "setp":
            self.set(a[0], self.setp(parts[1], t, a[1], a[2]))
            return
        if name == "selp":
            p = self.r[a[3]]
            self.set(a[0], self.val(a[1] if p else a[2], t))
            return
        if name == "cvt":
            self.set(a[0], self.cvt(parts[1:], a[1]))
            return
        if t == "pred":
            x = [bool(self.val(v, t)) for v in a[1:]]
            r = {"and": lambda: x[0] and x[1], "or": lambda: x[0] or x[1],
                 "xor": lambda: x[0] != x[1], "not": lambda: not x[0]}[name]()
            self.set(a[0], r)
            return
        if t in ("f16x2", "bf16x2"):
            self.set(a[0], self.packed_op(name, parts, t, a[1:]))
            return
        if t[0] == "f":
            self.set(a[0], self.float_op(name, parts, t, a[1:]))
            return
        self.set(a[0], self.int_op(name, parts, t, a[1:]))

    def setp(self, cmp, t, x, y):
        if t[0] == "f":
            a, b = self.fval(x, t), self.fval(y, t)
            nan = bool(np.isnan(a) or np.isnan(b))
            if cmp == "nan":
                return nan
            if cmp == "num":
                return not nan
            base = cmp.rstrip("u")
            unordered = cmp.endswith("u") and cmp not in ("nu",)
            if nan:
                return unordered
            return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b,
                    "gt": a > b, "ge": a >= b}[base]
        w = tw(t)
        a, b = self.val(x, t) & ((1 << w) - 1), self.val(y, t) & ((1 << w) - 1)
        if t[0] == "s":
            a, b = signed(a, w), signed(b, w)
        return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b,
                "gt": a > b, "ge": a >= b}[cmp]

    def float_op(self, name, parts, t, a):
        f = [self.fval(x, t) for x in a]
        is32 = t == "f32"
        cast = np.float32 if is32 else np.float64
        f = [cast(x) for x in f]
        if name == "add":
            r = f[0] + f[1]
        elif name == "sub":
            r = f[0] - f[1]
        elif name == "mul":
            r = f[0] * f[1]
        elif name == "div":
            r = f[0] / f[1]
        elif name == "fma":
            x, y, z = f
            if all(np.isfinite(v) for v in f):
                exact = Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
                if is32:
                    r = np.float32(round_f32(exact))
                elif exact == 0:
                    r = x * y + z
                else:
                    try:
                        r = np.float64(float(exact))
                    except OverflowError:
                        r = np.float64(np.inf if exact > 0 else -np.inf)
            else:
                r = cast(np.float64(x) * np.float64(y) + np.float64(z))
        elif name == "sqrt":
            r = np.sqrt(f[0])
        elif name in ("sin", "cos") and "approx" in parts:
            r = cast(np.sin(np.float64(f[0])) if name == "sin" else np.cos(np.float64(f[0])))
        elif name == "rcp":
            r = cast(1) / f[0]
        elif name == "neg":
            r = -f[0]
        elif name == "abs":
            r = abs(f[0])
        elif name in ("min", "max"):
            if "NaN" in parts and (np.isnan(f[0]) or np.isnan(f[1])):
                r = cast(np.nan)
            elif np.isnan(f[0]):
                r = f[1]
            elif np.isnan(f[1]):
                r = f[0]
            else:
                r = min(f[0], f[1]) if name == "min" else max(f[0], f[1])
        else:
            raise SimError(f"unknown float op {name}.{t}")
        return bits_f32(r) if is32 else bits_f64(r)

    def packed_op(self, name, parts, t, a):
        """add/sub/mul/fma .rn on two f16 or bf16 lanes, each rounded once (nearest even)."""
        if "rn" not in parts:
            raise SimError(f"packed op {'.'.join(parts)} without .rn")
        half = t == "f16x2"

        def lane(bits):
            return float(f16_of(bits)) if half else float(f32_of(bits << 16))

        def rounded(x):
            if half:
                return bits_f16(np.float16(x))
            return bf16_bits_rne(bits_f32(np.float32(x)))

        out = 0
        for shift in (0, 16):
            v = [lane((self.val(x, "b32") >> shift) & 0xFFFF) for x in a]
            if name == "add":
                r = v[0] + v[1]
            elif name == "sub":
                r = v[0] - v[1]
            elif name == "mul":
                r = v[0] * v[1]
            elif name == "fma" and half:
                if all(np.isfinite(x) for x in v):
                    ex = Fraction(v[0]) * Fraction(v[1]) + Fraction(v[2])
                    r = float(ex) if ex != 0 else v[0] * v[1] + v[2]
                else:
                    r = v[0] * v[1] + v[2]
            else:
                raise SimError(f"unknown packed op {name}.{t}")
            out |= rounded(r) << shift
        return out

    def int_op(self, name, parts, t, a):
        w = tw(t)
        mask = (1 << w) - 1
        if name in ("shl", "shr"):
            x = self.val(a[0], t) & mask
            s = self.val(a[1], "u32") & 0xFFFFFFFF
            s = min(s, w)
            if name == "shl":
                return (x << s) & mask
            if t[0] == "s":
                return (signed(x, w) >> s) & mask
            return x >> s
        v = [self.val(x, t) & mask for x in a]
        if t[0] == "s":
            v = [signed(x, w) for x in v]
        if name == "add":
            r = v[0] + v[1]
        elif name == "sub":
            r = v[0] - v[1]
        elif name == "mul":
            r = v[0] * v[1]
        elif name == "div":
            if v[1] == 0:
                raise SimError("integer division by zero executed")
            q = abs(v[0]) // abs(v[1])
            r = q if (v[0] >= 0) == (v[1] >= 0) else -q
        elif name == "rem":
            if v[1] == 0:
                raise SimError("integer remainder by zero executed")
            q = abs(v[0]) // abs(v[1])
            q = q if (v[0] >= 0) == (v[1] >= 0) else -q
            r = v[0] - q * v[1]
        elif name == "min":
            r = min(v)
        elif name == "max":
            r = max(v)
        elif name == "neg":
            r = -v[0]
        elif name == "abs":
            r = abs(v[0])
        elif name == "and":
            r = v[0] & v[1]
        elif name == "or":
            r = v[0] | v[1]
        elif name == "xor":
            r = v[0] ^ v[1]
        elif name == "not":
            r = ~v[0]
        else:
            raise SimError(f"unknown int op {name}.{t}")
        return r & mask

    def cvt(self, mods, src):
        mods = list(mods)
        rnd = mods.pop(0) if mods[0] in ("rn", "rna", "rz", "rni", "rzi", "rmi", "rpi") else None
        dt, st = mods[-2], mods[-1]
        raw = self.val(src, st)
        if dt == "tf32":
            if rnd != "rna" or st != "f32":
                raise SimError(f"cvt {mods} to tf32")
            return tf32_bits_rna(raw)
        # source value
        if st == "f32":
            x = f32_of(raw)
        elif st == "f64":
            x = np.float64(f64_of(raw))
        elif st == "f16":
            x = np.float32(f16_of(raw))
        elif st == "bf16":
            x = f32_of((raw & 0xFFFF) << 16)
        else:
            w = tw(st)
            x = raw & ((1 << w) - 1)
            if st[0] == "s":
                x = signed(x, w)
        if dt[0] in "su" and st[0] == "f":
            if np.isnan(x):
                return 0
            fx = float(x)
            if rnd == "rzi":
                iv = int(np.trunc(fx)) if np.isfinite(fx) else (1 << 70 if fx > 0 else -(1 << 70))
            elif rnd == "rni":
                iv = int(np.rint(fx)) if np.isfinite(fx) else (1 << 70 if fx > 0 else -(1 << 70))
            else:
                raise SimError(f"cvt rounding {rnd}")
            w = tw(dt)
            lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if dt[0] == "s" else (0, (1 << w) - 1)
            return max(lo, min(hi, iv)) & ((1 << w) - 1)
        if dt[0] in "su":
            return x & ((1 << max(tw(dt), 32)) - 1)
        # float destination
        if st[0] in "su":
            if dt == "f32":
                return bits_f32(np.float32(round_f32(Fraction(x))))
            return bits_f64(float(Fraction(x)))
        if dt == st and rnd in ("rni", "rzi", "rmi", "rpi"):
            fn = {"rni": np.rint, "rzi": np.trunc, "rmi": np.floor, "rpi": np.ceil}[rnd]
            r = fn(x)
            return bits_f32(r) if dt == "f32" else bits_f64(r)
        if dt == "f32":
            if rnd == "rz" and st == "f64":
                r = np.float32(x)
                if np.isfinite(x) and abs(float(r)) > abs(float(x)):
                    r = np.nextafter(r, np.float32(0))
                if np.isinf(r) and np.isfinite(x):
                    r = np.float32(np.copysign(np.finfo(np.float32).max, x))
                return bits_f32(r)
            return bits_f32(np.float32(x))
        if dt == "f64":
            return bits_f64(np.float64(x))
        if dt == "f16":
            return bits_f16(np.float16(np.float32(x)))
        if dt == "bf16":
            return bf16_bits_rne(bits_f32(np.float32(x)))
        raise SimError(f"unknown cvt {mods} {st}")


def round_f32(fr):
    """Fraction -> nearest-even f32 value (as a Python float)."""
    if fr == 0:
        return 0.0
    sign = -1 if fr < 0 else 1
    fr = abs(fr)
    e = fr.numerator.bit_length() - fr.denominator.bit_length()
    if Fraction(2) ** e > fr:
        e -= 1
    e = max(e, -126)
    scale = Fraction(2) ** (e - 23)
    q = fr / scale
    n = q.numerator // q.denominator
    rem = q - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    v = float(n * scale)
    if v > float(np.finfo(np.float32).max):
        return sign * float("inf")
    return sign * v


def shuffle(stops):
    """Completes one lock-step point of a block: `bar.sync` everywhere (None), or the same
    `shfl.sync.bfly` everywhere; returns what to send each thread (linear order, x fastest,
    so warp w holds threads 32w..32w+31)."""
    if all(s is None for s in stops):
        return [None] * len(stops)
    if any(s is None for s in stops) or len({s[1] for s in stops}) != 1:
        raise SimError("threads of a block wait at different bar.sync/shfl instructions")
    n = len(stops)
    out = []
    for tid, (_, _, value, lanemask, clamp, members) in enumerate(stops):
        if clamp != 31:
            raise SimError(f"shfl.sync.bfly with clamp {clamp} (only 31 is printed)")
        warp, lane = tid - tid % 32, tid % 32
        present = min(32, n - warp)
        want = (1 << present) - 1
        if members & 0xFFFFFFFF != want:
            raise SimError(f"shfl member mask {members:#x}, but the warp has lanes {want:#x}")
        src = lane ^ lanemask
        out.append(stops[warp + src][2] if src < present else value)
    return out


def mma_fragments(shape, atype, g, t):
    """(A elements, B elements, C elements) a lane holds, as (row, col) in register order,
    as the PTX ISA states for mma.m16n8k16 (.f16/.bf16) and mma.m16n8k8 (.tf32)."""
    if shape == "m16n8k16" and atype in ("f16", "bf16"):
        a = [(g + 8 * (i in (2, 3, 6, 7)), 2 * t + (i & 1) + 8 * (i >= 4)) for i in range(8)]
        b = [(2 * t + (i & 1) + 8 * (i >= 2), g) for i in range(4)]
    elif shape == "m16n8k8" and atype == "tf32":
        a = [(g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4)]
        b = [(t, g), (t + 4, g)]
    else:
        raise SimError(f"mma shape {shape} with {atype} operands")
    c = [(g + 8 * (i >= 2), 2 * t + (i & 1)) for i in range(4)]
    return a, b, c


def fma_f32(x, y, z):
    """x * y + z rounded once to f32 (operands are f32 values as Python floats)."""
    if all(np.isfinite(v) for v in (x, y, z)):
        return np.float32(round_f32(Fraction(x) * Fraction(y) + Fraction(z)))
    return np.float32(np.float64(x) * np.float64(y) + np.float64(z))


def run_mma(threads, instr):
    """Executes one mma.sync for a warp (32 threads in lane order)."""
    _, _, parts, args = instr
    shape, atype = parts[3], parts[7]
    if parts[1:3] != ["sync", "aligned"] or parts[4:6] != ["row", "col"]:
        raise SimError(f"unknown mma form {'.'.join(parts)}")
    if parts[6] != "f32" or parts[9] != "f32" or parts[8] != atype:
        raise SimError(f"mma types {'.'.join(parts)}")
    regs = [[x.strip() for x in a.strip("{}").split(",")] for a in args]
    d_regs, a_regs, b_regs, c_regs = regs
    k = 16 if shape == "m16n8k16" else 8
    A = [[None] * k for _ in range(16)]
    B = [[None] * 8 for _ in range(k)]
    C = [[None] * 8 for _ in range(16)]

    def elems(th, names, per):
        out = []
        for r in names:
            bits = th.val(r, "b32")
            if per == 2:
                for half in (bits & 0xFFFF, (bits >> 16) & 0xFFFF):
                    if atype == "f16":
                        out.append(float(f16_of(half)))
                    else:
                        out.append(float(f32_of(half << 16)))
            else:
                out.append(float(f32_of(bits & 0xFFFFE000)))
        return out

    per = 2 if atype in ("f16", "bf16") else 1
    for lane, th in enumerate(threads):
        fa, fb, fc = mma_fragments(shape, atype, lane >> 2, lane % 4)
        for (r, c), v in zip(fa, elems(th, a_regs, per)):
            if A[r][c] is not None:
                raise SimError("mma A element held twice")
            A[r][c] = v
        for (r, c), v in zip(fb, elems(th, b_regs, per)):
            if B[r][c] is not None:
                raise SimError("mma B element held twice")
            B[r][c] = v
        for (r, c), name in zip(fc, c_regs):
            C[r][c] = float(f32_of(th.val(name, "f32")))
    if any(v is None for row in A + B + C for v in row):
        raise SimError("mma fragment layout leaves an element unset")
    D = [[None] * 8 for _ in range(16)]
    for r in range(16):
        for c in range(8):
            d = np.float32(C[r][c])
            for kk in range(k):
                d = fma_f32(A[r][kk], B[kk][c], float(d))
            D[r][c] = d
    for lane, th in enumerate(threads):
        _, _, fc = mma_fragments(shape, atype, lane >> 2, lane % 4)
        for (r, c), name in zip(fc, d_regs):
            th.set(name, bits_f32(D[r][c]))


def simulate(ptx_path, grid, paths):
    """Runs one kernel; returns the status word, or raises SimError."""
    ptx = open(ptx_path).read()
    bufs = [bytearray(open(p, "rb").read()) for p in paths]
    bufs.append(bytearray(4))  # status word
    k = Kernel(ptx)
    mem = Memory(bufs)
    bx, by, bz = k.block
    for cz in range(grid[2]):
        for cy in range(grid[1]):
            for cx in range(grid[0]):
                shared = bytearray(k.shared_size)
                threads = [Thread(k, mem, shared, (x, y, z), (cx, cy, cz))
                           for z in range(bz) for y in range(by) for x in range(bx)]
                live = [(t, t.run()) for t in threads]
                sends = [None] * len(live)
                while live:
                    nxt, stops = [], []
                    for (t, g), v in zip(live, sends):
                        try:
                            stops.append(g.send(v))
                            nxt.append((t, g))
                        except StopIteration:
                            pass
                    if nxt and len(nxt) != len(live):
                        raise SimError("bar.sync, shfl or mma.sync reached by only some threads")
                    live = nxt
                    if not live:
                        break
                    if stops[0] is not None and stops[0][0] == "mma":
                        if any(s != stops[0] for s in stops) or len(nxt) % 32:
                            raise SimError("mma.sync not reached by whole warps together")
                        instr = k.code[stops[0][1] - 1]
                        for w in range(0, len(nxt), 32):
                            run_mma([t for t, _ in nxt[w : w + 32]], instr)
                        sends = [None] * len(live)
                    else:
                        sends = shuffle(stops)
    for p, b in zip(paths, bufs):
        open(p, "wb").write(bytes(b))
    return int.from_bytes(bufs[-1], "little")


def run_line(words):
    grid = tuple(int(x) for x in words[1].split(","))
    return simulate(words[0], grid, words[2:])


def main():
    if sys.argv[1] == "--batch":
        # One kernel per line: KERNEL.ptx GRID BUF...; prints `ok STATUS` or `error MSG`.
        for line in open(sys.argv[2]):
            words = line.split()
            if not words:
                continue
            try:
                print("ok", run_line(words), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported per kernel

                print("error", repr(e).replace("\n", " "), flush=True)
        return
    try:
        status = run_line(sys.argv[1:])
    except SimError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print("status", status)


if __name__ == "__main__":
    main()
