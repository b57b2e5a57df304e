// realtime-emulator: command-line configuration shared by the server and the sessions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "voice.h"

namespace emu {

struct ErrorFault {
  int64_t after = 0;  // after this many server events
  std::string code;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string port_file;
  std::string tls_cert, tls_key;
  std::string api_key;
  VoiceKind voice = VoiceKind::Espeak;
  // Pace: 0 = burst (as fast as possible); otherwise audio is streamed at `pace` x real time.
  double pace = 4.0;
  int latency_ms = 0;  // delay between response.created and the first delta
  std::string scenario;
  int64_t session_max_s = -1;  // -1: service default (OpenAI GA 60 min, others 30 min, §1.5)
  std::string log_path;
  bool log_audio = true;  // false: audio payloads are replaced by their length in the log
  int transcription_delay_ms = 150;
  int translation_lag_ms = 300;  // translation sessions: phrase end -> first output (wall clock)
  bool transcription_fail = false;
  bool reject_beta_on_ga = false;
  bool verbose = false;

  // Faults (per connection; only the first `fault_connections` connections if > 0).
  int64_t fault_close_after = -1;
  int fault_close_code = 1011;
  bool fault_close_abrupt = false;
  int fault_delay_ms = 0;
  int fault_handshake_status = 0;
  int fault_handshake_count = 0;  // 0 = every handshake
  int64_t fault_malformed_after = -1;
  std::vector<ErrorFault> fault_errors;
  int fault_connections = 0;
};

}  // namespace emu
