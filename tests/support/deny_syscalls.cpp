// A launcher for the tests: `facts_deny_syscalls NAME[,NAME...] -- PROGRAM ARGS...` runs PROGRAM
// with a seccomp filter that makes each named system call fail with EPERM, as systemd's
// SystemCallFilter= with SystemCallErrorNumber=EPERM does. It lets a test run factsd under the
// packaged unit's deny list without systemd. libseccomp turns the names into this machine's
// numbers. Built without sanitizers: it only sets the filter and execs.

#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    std::fprintf(stderr, "usage: %s NAME[,NAME...] -- PROGRAM ARGS...\n", argv[0]);
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) {
    std::fprintf(stderr, "facts_deny_syscalls: seccomp_init failed\n");
    return 2;
  }
  std::string const names = argv[1];
  std::size_t from = 0;
  while (from <= names.size()) {
    auto const comma = names.find(',', from);
    auto const name =
        names.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    from = comma == std::string::npos ? names.size() + 1 : comma + 1;
    if (name.empty()) continue;
    // A name this architecture does not have (setuid32 on x86-64) has nothing to deny.
    int const nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0) {
      std::fprintf(stderr, "facts_deny_syscalls: cannot deny %s\n", name.c_str());
      return 2;
    }
  }
  if (seccomp_load(ctx) != 0) {
    std::fprintf(stderr, "facts_deny_syscalls: seccomp_load failed\n");
    return 2;
  }
  seccomp_release(ctx);
  ::execv(argv[3], argv + 3);
  std::fprintf(stderr, "facts_deny_syscalls: exec %s: %s\n", argv[3], std::strerror(errno));
  return 127;
}
