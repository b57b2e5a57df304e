// Internal helpers of the session engine (no libsoup, no threads): unit-testable pieces.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "session.h"

namespace rtc {
namespace detail {

// The manual commits (input_audio_buffer.commit) sent on the current server session and not
// answered yet, oldest first: the server answers them in order (input_audio_buffer.committed, or
// an error naming the commit's event id). Each is recorded with the session input sample it ends
// at, which gives its committed item's span. Bounded: beyond kMaxRecorded, a commit is only
// counted (and so is every later one until the count is answered, to keep the order), and its
// item gets the fallback span; the count of commits lost with the session stays exact. (One
// limit: an error naming a commit that is not recorded is recognised by its event type, which
// EventTypeMap keeps for the 512 newest client events. Reaching it takes over 1,024 commits
// unanswered, then an error about one of them after 512 newer client events.)
class CommitLedger {
 public:
  static constexpr size_t kMaxRecorded = 1024;
  void sent(std::string event_id, int64_t end_sample) {
    if (unrecorded_ > 0 || recorded_.size() >= kMaxRecorded)
      unrecorded_++;
    else
      recorded_.emplace_back(std::move(event_id), end_sample);
  }
  // The oldest commit was answered: its end sample, or -1 (none sent, or not recorded).
  int64_t committed() {
    if (!recorded_.empty()) {
      int64_t end = recorded_.front().second;
      recorded_.pop_front();
      return end;
    }
    if (unrecorded_ > 0) unrecorded_--;
    return -1;
  }
  // An error named the client event `event_id`: a recorded commit with that id leaves; else, when
  // that event is known to be a commit (`is_commit`), one of the commits not recorded does.
  void rejected(const std::string &event_id, bool is_commit) {
    for (auto it = recorded_.begin(); it != recorded_.end(); ++it)
      if (it->first == event_id) {
        recorded_.erase(it);
        return;
      }
    if (is_commit && unrecorded_ > 0) unrecorded_--;
  }
  size_t unanswered() const { return recorded_.size() + unrecorded_; }
  void clear() {
    recorded_.clear();
    unrecorded_ = 0;
  }

 private:
  std::deque<std::pair<std::string, int64_t>> recorded_;  // (event id, session end sample)
  size_t unrecorded_ = 0;
};

// SessionInputMap: the input of ONE server session (§6: audio_start_ms / audio_end_ms count the
// audio appended to that session's input buffer, not wall-clock) mapped to the caller's input
// stream positions. (Not the element's rtcgst::InputTimeline, which maps caller samples to running
// time: docs/protocol.md §16.) Session samples are contiguous; caller samples may jump (audio dropped while
// disconnected, cleared before sending), so the mapping is a list of segments, merged when
// contiguous on both sides.
class SessionInputMap {
 public:
  explicit SessionInputMap(size_t max_segments = 4096) : max_segs_(max_segments) {}
  void reset() {
    segs_.clear();
    sent_ = 0;
  }
  // `n` samples starting at caller sample `caller_first` were appended to the session.
  void add(int64_t caller_first, int64_t n) {
    if (n <= 0) return;
    if (!segs_.empty()) {
      Seg &b = segs_.back();
      if (b.c + b.n == caller_first) {
        b.n += n;
        sent_ += n;
        return;
      }
    }
    segs_.push_back(Seg{sent_, caller_first, n});
    if (segs_.size() > max_segs_) segs_.pop_front();
    sent_ += n;
  }
  int64_t sent() const { return sent_; }
  // Caller sample of session sample `x` (x == sent() gives the exclusive end; positions past
  // the end are extrapolated from the last segment, e.g. a VAD end that includes silence not
  // sent yet). -1 when unknown.
  int64_t to_caller(int64_t x) const {
    if (x < 0 || segs_.empty()) return -1;
    if (x < segs_.front().s) return -1;
    // binary search for the last segment with s <= x
    size_t lo = 0, hi = segs_.size();
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (segs_[mid].s <= x)
        lo = mid;
      else
        hi = mid;
    }
    const Seg &g = segs_[lo];
    return g.c + (x - g.s);
  }
  size_t segments() const { return segs_.size(); }

 private:
  struct Seg {
    int64_t s, c, n;  // session first sample, caller first sample, count
  };
  std::deque<Seg> segs_;
  int64_t sent_ = 0;
  size_t max_segs_;
};

// event_id -> client event type, bounded (oldest forgotten), to name the client event an error
// refers to (§8 error.event_id).
class EventTypeMap {
 public:
  explicit EventTypeMap(size_t max = 512) : max_(max) {}
  void add(const std::string &id, const char *type) {
    if (id.empty()) return;
    map_[id] = type;
    order_.push_back(id);
    while (order_.size() > max_) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }
  std::string get(const std::string &id) const {
    auto it = map_.find(id);
    return it == map_.end() ? std::string() : it->second;
  }
  void clear() {
    map_.clear();
    order_.clear();
  }
  size_t size() const { return map_.size(); }

 private:
  std::unordered_map<std::string, std::string> map_;
  std::deque<std::string> order_;
  size_t max_;
};

// Error classification of the issue / §8.
ErrorClass classify_error(const ErrorInfo &e);
// Backoff delay for attempt n >= 1: base * 2^(n-1), capped at max, +-25 % jitter (u in [0,1)).
int backoff_delay_ms(int attempt, int base_ms, int max_ms, double u);
// Handshake statuses that can never succeed by retrying (§1.4: 401 on a bad URL, auth, not found).
inline bool handshake_status_fatal(int status) { return status == 401 || status == 403 || status == 404; }
// Close codes after which the engine reconnects (1001 going away, 1006 abnormal, 1011 server
// error, 1012 restart, 1013 try again later; 0/1005 = no close frame, i.e. abrupt).
// 1002 too: libsoup 3.2 refuses to SEND codes 1012-2999 (a libsoup server asked to close with 1012,
// like realtime-emulator, sends 1002 instead); a received 1012 / 1013 is kept as the peer's code
// (soup_websocket_connection_get_close_code()) although libsoup answers it with 1002. 1000 (the
// server ended the session) reconnects with a new session. 1014 (bad gateway) too. Permanent: 1003, 1007-1010 (our data refused), 1008 (policy), 3000-4999
// (registered and application codes, e.g. 3000 unauthorized, 4000+ service-defined).
inline bool close_code_reconnectable(int code) {
  return code == 0 || code == 1000 || code == 1001 || code == 1002 || code == 1005 || code == 1006 || code == 1011 ||
         code == 1012 || code == 1013 || code == 1014;
}

// A server time in ms (§6 audio_start_ms / audio_end_ms: positions in the audio appended to that
// server session) as a session sample at `rate`, or -1 when it cannot be a position of the input
// timeline: negative, or beyond what was appended (`sent` samples) plus `tolerance` samples.
// Saturating: never overflows, whatever the server sends.
inline int64_t server_ms_to_sample(int64_t ms, int rate, int64_t sent, int64_t tolerance) {
  if (ms < 0 || rate <= 0) return -1;
  if (ms > INT64_MAX / rate) return -1;
  int64_t s = ms * rate / 1000;
  if (sent < 0) sent = 0;
  if (tolerance < 0) tolerance = 0;
  if (s > sent && s - sent > tolerance) return -1;
  return s;
}

// Why a connection ended, in one sentence, and whether reconnecting can help (docs/reliability.md).
//   peer_code:   close code sent by the server (0 = none: abrupt, or not received)
//   local_code:  the error code libsoup closed with on our side (SOUP_WEBSOCKET_CLOSE_*; 0 = none),
//                local_msg its message: the server broke the WebSocket protocol (e.g. invalid UTF-8)
struct CloseCause {
  std::string reason;
  bool fatal = false;
};
CloseCause describe_close(int peer_code, const std::string &peer_reason, int local_code, const std::string &local_msg);

}  // namespace detail
}  // namespace rtc
