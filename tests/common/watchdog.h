// Test watchdog: turns a hang into a failure with a message instead of a meson timeout.
//
// - rtctest::Watchdog: a scoped object; if it is still alive `limit` after its creation, it prints
//   the running test's name, what the watchdog guards, and what the test is waiting for right now
//   (the rtctest::Waiting labels), then aborts the process (a stuck thread cannot be recovered, so
//   the binary stops; count_results.py counts it as a failure and meson prints the message).
// - rtctest::Waiting: a scoped label, "the test now waits for <what>", shown when a watchdog fires.
// - rtctest::install_test_watchdog(): a gtest listener arming one Watchdog per test case
//   (RTC_TEST_WATCHDOG_S overrides the limit, 0 disables it); rtctest::test_time_limit() gives the
//   running test another budget (long loops).
// - rtctest::must_return_within(): runs a call that may hang (a state change, stop()) on a helper
//   thread, waits for it with a bound, and fires the watchdog if it does not return.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace rtctest {

namespace wd_detail {
struct Labels {
  std::mutex m;
  std::map<unsigned long, std::string> by_id;  // in creation order
  unsigned long next = 0;
};
inline Labels &labels() {
  static Labels l;
  return l;
}
}  // namespace wd_detail

// "The test now waits for <what>" for as long as this object lives (any thread).
class Waiting {
 public:
  explicit Waiting(std::string what) {
    auto &l = wd_detail::labels();
    std::lock_guard<std::mutex> g(l.m);
    id_ = l.next++;
    l.by_id[id_] = std::move(what);
  }
  ~Waiting() {
    auto &l = wd_detail::labels();
    std::lock_guard<std::mutex> g(l.m);
    l.by_id.erase(id_);
  }
  Waiting(const Waiting &) = delete;
  Waiting &operator=(const Waiting &) = delete;

 private:
  unsigned long id_ = 0;
};

// Prints the running test, `why` and the current wait labels, then aborts.
[[noreturn]] inline void watchdog_fire(const std::string &why) {
  std::string test = "(no test running)";
  if (const ::testing::TestInfo *ti = ::testing::UnitTest::GetInstance()->current_test_info())
    test = std::string(ti->test_suite_name()) + "." + ti->name();
  std::string waits;
  {
    auto &l = wd_detail::labels();
    std::unique_lock<std::mutex> g(l.m, std::try_to_lock);  // never block the report
    if (g.owns_lock())
      for (auto &kv : l.by_id) waits += "\n***   waiting for: " + kv.second;
  }
  if (waits.empty()) waits = "\n***   waiting for: (no label set)";
  std::fprintf(stderr, "\n*** WATCHDOG: %s: %s%s\n*** aborting (a hang is a failure)\n", test.c_str(), why.c_str(),
               waits.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::abort();
}

class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds limit, std::string what) : what_(std::move(what)) {
    deadline_ = std::chrono::steady_clock::now() + limit;
    limit_ = limit;
    thread_ = std::thread([this] { run(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> g(m_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // A new budget from now.
  void rearm(std::chrono::milliseconds limit) {
    {
      std::lock_guard<std::mutex> g(m_);
      deadline_ = std::chrono::steady_clock::now() + limit;
      limit_ = limit;
    }
    cv_.notify_all();
  }
  Watchdog(const Watchdog &) = delete;
  Watchdog &operator=(const Watchdog &) = delete;

 private:
  void run() {
    std::unique_lock<std::mutex> lk(m_);
    while (!disarmed_) {
      if (cv_.wait_until(lk, deadline_) == std::cv_status::timeout && !disarmed_ &&
          std::chrono::steady_clock::now() >= deadline_) {
        const std::string why =
            what_ + " took longer than " + std::to_string(limit_.count() / 1000.0).substr(0, 6) + " s";
        lk.unlock();
        watchdog_fire(why);
      }
    }
  }
  std::string what_;
  std::mutex m_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds limit_{0};
  bool disarmed_ = false;
  std::thread thread_;
};

namespace wd_detail {
inline std::mutex &test_wd_mutex() {
  static std::mutex m;
  return m;
}
inline std::unique_ptr<Watchdog> &test_wd() {
  static std::unique_ptr<Watchdog> w;
  return w;
}
class Listener : public ::testing::EmptyTestEventListener {
 public:
  explicit Listener(std::chrono::seconds limit) : limit_(limit) {}
  void OnTestStart(const ::testing::TestInfo &) override {
    std::lock_guard<std::mutex> g(test_wd_mutex());
    test_wd() = std::make_unique<Watchdog>(limit_, "the test");
  }
  void OnTestEnd(const ::testing::TestInfo &) override {
    std::unique_ptr<Watchdog> w;
    {
      std::lock_guard<std::mutex> g(test_wd_mutex());
      w.swap(test_wd());
    }
  }

 private:
  std::chrono::seconds limit_;
};
}  // namespace wd_detail

// Arms a watchdog around every test case of this binary (call once, before RUN_ALL_TESTS; also
// fine from a static initializer). Returns true (for `static const bool x = install...`).
inline bool install_test_watchdog(std::chrono::seconds limit) {
  if (const char *env = std::getenv("RTC_TEST_WATCHDOG_S")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v <= 0) return true;  // disabled (e.g. under a debugger)
    limit = std::chrono::seconds(v);
  }
  ::testing::UnitTest::GetInstance()->listeners().Append(new wd_detail::Listener(limit));
  return true;
}

// The running test gets a new budget of `limit` from now (for tests that loop many runs).
inline void test_time_limit(std::chrono::seconds limit) {
  std::lock_guard<std::mutex> g(wd_detail::test_wd_mutex());
  if (wd_detail::test_wd()) wd_detail::test_wd()->rearm(limit);
}

// Runs `fn` on a helper thread and waits up to `limit` for it to return. If it does not, the
// thread is stuck in `fn` and the test cannot go on: the watchdog fires naming `what`.
inline void must_return_within(std::chrono::milliseconds limit, const std::string &what,
                               const std::function<void()> &fn) {
  std::promise<void> done;
  std::future<void> f = done.get_future();
  std::thread t([&] {
    fn();
    done.set_value();
  });
  Waiting w(what);
  if (f.wait_for(limit) != std::future_status::ready)
    watchdog_fire(what + " did not return within " + std::to_string(limit.count()) + " ms");
  t.join();
}

}  // namespace rtctest
