// An LD_PRELOAD shim for the tests: fsync() and fdatasync() wait while the file named by
// FACTS_TEST_STALL_FILE exists, so a test can hold a commit inside its fsync, as a disk that
// stopped answering would, without touching the daemon's code. On entering a stall it creates
// "<FACTS_TEST_STALL_FILE>.entered", so the test knows a commit is held. Built without
// sanitizers; an ASan daemon needs ASAN_OPTIONS=verify_asan_link_order=0 to accept it.

#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace {

void stall_while_asked() {
  char const* const file = std::getenv("FACTS_TEST_STALL_FILE");
  if (file == nullptr || ::access(file, F_OK) != 0) return;
  std::string const entered = std::string(file) + ".entered";
  int const fd = ::open(entered.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  // Bounded like everything a test starts: a stall no test ends lasts at most five minutes.
  timespec const tick{0, 10'000'000};
  for (int i = 0; i < 30'000 && ::access(file, F_OK) == 0; ++i)
    ::nanosleep(&tick, nullptr);
}

}  // namespace

extern "C" int fsync(int fd) {
  stall_while_asked();
  return static_cast<int>(::syscall(SYS_fsync, fd));
}

extern "C" int fdatasync(int fd) {
  stall_while_asked();
  return static_cast<int>(::syscall(SYS_fdatasync, fd));
}
