// Shared helpers of the benchmark programs (not tests; never run in CI).
//   * Dist: latency samples -> count / mean / p50 / p95 / p99 / max
//   * Json: a tiny writer for the result records run.sh collects
//   * process metrics: CPU (getrusage, RUSAGE_SELF), RSS (/proc/self/status), CPU of a child
//   * Emulator: realtime-emulator on an ephemeral port (RTC_EMULATOR or --emulator PATH)
#pragma once

#include <glib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bench {

inline int64_t now_us() { return g_get_monotonic_time(); }

struct Dist {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  size_t count() const { return v.size(); }
  double pct(double p) const {
    if (v.empty()) return NAN;
    std::vector<double> s(v);
    size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(s.size()))) ;
    if (k > 0) k--;
    if (k >= s.size()) k = s.size() - 1;
    std::nth_element(s.begin(), s.begin() + static_cast<ptrdiff_t>(k), s.end());
    return s[k];
  }
  double max() const { return v.empty() ? NAN : *std::max_element(v.begin(), v.end()); }
  double mean() const {
    if (v.empty()) return NAN;
    double t = 0;
    for (double x : v) t += x;
    return t / static_cast<double>(v.size());
  }
};

// Minimal JSON object writer: {"k": v, ...}. Values are numbers, strings, bools or raw JSON.
class Json {
 public:
  Json &num(const std::string &k, double v) {
    key(k);
    if (std::isnan(v) || std::isinf(v)) {
      s_ += "null";
    } else {
      char b[64];
      std::snprintf(b, sizeof b, "%.6g", v);
      s_ += b;
    }
    return *this;
  }
  Json &integer(const std::string &k, long long v) {
    key(k);
    s_ += std::to_string(v);
    return *this;
  }
  Json &str(const std::string &k, const std::string &v) {
    key(k);
    s_ += quote(v);
    return *this;
  }
  Json &boolean(const std::string &k, bool v) {
    key(k);
    s_ += v ? "true" : "false";
    return *this;
  }
  Json &raw(const std::string &k, const std::string &json) {
    key(k);
    s_ += json;
    return *this;
  }
  Json &dist(const std::string &prefix, const Dist &d) {
    integer(prefix + "_count", static_cast<long long>(d.count()));
    num(prefix + "_mean", d.mean());
    num(prefix + "_p50", d.pct(50));
    num(prefix + "_p95", d.pct(95));
    num(prefix + "_p99", d.pct(99));
    num(prefix + "_max", d.max());
    return *this;
  }
  // The distribution itself for the plots: the values at percentiles 0, 1, ..., 100 plus 99.5 and
  // 99.9 (appended last), as "<prefix>_pcts": [...].
  Json &pcts(const std::string &prefix, const Dist &d) {
    std::vector<double> s(d.v);
    std::sort(s.begin(), s.end());
    std::string a = "[";
    auto at = [&](double p) {
      if (s.empty()) return std::string("null");
      size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(s.size())));
      if (k > 0) k--;
      if (k >= s.size()) k = s.size() - 1;
      char b[32];
      std::snprintf(b, sizeof b, "%.1f", s[k]);
      return std::string(b);
    };
    for (int p = 0; p <= 100; p++) a += at(p) + ",";
    a += at(99.5) + "," + at(99.9) + "]";
    return raw(prefix + "_pcts", a);
  }
  std::string done() const { return "{" + s_ + "}"; }
  static std::string quote(const std::string &v) {
    std::string o = "\"";
    for (char c : v) {
      switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
          } else {
            o += c;
          }
      }
    }
    return o + "\"";
  }

 private:
  void key(const std::string &k) {
    if (!s_.empty()) s_ += ",";
    s_ += quote(k) + ":";
  }
  std::string s_;
};

// Result records: one JSON object per line, appended to $BENCH_OUT (or stdout).
inline void emit(const std::string &bench, const std::string &id, Json j) {
  j.str("bench", bench).str("id", id);
  const std::string line = j.done();
  const char *out = g_getenv("BENCH_OUT");
  if (out && *out) {
    FILE *f = std::fopen(out, "a");
    if (f) {
      std::fprintf(f, "%s\n", line.c_str());
      std::fclose(f);
    }
  }
  std::printf("RESULT %s\n", line.c_str());
  std::fflush(stdout);
}

// CPU time of this process (all threads), microseconds.
inline int64_t cpu_us() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (static_cast<int64_t>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// User and kernel CPU of this process, microseconds.
inline void cpu_split_us(int64_t *user, int64_t *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = static_cast<int64_t>(ru.ru_utime.tv_sec) * 1000000 + ru.ru_utime.tv_usec;
  *sys = static_cast<int64_t>(ru.ru_stime.tv_sec) * 1000000 + ru.ru_stime.tv_usec;
}

inline long rusage_ctxsw() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

// A field of /proc/self/status in kB (VmRSS, VmHWM, Threads...).
inline long proc_status(const char *field, pid_t pid = 0) {
  std::string path = pid ? "/proc/" + std::to_string(pid) + "/status" : "/proc/self/status";
  std::ifstream f(path);
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  return -1;
}

// utime + stime of another process, microseconds (e.g. the emulator).
inline int64_t child_cpu_us(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = s.rfind(')');
  if (p == std::string::npos) return -1;
  std::istringstream is(s.substr(p + 2));
  std::string tok;
  long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && is >> tok; i++) {
    if (i == 14) ut = std::atoll(tok.c_str());
    if (i == 15) st = std::atoll(tok.c_str());
  }
  return (ut + st) * 1000000 / sysconf(_SC_CLK_TCK);
}

inline std::string env_or(const char *name, const std::string &def) {
  const char *v = g_getenv(name);
  return v && *v ? v : def;
}
inline long env_long(const char *name, long def) {
  const char *v = g_getenv(name);
  return v && *v ? std::atol(v) : def;
}

// CPU time (microseconds) of every thread of this process, by thread id, with its name: the
// scheduler's nanosecond run time (/proc/self/task/*/schedstat), or utime + stime in clock ticks
// (/proc/self/task/*/stat, 10 ms resolution) where schedstat is missing.
struct ThreadCpu {
  std::string name;
  int64_t us;
};
inline std::map<long, ThreadCpu> thread_cpu() {
  std::map<long, ThreadCpu> r;
  GDir *d = g_dir_open("/proc/self/task", 0, nullptr);
  if (!d) return r;
  const char *e;
  const long tck = sysconf(_SC_CLK_TCK);
  while ((e = g_dir_read_name(d))) {
    std::ifstream f(std::string("/proc/self/task/") + e + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t a = s.find('('), b = s.rfind(')');
    if (a == std::string::npos || b == std::string::npos) continue;
    std::istringstream is(s.substr(b + 2));
    std::string tok;
    long long ut = 0, st = 0;
    for (int i = 3; i <= 15 && is >> tok; i++) {
      if (i == 14) ut = std::atoll(tok.c_str());
      if (i == 15) st = std::atoll(tok.c_str());
    }
    int64_t us = (ut + st) * 1000000 / tck;
    std::ifstream ss(std::string("/proc/self/task/") + e + "/schedstat");
    long long run_ns = -1;
    if (ss >> run_ns && run_ns >= 0) us = run_ns / 1000;
    r[std::atol(e)] = {s.substr(a + 1, b - a - 1), us};
  }
  g_dir_close(d);
  return r;
}
// CPU (ms) used between two thread_cpu() snapshots, summed by thread name.
inline std::map<std::string, double> thread_cpu_delta(const std::map<long, ThreadCpu> &a,
                                                      const std::map<long, ThreadCpu> &b) {
  std::map<std::string, double> r;
  for (auto &kv : b) {
    auto it = a.find(kv.first);
    const int64_t d = kv.second.us - (it == a.end() ? 0 : it->second.us);
    r[kv.second.name] += static_cast<double>(d) / 1000.0;
  }
  return r;
}

// Scheduler wake-ups of every thread of this process: voluntary + nonvoluntary context switches
// (/proc/self/task/*/status), by thread id, with its name. A thread that blocks and is woken
// counts one voluntary switch per wake-up; a preempted one counts a nonvoluntary switch.
struct ThreadSw {
  std::string name;
  long long vol = 0, nonvol = 0;
};
inline std::map<long, ThreadSw> thread_switches() {
  std::map<long, ThreadSw> r;
  GDir *d = g_dir_open("/proc/self/task", 0, nullptr);
  if (!d) return r;
  const char *e;
  while ((e = g_dir_read_name(d))) {
    std::ifstream f(std::string("/proc/self/task/") + e + "/status");
    std::string line;
    ThreadSw t;
    while (std::getline(f, line)) {
      if (line.compare(0, 5, "Name:") == 0) {
        size_t p = line.find_first_not_of(" \t", 5);
        t.name = p == std::string::npos ? "" : line.substr(p);
      } else if (line.compare(0, 24, "voluntary_ctxt_switches:") == 0) {
        t.vol = std::atoll(line.c_str() + 24);
      } else if (line.compare(0, 27, "nonvoluntary_ctxt_switches:") == 0) {
        t.nonvol = std::atoll(line.c_str() + 27);
      }
    }
    r[std::atol(e)] = t;
  }
  g_dir_close(d);
  return r;
}
// Wake-ups between two snapshots, summed by thread name: voluntary switches only (the thread
// blocked and was woken). Nonvoluntary switches are preemptions: they count the machine's load,
// not the design, and inflated the first figures of issue 15 on a loaded VM by about 40 %.
inline std::map<std::string, double> thread_switches_delta(const std::map<long, ThreadSw> &a,
                                                           const std::map<long, ThreadSw> &b) {
  std::map<std::string, double> r;
  for (auto &kv : b) {
    auto it = a.find(kv.first);
    long long d = kv.second.vol;
    if (it != a.end()) d -= it->second.vol;
    r[kv.second.name] += static_cast<double>(d);
  }
  return r;
}

// realtime-emulator on an ephemeral port.
class Emulator {
 public:
  ~Emulator() { stop(); }
  bool start(const std::vector<std::string> &args) {
    std::string exe = env_or("RTC_EMULATOR", "");
    if (exe.empty()) {
      std::fprintf(stderr, "RTC_EMULATOR is not set\n");
      return false;
    }
    std::vector<std::string> a = {exe, "--port", "0"};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &s : a) argv.push_back(const_cast<char *>(s.c_str()));
    argv.push_back(nullptr);
    GError *e = nullptr;
    gint out_fd = -1;
    // The emulator dies with this process (a benchmark killed by a timeout leaves no server behind).
    auto die_with_parent = [](gpointer) { prctl(PR_SET_PDEATHSIG, SIGTERM); };
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, nullptr, &pid_,
                                  nullptr, &out_fd, nullptr, &e)) {
      std::fprintf(stderr, "cannot start the emulator: %s\n", e ? e->message : "?");
      g_clear_error(&e);
      return false;
    }
    std::string line;
    char c;
    while (read(out_fd, &c, 1) == 1 && c != '\n') line += c;
    // Keep draining its stdout so that it never blocks or gets SIGPIPE.
    drain_ = std::thread([out_fd] {
      char b[4096];
      while (read(out_fd, b, sizeof b) > 0) {
      }
      close(out_fd);
    });
    size_t p = line.rfind(':');
    if (line.compare(0, 13, "listening on ") != 0 || p == std::string::npos) {
      std::fprintf(stderr, "unexpected emulator output: '%s'\n", line.c_str());
      stop();
      return false;
    }
    port_ = std::atoi(line.c_str() + p + 1);
    return true;
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 200; i++) {
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = 0;
          break;
        }
        g_usleep(10000);
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      pid_ = 0;
    }
    if (drain_.joinable()) drain_.join();
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

 private:
  GPid pid_ = 0;
  int port_ = 0;
  std::thread drain_;
};

// A string that the tone voice speaks for about `seconds` (60 ms per character).
inline std::string say_text(double seconds) {
  const size_t chars = std::max<size_t>(1, static_cast<size_t>(seconds * 1000.0 / 60.0 + 0.5));
  std::string s;
  const char *word = "benchmark";
  while (s.size() < chars) {
    if (!s.empty()) s += ' ';
    s += word;
  }
  s.resize(chars);
  if (s.back() == ' ') s.back() = 'x';
  return s;
}

}  // namespace bench
