// SPDX-License-Identifier: Apache-2.0
// Crash safety: a child process appends in a burst and reports every acknowledged seq through a
// pipe; the parent kills it with SIGKILL at a random moment, reopens the log and checks that it
// verifies and holds every acknowledged record.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>

#include "adapters/audit/audit_store.hpp"
#include "test_support.hpp"

namespace zonegate::adapters::audit {
namespace {

using test::day;
using test::TempDir;

/// The child: appends batches of 1..32 records forever, checkpointing now and then, and writes
/// each acknowledged last seq to `fd`. Never returns.
[[noreturn]] void burst(const Options& o, int fd, unsigned seed) {
  auto s = AuditStore::open(o);
  if (!s) ::_exit(2);
  AuditStore& store = *s.value();
  std::mt19937 rng(seed);
  std::vector<Entry> batch;
  for (std::int64_t i = 0;; ++i) {
    batch.clear();
    const auto n = 1 + rng() % 32;
    for (unsigned k = 0; k < n; ++k) {
      Entry e;
      e.at = day(0, i);
      e.kind = EntryKind::reader;
      e.event = "burst";
      e.person = "p" + std::to_string(k);
      e.source = "batch " + std::to_string(i);
      batch.push_back(std::move(e));
    }
    auto r = store.append_entries(batch);
    if (!r) ::_exit(3);
    const Seq acked = *r;
    if (::write(fd, &acked, sizeof acked) != static_cast<ssize_t>(sizeof acked)) ::_exit(4);
    if (store.should_checkpoint(day(0, i)) && !store.checkpoint(day(0, i))) ::_exit(5);
  }
}

TEST_CASE("kill -9 during a burst loses no acknowledged record", "[audit][crash]") {
  std::random_device rd;
  const unsigned seed = rd();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    Options o;
    o.state_dir = dir.path() / "state";
    o.gateway_id = "gw-crash";
    o.checkpoint_every_records = 100;
    {
      // Create the database and key once, so that the child only appends.
      auto s = AuditStore::open(o);
      REQUIRE(s.ok());
    }
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      burst(o, fds[1], seed + static_cast<unsigned>(round));
    }
    ::close(fds[1]);
    const std::size_t kill_after = 20 + rng() % 300;  // acknowledgements before the kill
    Seq max_acked = 0;
    std::size_t acks = 0;
    Seq v = 0;
    while (acks < kill_after && ::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
      CHECK(v > max_acked);
      max_acked = v;
      ++acks;
    }
    REQUIRE(::kill(pid, SIGKILL) == 0);
    // Acknowledgements already in the pipe count too: the child had them back from append().
    while (::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) max_acked = std::max(max_acked, v);
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    REQUIRE(acks == kill_after);

    auto s = AuditStore::open(o);
    REQUIRE(s.ok());
    const auto result = s.value()->verify();
    INFO("round " << round << ": " << result.message << ", acknowledged up to " << max_acked);
    CHECK(result.ok);
    // verify() found no gap from seq 1, so every seq up to the last record is present.
    CHECK(result.last_seq >= max_acked);
    CHECK(s.value()->last_seq() == result.last_seq);
    // And the log continues where it stopped.
    Entry e;
    e.at = day(1);
    e.event = "after_crash";
    auto next = s.value()->append_entries(std::vector<Entry>{e});
    REQUIRE(next.ok());
    CHECK(*next == result.last_seq + 1);
  }
}

}  // namespace
}  // namespace zonegate::adapters::audit
