// Observes what this process hands to its sockets: send() / sendmsg() / write() / writev() are
// interposed in the benchmark executable (the real ones are called through dlsym(RTLD_NEXT)), and
// while recording is on, every call on a socket is logged with g_get_monotonic_time() after the
// call returned, the fd and the bytes accepted by the kernel. libsoup hands each WebSocket frame
// to GIO, which calls send() once per frame when the socket buffer has room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

struct SendRecord {
  int fd;
  int64_t t_us;
  int64_t bytes;
};

void sendhook_start();                       // clears and starts recording
std::vector<SendRecord> sendhook_stop();     // stops and returns the records

}  // namespace bench
