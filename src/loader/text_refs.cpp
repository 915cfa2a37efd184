#include "loader/text_refs.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace enospcd {
namespace {

constexpr unsigned kNoReg = 32;

// ADRP Xd, label: 1 immlo(2) 10000 immhi(19) Rd(5). The page of pc plus the signed 21-bit immediate in pages.
bool decode_adrp(uint32_t insn, uint64_t pc, unsigned* rd, uint64_t* page) {
  if ((insn & 0x9f000000u) != 0x90000000u) return false;
  uint64_t imm = (static_cast<uint64_t>((insn >> 5) & 0x7ffffu) << 2) | ((insn >> 29) & 3u);
  // Sign-extend 21 bits, in pages.
  int64_t pages = static_cast<int64_t>(imm << 43) >> 43;
  *rd = insn & 0x1fu;
  *page = (pc & ~uint64_t{0xfff}) + static_cast<uint64_t>(pages) * 4096u;
  return true;
}

// ADD Xd, Xn, #imm12 (64-bit, no shift): 1 00 100010 0 imm12 Rn Rd.
bool decode_add_imm(uint32_t insn, unsigned* rd, unsigned* rn, uint64_t* imm) {
  if ((insn & 0xffc00000u) != 0x91000000u) return false;
  *rd = insn & 0x1fu;
  *rn = (insn >> 5) & 0x1fu;
  *imm = (insn >> 10) & 0xfffu;
  return true;
}

// LDR Wt|Xt, [Xn, #imm] (unsigned offset): size 111 0 01 01 imm12 Rn Rt, size 10 (W, imm*4) or 11 (X, imm*8).
bool decode_ldr(uint32_t insn, unsigned* rt, unsigned* rn, uint64_t* off, uint8_t* size) {
  uint32_t top = insn & 0xffc00000u;
  if (top != 0xb9400000u && top != 0xf9400000u) return false;
  *size = top == 0xb9400000u ? 4 : 8;
  *rt = insn & 0x1fu;
  *rn = (insn >> 5) & 0x1fu;
  *off = static_cast<uint64_t>((insn >> 10) & 0xfffu) * *size;
  return true;
}

// The register an instruction writes, for the common integer forms (Rd in bits 0-4); kNoReg for stores,
// branches and compares, which write none of x0-x30 (an over-approximation only forgets a page early).
unsigned written_reg(uint32_t insn) {
  bool store = (insn & 0x3a400000u) == 0x38000000u;  // STR/STUR/STP of the load-store group, L=0
  bool branch = (insn & 0x1c000000u) == 0x14000000u;
  if (store || branch) return kNoReg;
  unsigned rd = insn & 0x1fu;
  return rd == 31 ? kNoReg : rd;  // 31: xzr/sp
}

std::vector<GlobalLoad> arm64_loads(uint64_t pc, const uint8_t* code, std::size_t len) {
  std::array<uint64_t, 32> page{};  // register -> page (or page + lo12) it holds; 0: none
  std::vector<GlobalLoad> out;
  for (std::size_t i = 0; i + 4 <= len; i += 4, pc += 4) {
    uint32_t insn;
    std::memcpy(&insn, code + i, 4);  // little-endian, as the kernel runs
    unsigned rd = 0, rn = 0;
    uint64_t value = 0;
    uint8_t size = 0;
    if (decode_adrp(insn, pc, &rd, &value)) {
      page[rd] = value;
      continue;
    }
    if (decode_add_imm(insn, &rd, &rn, &value) && page[rn]) {
      page[rd] = page[rn] + value;
      continue;
    }
    if (decode_ldr(insn, &rd, &rn, &value, &size)) {
      if (page[rn]) {
        GlobalLoad g{page[rn] + value, size};
        if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
      }
      page[rd] = 0;
      continue;
    }
    if (unsigned w = written_reg(insn); w != kNoReg) page[w] = 0;
  }
  return out;
}

// x86_64 instructions have no fixed length, so every byte offset is tried as the start of "mov r32, [rip+disp32]"
// (8b, ModRM with mod 00 and r/m 101) or, behind a REX prefix with W, "mov r64, [rip+disp32]". Some of the
// loads found start inside other instructions; the caller keeps only a candidate that holds the sysctl's value.
std::vector<GlobalLoad> x86_loads(uint64_t pc, const uint8_t* code, std::size_t len) {
  std::vector<GlobalLoad> out;
  for (std::size_t i = 0; i + 6 <= len; i++) {
    if (code[i] != 0x8b || (code[i + 1] & 0xc7) != 0x05) continue;
    bool rex = i > 0 && (code[i - 1] & 0xf0) == 0x40;
    uint8_t size = rex && (code[i - 1] & 0x08) ? 8 : 4;
    int32_t disp;
    std::memcpy(&disp, code + i + 2, 4);
    GlobalLoad g{pc + i + 6 + static_cast<uint64_t>(static_cast<int64_t>(disp)), size};
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  }
  return out;
}

}  // namespace

std::vector<GlobalLoad> global_loads(Arch arch, uint64_t pc, const uint8_t* code, std::size_t len) {
  return arch == Arch::aarch64 ? arm64_loads(pc, code, len) : x86_loads(pc, code, len);
}

}  // namespace enospcd
