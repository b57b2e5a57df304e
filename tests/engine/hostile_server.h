// A small hostile WebSocket server for the engine's reliability tests (docs/reliability.md): plain
// POSIX sockets and one thread per connection, so that a test can do what realtime-emulator (a
// well-behaved libsoup server) cannot: never answer the upgrade, stop reading, send invalid UTF-8,
// raw close codes such as 1012, oversize or binary frames. It counts the input audio it has READ
// (input_audio_buffer.append payloads), the other side of the input accounting check.
#pragma once

#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtctest {

class HostilePeer {
 public:
  explicit HostilePeer(int fd) : fd_(fd) {}
  struct Frame {
    int opcode = 0;
    std::string payload;
  };
  // Reads the HTTP upgrade request (bounded by `ms`); false on EOF / timeout.
  bool read_request(int ms = 5000) {
    std::string req;
    while (req.find("\r\n\r\n") == std::string::npos) {
      char buf[1024];
      ssize_t n = recv_some(buf, sizeof buf, ms);
      if (n <= 0) return false;
      req.append(buf, static_cast<size_t>(n));
    }
    const char *k = "Sec-WebSocket-Key:";
    auto p = req.find(k);
    if (p == std::string::npos) return false;
    p += strlen(k);
    while (p < req.size() && req[p] == ' ') p++;
    auto e = req.find("\r\n", p);
    key_ = req.substr(p, e - p);
    rest_ = req.substr(req.find("\r\n\r\n") + 4);
    return true;
  }
  void send_upgrade() {
    std::string acc = key_ + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    guint8 digest[20];
    gsize dlen = sizeof digest;
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(ck, reinterpret_cast<const guchar *>(acc.data()), static_cast<gssize>(acc.size()));
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    gchar *b64 = g_base64_encode(digest, dlen);
    std::string r = std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n") +
                    "Sec-WebSocket-Accept: " + b64 + "\r\n\r\n";
    g_free(b64);
    send_all(r.data(), r.size());
  }
  bool send_frame(int opcode, const std::string &payload) {
    std::string h;
    h.push_back(static_cast<char>(0x80 | opcode));
    size_t n = payload.size();
    if (n < 126) {
      h.push_back(static_cast<char>(n));
    } else if (n < 65536) {
      h.push_back(126);
      h.push_back(static_cast<char>((n >> 8) & 0xff));
      h.push_back(static_cast<char>(n & 0xff));
    } else {
      h.push_back(127);
      for (int i = 7; i >= 0; i--) h.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
    }
    return send_all(h.data(), h.size()) && send_all(payload.data(), payload.size());
  }
  bool send_text(const std::string &s) { return send_frame(1, s); }
  bool send_close(int code, const std::string &reason = "") {
    std::string p;
    p.push_back(static_cast<char>((code >> 8) & 0xff));
    p.push_back(static_cast<char>(code & 0xff));
    p += reason;
    return send_frame(8, p);
  }
  // One client frame (unmasked here), bounded by `ms`; false on EOF / timeout / bad frame.
  // Pings are answered with pongs when answer_pings.
  bool read_frame(Frame *f, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      if (try_parse(f)) {
        if (f->opcode == 9) since_ping_ = 0;
        if (f->opcode == 9 && answer_pings) send_frame(10, f->payload);
        if (f->opcode == 1) count_audio(f->payload);
        return true;
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return false;
      char buf[65536];
      ssize_t n = recv_some(buf, sizeof buf, left);
      if (n <= 0) return false;
      rest_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads frames until a text frame containing `needle` (true) or EOF / timeout (false).
  bool read_until(const std::string &needle, int ms, std::string *out = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    Frame f;
    for (;;) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0 || !read_frame(&f, left)) return false;
      if (f.opcode == 1 && f.payload.find(needle) != std::string::npos) {
        if (out) *out = f.payload;
        return true;
      }
    }
  }
  // Upgrade + session.created, wait for session.update, answer session.updated.
  bool open_session(int ms = 5000) {
    if (!create_session(ms)) return false;
    if (!read_until("\"session.update\"", ms)) return false;
    return send_session_updated();
  }
  // The handshake and session.created, leaving the client's configuration update unread.
  bool create_session(int ms = 5000) {
    if (!read_request(ms)) return false;
    send_upgrade();
    return send_text(R"({"type":"session.created","event_id":"h1","session":{"id":"sess_hostile","object":"realtime.session","type":"realtime","model":"hostile","expires_at":0}})");
  }
  bool send_session_updated() {
    return send_text(R"({"type":"session.updated","event_id":"h2","session":{"id":"sess_hostile","object":"realtime.session","type":"realtime","model":"hostile","expires_at":0}})");
  }
  // Reads (and answers pings) until EOF or `ms`.
  void serve(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    Frame f;
    while (std::chrono::steady_clock::now() < deadline) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (!read_frame(&f, std::max(1, left))) {
        if (eof_) return;
      }
      if (f.opcode == 8) return;
    }
  }
  // Sleeps `ms` without reading (the kernel buffers fill up: a half-open peer), or until closed.
  void stall(int ms, const std::atomic<bool> &stop) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stop.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool send_all(const char *d, size_t n) {
    while (n > 0) {
      ssize_t k = ::send(fd_, d, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      d += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  void shutdown_now() { ::shutdown(fd_, SHUT_RDWR); }
  bool eof() const { return eof_; }
  bool answer_pings = true;
  std::atomic<int64_t> *audio_bytes = nullptr;  // server-wide counter of appended audio read
  // Server-wide: the most appended audio read in a row with no ping (delivery probe) among it.
  std::atomic<int64_t> *max_unprobed = nullptr;

 private:
  ssize_t recv_some(char *buf, size_t n, int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return -1;
    ssize_t k = ::recv(fd_, buf, n, 0);
    if (k == 0) eof_ = true;
    return k;
  }
  bool try_parse(Frame *f) {
    const std::string &b = rest_;
    if (b.size() < 2) return false;
    const auto *u = reinterpret_cast<const unsigned char *>(b.data());
    size_t at = 2;
    uint64_t len = u[1] & 0x7f;
    if (len == 126) {
      if (b.size() < 4) return false;
      len = (static_cast<uint64_t>(u[2]) << 8) | u[3];
      at = 4;
    } else if (len == 127) {
      if (b.size() < 10) return false;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | u[2 + i];
      at = 10;
    }
    bool masked = u[1] & 0x80;
    size_t mask_at = at;
    if (masked) at += 4;
    if (b.size() < at + len) return false;
    f->opcode = u[0] & 0x0f;
    f->payload.assign(b.data() + at, len);
    if (masked)
      for (size_t i = 0; i < len; i++) f->payload[i] = static_cast<char>(f->payload[i] ^ b[mask_at + i % 4]);
    rest_.erase(0, at + len);
    return true;
  }
  void count_audio(const std::string &s) {
    if (!audio_bytes || s.find("\"input_audio_buffer.append\"") == std::string::npos) return;
    auto p = s.find("\"audio\":\"");
    if (p == std::string::npos) return;
    p += 9;
    auto e = s.find('"', p);
    size_t n = e - p;
    size_t bytes = n / 4 * 3;
    if (n >= 1 && s[e - 1] == '=') bytes--;
    if (n >= 2 && s[e - 2] == '=') bytes--;
    audio_bytes->fetch_add(static_cast<int64_t>(bytes));
    since_ping_ += static_cast<int64_t>(bytes);
    if (max_unprobed) {
      int64_t m = max_unprobed->load();
      while (since_ping_ > m && !max_unprobed->compare_exchange_weak(m, since_ping_)) {
      }
    }
  }
  int fd_;
  std::string key_, rest_;
  bool eof_ = false;
  int64_t since_ping_ = 0;  // appended audio read since the last ping
};

// Accepts connections on 127.0.0.1 (ephemeral port); runs behavior(peer, index) for each.
class HostileServer {
 public:
  using Behavior = std::function<void(HostilePeer &, int index)>;
  explicit HostileServer(Behavior b) : behavior_(std::move(b)) {
    lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(lfd_, 16);
    socklen_t l = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr *>(&a), &l);
    url = "ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~HostileServer() { stop(); }
  void stop() {
    if (stop_.exchange(true)) return;
    ::shutdown(lfd_, SHUT_RDWR);
    close(lfd_);
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto &t : peers_) t.join();
    for (int fd : fds_) close(fd);
  }
  std::string url;
  std::atomic<int64_t> audio_bytes{0};  // input audio the server has read
  std::atomic<int64_t> max_unprobed{0};  // see HostilePeer::max_unprobed
  std::atomic<int> connections{0};
  std::atomic<bool> stop_{false};
  // Small receive buffer: a peer that stops reading blocks the client after a few frames.
  int rcvbuf = 0;

 private:
  void accept_loop() {
    for (;;) {
      int fd = accept(lfd_, nullptr, nullptr);
      if (fd < 0) return;
      if (stop_.load()) {
        close(fd);
        return;
      }
      if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      int idx = connections.fetch_add(1);
      std::lock_guard<std::mutex> lk(mu_);
      fds_.push_back(fd);
      peers_.emplace_back([this, fd, idx] {
        HostilePeer p(fd);
        p.audio_bytes = &audio_bytes;
        p.max_unprobed = &max_unprobed;
        behavior_(p, idx);
        ::shutdown(fd, SHUT_RDWR);
      });
    }
  }
  Behavior behavior_;
  int lfd_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> peers_;
};

}  // namespace rtctest
