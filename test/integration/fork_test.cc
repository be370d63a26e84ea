// fork() without exec while another thread reads the stats (a /metrics
// scrape, a stats RPC). Before: a child forked while that thread held the
// registry's mutex inherited it locked and deadlocked at its first channel
// create or destroy, or its first stats read. Ruby and Python servers fork
// workers after loading gRPC. Now pthread_atfork keeps every fork between
// two registry operations.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

// Waits for pid up to timeout_ms; its exit code, or -1 if it hung (it is
// then killed).
int WaitChild(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    SleepMs(5);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

TEST(ForkTest, ChildForkedDuringAScrapeCanUseTheStats) {
  EnsureGrpcInitialized();
  ScriptedServer server;
  // Enough channels that a snapshot holds the registry's mutex most of the
  // time the scraper runs.
  RetrySpec spec;
  spec.top_level = "\"circuitBreaker\": {}";
  std::vector<ChannelPtr> channels;
  for (int i = 0; i < 64; i++) {
    const std::string name = UniqueName(std::to_string(i));
    channels.emplace_back(MakeChannel(
        server.address(),
        ServiceConfig(spec),
        {StringArg(GRPCR_ARG_NAME, name.c_str())}));
  }
  std::atomic<bool> stop{false};
  std::atomic<long> scrapes{0};
  std::thread scraper([&] {
    while (!stop.load()) {
      grpcr_channel_snapshot* snaps = nullptr;
      size_t n = 0;
      if (grpcr_stats_get(nullptr, &snaps, &n) == 0) {
        grpcr_channel_snapshots_free(snaps, n);
        scrapes++;
      }
    }
  });
  // GRPCR_FORK_TEST_FORKS: fewer under valgrind, where each child's exit
  // runs a leak check (scripts/valgrind_integration.sh).
  const char* env_forks = getenv("GRPCR_FORK_TEST_FORKS");
  const int forks = env_forks != nullptr ? atoi(env_forks) : 100;
  int hung = 0;
  for (int i = 0; i < forks; i++) {
    // The child says through a pipe whether it read the stats: its exit
    // code is valgrind's under valgrind (which reports the scraper's
    // allocations it inherited as lost).
    int fds[2];
    ASSERT_EQ(0, pipe(fds));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: only async-signal-safe calls and the registry.
      grpcr_channel_snapshot* snaps = nullptr;
      size_t n = 0;
      int rc = grpcr_stats_get(nullptr, &snaps, &n);
      const char ok = rc == 0 && n >= 64 ? '1' : '0';
      (void)!write(fds[1], &ok, 1);
      _exit(0);
    }
    close(fds[1]);
    const int code = WaitChild(pid, 30000);
    char got = 0;
    const ssize_t r = read(fds[0], &got, 1);
    close(fds[0]);
    if (code == -1) hung++;
    EXPECT_TRUE(code == -1 || (r == 1 && got == '1'))
        << "child " << i << " did not read the stats (exit " << code << ")";
  }
  stop = true;
  scraper.join();
  EXPECT_GT(scrapes.load(), forks);
  EXPECT_EQ(0, hung) << hung << " of " << forks << " children deadlocked";
}

}  // namespace
}  // namespace grpcr_test
