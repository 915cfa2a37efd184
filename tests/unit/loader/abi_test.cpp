// The shared ABI header must mean the same layout to clang -target bpf and to the C++ compiler: checked here
// against the BTF that clang wrote into the built BPF objects.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "enospcd/abi.h"

namespace {

struct Member {
  const char* name;
  std::size_t offset;
  std::size_t size;
};

#define M(type, field) Member{#field, offsetof(type, field), sizeof(((type*)nullptr)->field)}

void check_struct(const char* object, const char* struct_name, std::size_t size, std::initializer_list<Member> members) {
  std::string path = std::string(ENOSPCD_BINARY_DIR) + "/bpf/skel/" + object;
  btf* b = btf__parse_elf(path.c_str(), nullptr);
  ASSERT_NE(b, nullptr) << "cannot read BTF from " << path;
  int id = btf__find_by_name_kind(b, struct_name, BTF_KIND_STRUCT);
  ASSERT_GT(id, 0) << struct_name << " not in " << object;
  const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  EXPECT_EQ(t->size, size) << struct_name;
  const btf_member* m = btf_members(t);
  EXPECT_EQ(btf_vlen(t), members.size()) << struct_name << ": member count differs";
  for (const auto& want : members) {
    bool found = false;
    for (int i = 0; i < btf_vlen(t); i++) {
      if (std::string(btf__name_by_offset(b, m[i].name_off)) != want.name) continue;
      found = true;
      EXPECT_EQ(btf_member_bit_offset(t, static_cast<__u32>(i)) / 8, want.offset) << struct_name << "." << want.name;
      EXPECT_EQ(static_cast<std::size_t>(btf__resolve_size(b, m[i].type)), want.size) << struct_name << "." << want.name;
    }
    EXPECT_TRUE(found) << struct_name << "." << want.name << " missing in BPF BTF";
  }
  btf__free(b);
}

TEST(Abi, EventMatchesBpfObject) {
  check_struct("gate.bpf.o", "enospcd_event", sizeof(enospcd_event),
               {M(enospcd_event, hdr), M(enospcd_event, pid), M(enospcd_event, tid), M(enospcd_event, ppid),
                M(enospcd_event, uid), M(enospcd_event, gid), M(enospcd_event, syscall_nr), M(enospcd_event, ret),
                M(enospcd_event, cgroup_id), M(enospcd_event, args), M(enospcd_event, mntns_inum),
                M(enospcd_event, mnt_count), M(enospcd_event, mnt_pending), M(enospcd_event, flags),
                M(enospcd_event, err), M(enospcd_event, mount_max), M(enospcd_event, ipcns_inum),
                M(enospcd_event, shm_ctlmni), M(enospcd_event, msg_ctlmni), M(enospcd_event, mq_queues_max),
                M(enospcd_event, sem_ctlmni), M(enospcd_event, ipc_in_use), M(enospcd_event, sem_semmns),
                M(enospcd_event, sem_used), M(enospcd_event, shm_tot), M(enospcd_event, shm_ctlall),
                M(enospcd_event, mq_queues_count), M(enospcd_event, userns_inum), M(enospcd_event, userns_max_mnt),
                M(enospcd_event, ucount_kind), M(enospcd_event, ucount_levels), M(enospcd_event, ucount),
                M(enospcd_event, chain_len), M(enospcd_event, stack_len), M(enospcd_event, chain_dropped),
                M(enospcd_event, outer_stack_len), M(enospcd_event, chain), M(enospcd_event, kstack),
                M(enospcd_event, outer_stack), M(enospcd_event, file), M(enospcd_event, upper),
                M(enospcd_event, project_quota), M(enospcd_event, pty_nr), M(enospcd_event, pty_max),
                M(enospcd_event, pty_reserve), M(enospcd_event, pty_pad), M(enospcd_event, epoll_watches),
                M(enospcd_event, epoll_max), M(enospcd_event, epoll_uid), M(enospcd_event, epoll_flags),
                M(enospcd_event, memcg_hierarchy), M(enospcd_event, memcg_descendants),
                M(enospcd_event, memcg_dying), M(enospcd_event, memcg_pad), M(enospcd_event, comm),
                M(enospcd_event, cgroup_name), M(enospcd_event, path), M(enospcd_event, path2)});
}

TEST(Abi, CountersAndChainsMatchBpfObjects) {
  check_struct("gate.bpf.o", "enospcd_count_key", sizeof(enospcd_count_key),
               {M(enospcd_count_key, tgid), M(enospcd_count_key, syscall_nr), M(enospcd_count_key, err),
                M(enospcd_count_key, pad), M(enospcd_count_key, cgroup_id)});
  check_struct("gate.bpf.o", "enospcd_count_val", sizeof(enospcd_count_val),
               {M(enospcd_count_val, count), M(enospcd_count_val, last_ktime_ns), M(enospcd_count_val, tokens_milli),
                M(enospcd_count_val, refill_ktime_ns), M(enospcd_count_val, suppressed), M(enospcd_count_val, comm)});
  for (const char* obj : {"gate.bpf.o", "origins.bpf.o"})
    check_struct(obj, "enospcd_chain", sizeof(enospcd_chain),
                 {M(enospcd_chain, len), M(enospcd_chain, stack_len), M(enospcd_chain, has_dir),
                  M(enospcd_chain, dropped), M(enospcd_chain, outer_stack_len), M(enospcd_chain, outer_scanned), M(enospcd_chain, syscall_nr), M(enospcd_chain, pad),
                  M(enospcd_chain, links), M(enospcd_chain, kstack), M(enospcd_chain, outer_stack),
                  M(enospcd_chain, dir)});
  check_struct("origins.bpf.o", "enospcd_chain_link", sizeof(enospcd_chain_link),
               {M(enospcd_chain_link, ret), M(enospcd_chain_link, ktime_ns), M(enospcd_chain_link, origin_id),
                M(enospcd_chain_link, repeats)});
  check_struct("gate.bpf.o", "enospcd_file_info", sizeof(enospcd_file_info),
               {M(enospcd_file_info, dev), M(enospcd_file_info, magic), M(enospcd_file_info, ino),
                M(enospcd_file_info, mode), M(enospcd_file_info, rdev), M(enospcd_file_info, shmem_max_blocks), M(enospcd_file_info, shmem_used_blocks),
                M(enospcd_file_info, shmem_max_inodes), M(enospcd_file_info, shmem_free_inodes),
                M(enospcd_file_info, flags), M(enospcd_file_info, pad), M(enospcd_file_info, ext4_blocks),
                M(enospcd_file_info, ext4_free_blocks), M(enospcd_file_info, ext4_reserved_blocks),
                M(enospcd_file_info, ext4_inodes), M(enospcd_file_info, ext4_free_inodes),
                M(enospcd_file_info, ext4_block_size), M(enospcd_file_info, ext4_pad),
                M(enospcd_file_info, fstype), M(enospcd_file_info, name), M(enospcd_file_info, mnt_name)});
  check_struct("gate.bpf.o", "enospcd_project_quota", sizeof(enospcd_project_quota),
               {M(enospcd_project_quota, id), M(enospcd_project_quota, blocksize),
                M(enospcd_project_quota, blk_reserved), M(enospcd_project_quota, blk_hardlimit),
                M(enospcd_project_quota, ino_reserved), M(enospcd_project_quota, ino_hardlimit)});
  check_struct("gate.bpf.o", "enospcd_ucount_level", sizeof(enospcd_ucount_level),
               {M(enospcd_ucount_level, userns_inum), M(enospcd_ucount_level, uid), M(enospcd_ucount_level, count),
                M(enospcd_ucount_level, max), M(enospcd_ucount_level, flags), M(enospcd_ucount_level, pad)});
}

// Compile-time half of the check: no implicit padding anywhere the two sides exchange.
static_assert(sizeof(enospcd_hdr) == 16);
static_assert(offsetof(enospcd_event, pid) == 16);
static_assert(sizeof(enospcd_event) % 8 == 0);
static_assert(offsetof(enospcd_event, shm_tot) % 8 == 0);
static_assert(offsetof(enospcd_event, userns_max_mnt) == offsetof(enospcd_event, userns_inum) + 4);
static_assert(offsetof(enospcd_event, ucount) % 8 == 0);
static_assert(sizeof(enospcd_ucount_level) == 32);
static_assert(sizeof(enospcd_chain_link) == 24);
static_assert(sizeof(enospcd_count_key) == 24);
static_assert(sizeof(enospcd_path_args) == 4);

}  // namespace
