// One writer per output (core/output_lock.h) and what the lock holder clears: the temporaries
// that writers who no longer run left beside the output or in its folder.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/output_lock.h"
#include "test_support.h"

namespace deeplab {
namespace {

namespace fs = std::filesystem;
using OutputLockTest = testing::ScratchDirTest;
using testing::expect_error;

// The pid of a process that has ended: its temporaries are stale.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

void touch(const std::string& path) { std::ofstream(path) << "x"; }

TEST_F(OutputLockTest, ASecondWriterIsRefusedAndTheLockFileGoesWithTheFirst) {
  {
    OutputLock first(path("out.h5"));
    EXPECT_TRUE(fs::exists(path("out.h5.lock")));
    expect_error([&] { OutputLock second(path("out.h5")); }, {"out.h5: another run is writing it now", "out.h5.lock"});
    EXPECT_TRUE(fs::exists(path("out.h5.lock")));  // the refused run left the holder's lock alone
  }
  EXPECT_FALSE(fs::exists(path("out.h5.lock")));
  OutputLock again(path("out.h5"));  // free once the first is gone
}

TEST_F(OutputLockTest, ALockFileLeftBehindIsTakenOver) {
  touch(path("out.h5.lock"));  // as a run killed with its janitor leaves it
  { OutputLock lock(path("out.h5")); }
  EXPECT_FALSE(fs::exists(path("out.h5.lock")));
}

// A dead run's janitor takes its lock for an instant to remove the file; a run starting in that
// instant (a resume right after kill -9) waits for it instead of calling it another run's.
TEST_F(OutputLockTest, ALockHeldForAnInstantIsWaitedFor) {
  touch(path("out.h5.lock"));
  const int fd = ::open(path("out.h5.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  std::thread janitor([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::unlink(path("out.h5.lock").c_str());
    ::close(fd);
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    OutputLock lock(path("out.h5"));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(90));
    EXPECT_TRUE(fs::exists(path("out.h5.lock")));  // a fresh file, held by this run
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
  janitor.join();
  EXPECT_FALSE(fs::exists(path("out.h5.lock")));
}

TEST_F(OutputLockTest, TheHolderRemovesWhatDeadWritersLeftAndNothingElse) {
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(getppid());
  touch(path("out.h5.tmp." + dead));               // beside the output
  touch(path("out.h5.tmp." + dead + ".png"));      // with a suffix
  touch(path("out.h5.tmp." + alive));              // a writer that still runs
  touch(path("other.h5.tmp." + dead));             // another output's
  fs::create_directories(path("run"));
  touch(path("run/checkpoint-0000010.h5.tmp." + dead));  // in a folder output
  touch(path("run/checkpoint-0000010.h5"));
  touch(path("run/notes.tmp.txt"));                       // ".tmp." but no pid
  {
    OutputLock file(path("out.h5"));
    OutputLock folder(path("run"));
  }
  EXPECT_FALSE(fs::exists(path("out.h5.tmp." + dead)));
  EXPECT_FALSE(fs::exists(path("out.h5.tmp." + dead + ".png")));
  EXPECT_FALSE(fs::exists(path("run/checkpoint-0000010.h5.tmp." + dead)));
  EXPECT_TRUE(fs::exists(path("out.h5.tmp." + alive)));
  EXPECT_TRUE(fs::exists(path("other.h5.tmp." + dead)));
  EXPECT_TRUE(fs::exists(path("run/checkpoint-0000010.h5")));
  EXPECT_TRUE(fs::exists(path("run/notes.tmp.txt")));
}

TEST_F(OutputLockTest, ARefusedRunRemovesNothing) {
  const std::string dead = std::to_string(dead_pid());
  OutputLock holder(path("out.h5"));
  touch(path("out.h5.tmp." + dead));
  expect_error([&] { OutputLock second(path("out.h5")); }, {"another run is writing it now"});
  EXPECT_TRUE(fs::exists(path("out.h5.tmp." + dead)));
}

}  // namespace
}  // namespace deeplab
