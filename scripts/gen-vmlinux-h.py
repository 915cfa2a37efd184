#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Generate the trimmed, checked-in vmlinux.h for one architecture from a kernel's BTF.

Release builds compile against bpf/vmlinux/<arch>/vmlinux.h and never read the build host's BTF. The
header holds only the types listed in bpf/vmlinux/types.txt, resolved from the BTF of one pinned kernel
(`bpftool -j btf dump file`): records keep only the listed members, so CO-RE relocations resolve each
member by name on whatever kernel the program is loaded on.

types.txt, one root per line (`#` starts a comment, an indented line continues the previous one):

    struct task_struct: tgid pid comm     only these members, in the kernel's order; a member that
                                          lives in an anonymous struct/union is lifted to the top
    struct pt_regs: *                     every member, with the kernel's exact layout and size
    struct shmem_sb_info: max_inodes ?free_inodes
                                          `?`: emitted only when the BTF has the member
    ?struct fred_cs: *                    `?`: emitted only when the BTF has the type
    union name: ...                       same, for unions
    enum bpf_func_id                      a named enum, whole
    enum *: BPF_ANY BPF_F_CURRENT_CPU     the (possibly anonymous) enums holding these enumerators
    typedef kuid_t                        a typedef and what it needs

Records used through pointers only get a forward declaration. A record embedded by value must be listed
itself (whole, with `*`, if its user is whole). Bitfields are refused in trimmed records.

Usage:
    scripts/gen-vmlinux-h.py [--btf FILE] [--kernel-release REL] [--arch ARCH]   # write the header
    scripts/gen-vmlinux-h.py ... --check        # exit 1 if the checked-in header is stale
    scripts/gen-vmlinux-h.py --show 'struct shmem_sb_info'   # members available in this BTF
"""

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "scripts/gen-vmlinux-h.py"
DEFAULT_BTF = "/sys/kernel/btf/vmlinux"
DEFAULT_TYPES = "bpf/vmlinux/types.txt"
ANON = "(anon)"
MODIFIERS = {"CONST": "const", "VOLATILE": "volatile", "RESTRICT": "restrict"}
RECORD_KINDS = {"STRUCT": "struct", "UNION": "union"}
ENUM_KINDS = ("ENUM", "ENUM64")

# Always emitted, before the listed types: what libbpf's bpf_helpers.h, bpf_helper_defs.h,
# bpf_tracing.h and bpf_core_read.h expect from vmlinux.h (__u8..__s64, __be16, __be32, __wsum), the
# kernel's short names, and bool/false/true, which BPF C code uses without <stdbool.h>.
BASE_TYPEDEFS = (
    "__u8 __s8 __u16 __s16 __u32 __s32 __u64 __s64 "
    "u8 s8 u16 s16 u32 s32 u64 s64 "
    "__be16 __be32 __be64 __le16 __le32 __le64 __wsum __sum16 bool"
).split()
BASE_ENUMERATORS = ("false",)

ARCH_ALIASES = {"x86_64": "x86", "amd64": "x86", "aarch64": "arm64", "arm64": "arm64", "s390x": "s390",
                "ppc64le": "powerpc", "riscv64": "riscv", "loongarch64": "loongarch"}


class GenError(Exception):
    pass


def die(msg):
    print(f"gen-vmlinux-h: {msg}", file=sys.stderr)
    sys.exit(2)


def round_up(v, a):
    return (v + a - 1) // a * a


# --------------------------------------------------------------------------------------------------
# BTF


class Btf:
    def __init__(self, types):
        self.t = {0: {"id": 0, "kind": "VOID", "name": "void"}}
        for x in types:
            self.t[x["id"]] = x
        self.by_name = {}
        self.enumerators = {}
        for tid in sorted(self.t):
            x = self.t[tid]
            k = x["kind"]
            if k in RECORD_KINDS:
                key = RECORD_KINDS[k]
            elif k in ENUM_KINDS:
                key = "enum"
                for v in x["values"]:
                    self.enumerators.setdefault(v["name"], []).append(tid)
            elif k == "TYPEDEF":
                key = "typedef"
            else:
                continue
            if x["name"] != ANON:
                self.by_name.setdefault((key, x["name"]), []).append(tid)
        longs = [x["size"] for x in self.t.values() if x["kind"] == "INT" and x["name"] == "long int"]
        self.ptr_size = longs[0] if longs else 8
        self._size, self._align, self._packed = {}, {}, {}

    def __getitem__(self, tid):
        return self.t[tid]

    def name(self, tid):
        n = self.t[tid]["name"]
        return "" if n == ANON else n

    def kind(self, tid):
        return self.t[tid]["kind"]

    def lookup(self, key, name):
        ids = self.by_name.get((key, name))
        return ids[0] if ids else None

    def strip_mods(self, tid):
        while self.kind(tid) in MODIFIERS or self.kind(tid) == "TYPE_TAG":
            tid = self.t[tid]["type_id"]
        return tid

    def resolve(self, tid):
        """Through modifiers and typedefs."""
        while self.kind(tid) in MODIFIERS or self.kind(tid) in ("TYPE_TAG", "TYPEDEF"):
            tid = self.t[tid]["type_id"]
        return tid

    def members(self, tid):
        return self.t[tid].get("members", [])

    def is_anon_record(self, tid):
        return self.kind(tid) in RECORD_KINDS and not self.name(tid)

    # Natural C layout, to emit whole records with the kernel's exact offsets and size.
    def size(self, tid):
        x = self.t[tid]
        k = x["kind"]
        if k in ("INT", "FLOAT", "ENUM", "ENUM64", "STRUCT", "UNION"):
            return x["size"]
        if k == "PTR":
            return self.ptr_size
        if k == "ARRAY":
            return x["nr_elems"] * self.size(x["type_id"])
        if k in MODIFIERS or k in ("TYPEDEF", "TYPE_TAG"):
            return self.size(x["type_id"])
        raise GenError(f"type [{tid}] {k} has no size")

    def align(self, tid):
        if tid in self._align:
            return self._align[tid]
        x = self.t[tid]
        k = x["kind"]
        if k in ("INT", "FLOAT", "ENUM", "ENUM64"):
            a = min(x["size"], 16)
        elif k == "PTR":
            a = self.ptr_size
        elif k == "ARRAY":
            a = self.align(x["type_id"])
        elif k in MODIFIERS or k in ("TYPEDEF", "TYPE_TAG"):
            a = self.align(x["type_id"])
        elif k in RECORD_KINDS:
            a = 1 if self.packed(tid) else self.natural_align(tid)
        else:
            raise GenError(f"type [{tid}] {k} has no alignment")
        self._align[tid] = a
        return a

    def natural_align(self, tid):
        return max([self.align(m["type_id"]) for m in self.members(tid)] or [1])

    def packed(self, tid):
        """Whether the kernel's layout needs __attribute__((packed)) (what libbpf's btf_dump does too)."""
        if tid in self._packed:
            return self._packed[tid]
        self._packed[tid] = False
        a = self.natural_align(tid)
        packed = self.t[tid]["size"] % a != 0
        for m in self.members(tid):
            bits = m.get("bitfield_size", 0)
            off = m["bits_offset"]
            if bits:
                unit = 8 * self.size(m["type_id"])
                packed |= off // unit != (off + bits - 1) // unit
            else:
                packed |= off % (8 * self.align(m["type_id"])) != 0
        self._packed[tid] = packed
        return packed


def enum_value(x, v):
    bits = 8 * x["size"] if x["kind"] == "ENUM64" else 32
    v = v["val"] & ((1 << bits) - 1)
    if x.get("encoding") == "SIGNED" and v >= 1 << (bits - 1):
        v -= 1 << bits
    if x["kind"] == "ENUM64":
        return f"{v}LL" if v < 0 or x.get("encoding") == "SIGNED" else f"{v}ULL"
    return str(v)


# --------------------------------------------------------------------------------------------------
# types.txt


class Root:
    def __init__(self, key, name, members, lineno, optional):
        self.key, self.name, self.members, self.lineno = key, name, members, lineno
        self.optional = optional


def parse_types(path):
    logical = []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if line[0].isspace():
                if not logical:
                    raise GenError(f"{path}:{n}: continuation line with nothing to continue")
                logical[-1][1] += " " + line.strip()
            else:
                logical.append([n, line.strip()])

    roots, seen = [], {}
    ident = r"[A-Za-z_][A-Za-z0-9_]*"
    for n, line in logical:
        m = re.fullmatch(rf"(\??)(struct|union|enum|typedef)\s+({ident}|\*)\s*(?::\s*(.*))?", line)
        if not m:
            raise GenError(f"{path}:{n}: cannot parse {line!r}")
        optional, key, name, rest = m.group(1) == "?", m.group(2), m.group(3), m.group(4)
        words = rest.split() if rest is not None else None
        where = f"{path}:{n}"
        if key in ("struct", "union"):
            if name == "*" or words is None or not words:
                raise GenError(f"{where}: `{key} {name}` needs its members: `{key} NAME: m1 m2` or `{key} NAME: *`")
            if words != ["*"]:
                for w in words:
                    if not re.fullmatch(rf"\??{ident}", w):
                        raise GenError(f"{where}: bad member name {w!r}")
        elif key == "enum":
            if name == "*":
                if optional:
                    raise GenError(f"{where}: `?` is for named types")
                if not words or not all(re.fullmatch(ident, w) for w in words):
                    raise GenError(f"{where}: `enum *` needs enumerators: `enum *: BPF_ANY`")
            elif words is not None:
                raise GenError(f"{where}: enums are emitted whole; write `enum {name}`")
        elif words is not None or name == "*":
            raise GenError(f"{where}: write `typedef NAME` (typedefs are emitted whole)")
        if name != "*":
            if (key, name) in seen:
                raise GenError(f"{where}: {key} {name} already listed on line {seen[(key, name)]}")
            seen[(key, name)] = n
        roots.append(Root(key, name, words, n, optional))
    return roots


# --------------------------------------------------------------------------------------------------
# Generation

ALL = "*"


class Generator:
    def __init__(self, btf, types_label="types.txt"):
        self.btf = btf
        self.types_label = types_label
        self.records = {}      # record id -> ALL or {member name: optional}
        self.order = []        # definition items of the roots, in listing order
        self.errors = []
        self.notes = []
        self.items = {}        # item -> (text, deps)
        self.typedef_ids = {}  # typedef name -> the id whose definition is emitted

    def error(self, msg):
        if msg not in self.errors:
            self.errors.append(msg)

    # ---- roots

    def missing(self, r, what):
        if r.optional:
            self.notes.append(f"{self.types_label}:{r.lineno}: optional {what} is not in this BTF, left out")
        else:
            self.error(f"{self.types_label}:{r.lineno}: no {what} in this BTF")

    def add_roots(self, roots):
        btf = self.btf
        for r in roots:
            if r.key in ("struct", "union"):
                tid = btf.lookup(r.key, r.name)
                if tid is None:
                    self.missing(r, f"{r.key} {r.name}")
                    continue
                if r.members == ["*"]:
                    self.records[tid] = ALL
                else:
                    self.records[tid] = {w.lstrip("?"): w.startswith("?") for w in r.members}
                self.order.append(("record", tid))
            elif r.key == "enum" and r.name == "*":
                for e in r.members:
                    ids = btf.enumerators.get(e)
                    if not ids:
                        self.error(f"{self.types_label}:{r.lineno}: no enum holds the enumerator {e} in this BTF")
                        continue
                    self.order.append(("enum", ids[0]))
            elif r.key == "enum":
                tid = btf.lookup("enum", r.name)
                if tid is None:
                    self.missing(r, f"enum {r.name}")
                    continue
                self.order.append(("enum", tid))
            else:
                tid = btf.lookup("typedef", r.name)
                if tid is None:
                    self.missing(r, f"typedef {r.name}")
                    continue
                self.order.append(("typedef", self.typedef_item(tid)))

    def typedef_item(self, tid):
        name = self.btf.name(tid)
        first = self.typedef_ids.setdefault(name, self.btf.by_name[("typedef", name)][0])
        if first != tid and self.describe(self.btf.resolve(first)) != self.describe(self.btf.resolve(tid)):
            self.error(f"typedef {name} has two different definitions in this BTF ([{first}] and [{tid}])")
        return first

    def describe(self, tid):
        x = self.btf[tid]
        return (x["kind"], x["name"], x.get("size"))

    # ---- C declarators

    def render(self, tid, inner, by_value, needs, where, indent, exact):
        """C declaration of `inner` with type tid. Records `needs`: ('fwd'|'record'|'enum'|'typedef', id).

        by_value: the type must be complete here (a member, an array element).
        exact: the enclosing record keeps the kernel's layout, so what it embeds must be whole too.
        """
        btf = self.btf
        x = btf[tid]
        k = x["kind"]

        def join(base):
            return f"{base} {inner}" if inner else base

        if k == "VOID":
            return join("void")
        if k in ("INT", "FLOAT"):
            return join(x["name"])
        if k == "TYPE_TAG":
            return self.render(x["type_id"], inner, by_value, needs, where, indent, exact)
        if k in MODIFIERS:
            q = MODIFIERS[k]
            target = btf.strip_mods(x["type_id"])
            if btf.kind(target) == "PTR":
                return self.render(x["type_id"], f"{q} {inner}" if inner else q, by_value, needs, where,
                                   indent, exact)
            return f"{q} " + self.render(x["type_id"], inner, by_value, needs, where, indent, exact)
        if k == "PTR":
            target = btf.strip_mods(x["type_id"])
            star = f"(*{inner})" if btf.kind(target) in ("ARRAY", "FUNC_PROTO") else f"*{inner}"
            return self.render(x["type_id"], star, False, needs, where, indent, exact)
        if k == "ARRAY":
            return self.render(x["type_id"], f"{inner}[{x['nr_elems']}]", True, needs, where, indent, exact)
        if k == "FUNC_PROTO":
            params = []
            for p in x["params"]:
                if p["type_id"] == 0:
                    params.append("...")
                else:
                    pname = "" if p["name"] == ANON else p["name"]
                    params.append(self.render(p["type_id"], pname, False, needs, where, indent, False))
            return self.render(x["ret_type_id"], f"{inner}({', '.join(params) or 'void'})", False, needs,
                               where, indent, False)
        if k == "TYPEDEF":
            item = self.typedef_item(tid)
            needs.add(("typedef", item))
            if by_value:
                # Completeness: walk the definition for what it embeds by value.
                self.render(x["type_id"], "", True, needs, f"{where} (typedef {x['name']})", indent, exact)
            return join(x["name"])
        if k in ENUM_KINDS:
            if not btf.name(tid):
                return join(self.enum_body(tid, indent))
            needs.add(("enum", tid))
            return join(f"enum {x['name']}")
        if k == "FWD":
            if by_value:
                self.error(f"{where}: {x['fwd_kind']} {x['name']} is only declared in this BTF, "
                           "but is used by value")
            needs.add(("fwd", tid))
            return join(f"{x['fwd_kind']} {x['name']}")
        if k in RECORD_KINDS:
            kw = RECORD_KINDS[k]
            if not btf.name(tid):
                return join(self.record_body(tid, ALL, needs, where, indent))
            if by_value:
                sel = self.records.get(tid)
                if sel is None:
                    hint = "*" if exact else "<members>"
                    self.error(f"{where}: embeds {kw} {x['name']} by value; list it in types.txt "
                               f"(`{kw} {x['name']}: {hint}`)")
                else:
                    if exact and sel is not ALL:
                        self.error(f"{where}: embeds {kw} {x['name']} by value in a record kept whole, so "
                                   f"{kw} {x['name']} must be whole too (`{kw} {x['name']}: *`)")
                    needs.add(("record", tid))
            else:
                needs.add(("fwd", tid))
            return join(f"{kw} {x['name']}")
        raise GenError(f"{where}: cannot express BTF kind {k} [{tid}] in C")

    def enum_body(self, tid, indent):
        x = self.btf[tid]
        name = self.btf.name(tid)
        lines = [f"enum {name} {{" if name else "enum {"]
        for v in x["values"]:
            lines.append(f"{indent}\t{v['name']} = {enum_value(x, v)},")
        if not x["values"]:
            raise GenError(f"enum {name or '[%d]' % tid} has no enumerators")
        lines.append(f"{indent}}}")
        text = "\n".join(lines)
        if x["kind"] == "ENUM" and x["size"] < 4:
            text += " __attribute__((packed))"
        return text

    def record_label(self, tid):
        kw = RECORD_KINDS[self.btf.kind(tid)]
        return f"{kw} {self.btf.name(tid) or '(anonymous)'}"

    def pick_members(self, tid, wanted):
        """The wanted members of record tid, searched through anonymous members, in the kernel's order."""
        btf = self.btf
        found, available = [], []

        def walk(rid):
            for m in btf.members(rid):
                if m["name"] != ANON:
                    available.append(m["name"])
                    if m["name"] in wanted:
                        found.append(m)
                elif btf.is_anon_record(btf.strip_mods(m["type_id"])):
                    walk(btf.strip_mods(m["type_id"]))

        walk(tid)
        got = {m["name"] for m in found}
        label = self.record_label(tid)
        for name, optional in wanted.items():
            if name in got:
                continue
            if optional:
                self.notes.append(f"{label}: optional member {name} is not in this BTF, left out")
            else:
                self.error(f"{label} has no member {name} in this BTF; it has: {' '.join(available)}")
        return found

    def record_body(self, tid, sel, needs, where, indent):
        btf = self.btf
        x = btf[tid]
        kw = RECORD_KINDS[x["kind"]]
        name = btf.name(tid)
        label = f"{kw} {name}" if name else where
        head = f"{kw} {name} {{" if name else f"{kw} {{"
        inner_indent = indent + "\t"
        lines = [head]
        if sel is ALL:
            lines += self.exact_members(tid, needs, label, inner_indent)
            packed = btf.packed(tid)
        else:
            packed = False
            for m in self.pick_members(tid, sel):
                mwhere = f"{label}.{m['name']}"
                if m.get("bitfield_size"):
                    self.error(f"{mwhere} is a bitfield ({m['bitfield_size']} bits); trimmed records cannot "
                               f"hold bitfields: read it through a whole record (`{kw} {name}: *`) with "
                               "BPF_CORE_READ_BITFIELD, or leave it out")
                    continue
                decl = self.render(m["type_id"], m["name"], True, needs, mwhere, inner_indent, False)
                lines.append(f"{inner_indent}{decl};")
        lines.append(f"{indent}}}" + (" __attribute__((packed))" if packed else ""))
        return "\n".join(lines)

    def exact_members(self, tid, needs, label, indent):
        """All members at the kernel's bit offsets: explicit padding where natural C layout differs."""
        btf = self.btf
        x = btf[tid]
        packed = btf.packed(tid)
        union = x["kind"] == "UNION"
        lines = []
        pos = 0       # bit position after the last member (struct) / largest member (union)
        pads = 0
        max_align = 1

        def pad_to(target, next_member):
            nonlocal pos, pads
            nxt_bits = next_member.get("bitfield_size", 0) if next_member else 0
            if nxt_bits and not packed:
                unit = 8 * btf.size(next_member["type_id"])
                if pos // unit == (target - 1) // unit:
                    base = self.render(next_member["type_id"], "", True, set(), label, indent, True)
                    lines.append(f"{indent}{base} : {target - pos};")
                    pos = target
                    return
            while pos < target:
                if pos % 8 or target - pos < 8:
                    n = min(8 - pos % 8, target - pos)
                    lines.append(f"{indent}unsigned char : {n};")
                    pos += n
                else:
                    n = (target - pos) // 8
                    lines.append(f"{indent}char __pad{pads}[{n}];")
                    pads += 1
                    pos += 8 * n

        for m in x["members"]:
            mtid = m["type_id"]
            bits = m.get("bitfield_size", 0)
            mname = "" if m["name"] == ANON else m["name"]
            mwhere = f"{label}.{mname}" if mname else label
            off = m["bits_offset"]
            size = btf.size(mtid)
            align = 1 if packed else btf.align(mtid)
            max_align = max(max_align, align)
            decl = self.render(mtid, mname, True, needs, mwhere, indent, True)
            if bits:
                decl += f" : {bits}"
            if union:
                if off != 0:
                    raise GenError(f"{mwhere}: union member at bit offset {off}")
                lines.append(f"{indent}{decl};")
                pos = max(pos, bits if bits else 8 * size)
                continue

            def natural():
                if bits and not packed:
                    unit = 8 * size
                    return pos if pos // unit == (pos + bits - 1) // unit else round_up(pos, unit)
                return pos if packed else round_up(pos, 8 * align)

            if natural() != off:
                if off < pos:
                    raise GenError(f"{mwhere}: overlaps the previous member (bit {off} < {pos})")
                pad_to(off, m)
                if natural() != off:
                    raise GenError(f"{mwhere}: cannot reproduce bit offset {off}")
            lines.append(f"{indent}{decl};")
            pos = off + (bits if bits else 8 * size)

        end = round_up(pos, 8 * max_align)
        if end < 8 * x["size"]:
            if union:
                lines.append(f"{indent}char __pad{pads}[{x['size']}];")
            else:
                pos = round_up(pos, 8)
                lines.append(f"{indent}char __pad{pads}[{x['size'] - pos // 8}];")
                pos = 8 * x["size"]
            end = round_up(pos, 8 * max_align)
        if end != 8 * x["size"]:
            raise GenError(f"{label}: cannot reproduce size {x['size']} (natural layout gives {end // 8})")
        return lines

    # ---- items

    def item(self, it):
        if it in self.items:
            return self.items[it]
        kind, tid = it
        btf = self.btf
        needs = set()
        if kind == "record":
            text = self.record_body(tid, self.records[tid], needs, self.record_label(tid), "") + ";"
        elif kind == "enum":
            text = self.enum_body(tid, "") + ";"
        else:
            x = btf[tid]
            text = "typedef " + self.render(x["type_id"], x["name"], False, needs, f"typedef {x['name']}",
                                            "", False) + ";"
        self.items[it] = (text, needs)
        return self.items[it]

    def generate(self):
        btf = self.btf
        base = []
        for name in BASE_TYPEDEFS:
            tid = btf.lookup("typedef", name)
            if tid is None:
                self.error(f"base typedef {name} is not in this BTF")
            else:
                base.append(("typedef", self.typedef_item(tid)))
        for e in BASE_ENUMERATORS:
            ids = btf.enumerators.get(e)
            if not ids:
                self.error(f"no enum holds the enumerator {e} in this BTF")
            else:
                base.append(("enum", ids[0]))

        emitted, visiting, fwd = [], set(), set()
        done = set()

        def visit(it):
            if it in done:
                return
            if it in visiting:
                raise GenError(f"circular by-value dependency through {it}")
            visiting.add(it)
            text, needs = self.item(it)
            for n in sorted(needs):
                if n[0] == "fwd":
                    fwd.add(n[1])
                else:
                    visit(n)
            visiting.discard(it)
            done.add(it)
            emitted.append(text)

        for it in base:
            visit(it)
        n_base = len(emitted)
        for it in self.order:
            visit(it)
        if self.errors:
            raise GenError("\n".join(self.errors))

        fwd_lines = set()
        for tid in fwd:
            x = btf[tid]
            kw = x["fwd_kind"] if x["kind"] == "FWD" else RECORD_KINDS[x["kind"]]
            fwd_lines.add(f"{kw} {x['name']};")
        return emitted[:n_base], sorted(fwd_lines), emitted[n_base:]


# --------------------------------------------------------------------------------------------------
# Output


def header_text(meta, base, fwd, defs):
    out = [
        "/*",
        f" * Trimmed kernel types for the CO-RE BPF programs. Generated by {SCRIPT}; do not edit.",
        " *",
        f" * Kernel: {meta['release']} ({meta['arch']})",
        f" * BTF:    {meta['btf']}, sha256 {meta['sha256']}",
        f" * Types:  {meta['types']}",
        " * Regenerate with:",
        f" *   {meta['command']}",
        " *",
        " * A record listed with members keeps only those members: every access to it is a CO-RE relocation",
        " * matched by member name against the running kernel's BTF (also through the kernel's anonymous",
        " * structs and unions), so its offsets and sizeof() here are not the kernel's. Read members, never",
        " * copy such a record whole. Records listed with `*` keep the kernel's exact layout.",
        " */",
        "#ifndef __VMLINUX_H__",
        "#define __VMLINUX_H__",
        "",
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
        "#endif",
        "",
    ]
    out += base
    out.append("")
    out += fwd
    prev = None
    for d in defs:
        # Runs of one-line typedefs stay together; everything else is separated by a blank line.
        if not (prev and "\n" not in prev and "\n" not in d):
            out.append("")
        out.append(d)
        prev = d
    out += [
        "",
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
        "#pragma clang attribute pop",
        "#endif",
        "",
        "#endif /* __VMLINUX_H__ */",
    ]
    return "\n".join(out) + "\n"


def load_btf(bpftool, path):
    try:
        res = subprocess.run([bpftool, "-j", "btf", "dump", "file", path], capture_output=True, check=False)
    except OSError as e:
        die(f"cannot run {bpftool}: {e}")
    if res.returncode != 0:
        die(f"`{bpftool} -j btf dump file {path}` failed: {res.stderr.decode(errors='replace').strip()}")
    try:
        return Btf(json.loads(res.stdout)["types"])
    except (ValueError, KeyError) as e:
        die(f"unexpected output from `{bpftool} -j btf dump file {path}`: {e}")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rel(path):
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def show(btf, spec):
    m = re.fullmatch(r"\s*(struct|union|enum|typedef)\s+([A-Za-z_][A-Za-z0-9_]*)\s*", spec)
    if not m:
        die(f"--show wants `struct NAME`, `union NAME`, `enum NAME` or `typedef NAME`, not {spec!r}")
    tid = btf.lookup(m.group(1), m.group(2))
    if tid is None:
        die(f"no {spec.strip()} in this BTF")
    gen = Generator(btf)
    x = btf[tid]
    if x["kind"] in ENUM_KINDS:
        print(gen.enum_body(tid, "") + ";")
        return
    if x["kind"] == "TYPEDEF":
        print("typedef " + gen.render(x["type_id"], x["name"], False, set(), spec, "", False) + ";")
        return

    def walk(rid, depth, base):
        for mem in btf.members(rid):
            off = base + mem["bits_offset"]
            mt = btf.strip_mods(mem["type_id"])
            pos = f"{off // 8}" + (f":{off % 8}" if off % 8 else "")
            if mem["name"] == ANON and btf.is_anon_record(mt):
                print(f"{'  ' * depth}/* anonymous {RECORD_KINDS[btf.kind(mt)]} at byte {pos}: */")
                walk(mt, depth + 1, off)
                continue
            t = btf[mt]
            if btf.is_anon_record(mt):
                decl = f"{RECORD_KINDS[t['kind']]} {{...}} {mem['name']}"
            else:
                decl = gen.render(mem["type_id"], mem["name"], False, set(), spec, "", False)
            bf = f" : {mem['bitfield_size']}  /* bitfield */" if mem.get("bitfield_size") else ""
            print(f"{'  ' * depth}{decl}{bf};".ljust(60) + f" /* byte {pos} */")

    print(f"{spec.strip()} /* {x['size']} bytes */")
    walk(tid, 1, 0)


def main():
    ap = argparse.ArgumentParser(
        description="Generate bpf/vmlinux/<arch>/vmlinux.h from a kernel's BTF and bpf/vmlinux/types.txt.")
    ap.add_argument("--btf", default=DEFAULT_BTF, help=f"BTF blob or vmlinux ELF (default {DEFAULT_BTF})")
    ap.add_argument("--kernel-release", help="release of the kernel the BTF belongs to "
                    "(default: `uname -r` when --btf is the running kernel's)")
    ap.add_argument("--arch", help="kernel architecture name: x86, arm64, ... (default: this machine's)")
    ap.add_argument("--types", default=DEFAULT_TYPES, help=f"type list (default {DEFAULT_TYPES})")
    ap.add_argument("-o", "--output", help="output header (default bpf/vmlinux/<arch>/vmlinux.h)")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "/usr/sbin/bpftool", help="bpftool binary")
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary file and compare with "
                    "the checked-in header; exit 1 when they differ")
    ap.add_argument("--show", metavar="TYPE", help="print a type's members as this BTF has them, and exit")
    args = ap.parse_args()

    running = os.path.realpath(args.btf) == os.path.realpath(DEFAULT_BTF)
    if args.show:
        show(load_btf(args.bpftool, args.btf), args.show)
        return 0

    release = args.kernel_release
    if running:
        if release and release != os.uname().release:
            die(f"{args.btf} is the running kernel's BTF ({os.uname().release}), not {release}")
        release = os.uname().release
    elif not release:
        die(f"--kernel-release is required with --btf {args.btf}")
    arch = args.arch or ARCH_ALIASES.get(os.uname().machine, os.uname().machine)
    if not running and not args.arch:
        die(f"--arch is required with --btf {args.btf}")
    default_output = os.path.join(REPO, "bpf", "vmlinux", arch, "vmlinux.h")
    output = os.path.abspath(args.output) if args.output else default_output
    types_path = args.types if os.path.isabs(args.types) else os.path.join(REPO, args.types)

    cmd = [SCRIPT, "--btf", args.btf, "--kernel-release", release, "--arch", arch]
    if rel(types_path) != DEFAULT_TYPES:
        cmd += ["--types", rel(types_path)]
    if output != default_output:
        cmd += ["-o", rel(output)]

    sha = sha256_of(args.btf)
    btf = load_btf(args.bpftool, args.btf)
    gen = Generator(btf, rel(types_path))
    try:
        gen.add_roots(parse_types(types_path))
        base, fwd, defs = gen.generate()
        failure = None
    except (GenError, OSError) as e:
        failure = e
    for n in gen.notes:
        print(f"gen-vmlinux-h: note: {n}", file=sys.stderr)
    if failure:
        die(f"{rel(types_path)} against {args.btf}:\n{failure}")
    meta = {"release": release, "arch": arch, "btf": args.btf, "sha256": sha, "types": rel(types_path),
            "command": " ".join(cmd)}
    text = header_text(meta, base, fwd, defs)

    if args.check:
        try:
            with open(output, encoding="utf-8") as f:
                old = f.read()
        except OSError as e:
            print(f"gen-vmlinux-h: {rel(output)}: {e}", file=sys.stderr)
            return 1
        with tempfile.NamedTemporaryFile("w", suffix=".h", delete=False) as tmp:
            tmp.write(text)
        try:
            if old == text:
                print(f"gen-vmlinux-h: {rel(output)} is up to date")
                return 0
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       rel(output), tmp.name))
            pinned = re.search(r"sha256 ([0-9a-f]{64})", old)
            if pinned and pinned.group(1) != sha:
                print(f"gen-vmlinux-h: {rel(output)} was generated from BTF sha256 {pinned.group(1)}, "
                      f"{args.btf} is {sha}: check against the pinned kernel's BTF, or regenerate on purpose",
                      file=sys.stderr)
            print(f"gen-vmlinux-h: {rel(output)} is stale; regenerate with: {' '.join(cmd)}", file=sys.stderr)
            return 1
        finally:
            os.unlink(tmp.name)

    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(output + ".tmp", output)
    print(f"gen-vmlinux-h: wrote {rel(output)} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
