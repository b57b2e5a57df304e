// See sendhook.h.
#include "sendhook.h"

#include <dlfcn.h>
#include <glib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace {

std::atomic<bool> g_on{false};
std::mutex g_mu;
std::vector<bench::SendRecord> *g_recs = new std::vector<bench::SendRecord>();

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void record(int fd, ssize_t n) {
  if (n <= 0 || !g_on.load(std::memory_order_relaxed)) return;
  const int64_t t = g_get_monotonic_time();
  if (!is_socket(fd)) return;
  std::lock_guard<std::mutex> g(g_mu);
  g_recs->push_back({fd, t, static_cast<int64_t>(n)});
}

template <typename F>
F real(const char *name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

namespace bench {
void sendhook_start() {
  std::lock_guard<std::mutex> g(g_mu);
  g_recs->clear();
  g_recs->reserve(1 << 20);
  g_on = true;
}
std::vector<SendRecord> sendhook_stop() {
  g_on = false;
  std::lock_guard<std::mutex> g(g_mu);
  std::vector<SendRecord> r;
  r.swap(*g_recs);
  return r;
}
}  // namespace bench

extern "C" {

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  static auto fn = real<ssize_t (*)(int, const void *, size_t, int)>("send");
  ssize_t n = fn(fd, buf, len, flags);
  record(fd, n);
  return n;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  static auto fn = real<ssize_t (*)(int, const struct msghdr *, int)>("sendmsg");
  ssize_t n = fn(fd, msg, flags);
  record(fd, n);
  return n;
}

ssize_t write(int fd, const void *buf, size_t len) {
  static auto fn = real<ssize_t (*)(int, const void *, size_t)>("write");
  ssize_t n = fn(fd, buf, len);
  if (g_on.load(std::memory_order_relaxed)) record(fd, n);
  return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  static auto fn = real<ssize_t (*)(int, const struct iovec *, int)>("writev");
  ssize_t n = fn(fd, iov, cnt);
  if (g_on.load(std::memory_order_relaxed)) record(fd, n);
  return n;
}

}  // extern "C"
