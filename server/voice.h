// realtime-emulator: the assistant's voice (§2.7 voices are mapped onto local synthesisers).
//
//   espeak: real speech from espeak-ng (synchronous synthesis into memory at its native rate,
//           22050 Hz), resampled to 24 kHz S16LE mono, or to 8 kHz then G.711 u-law / a-law.
//           Each realtime voice name picks an espeak-ng variant (alloy -> en-us+m3, ...).
//   tone:   a deterministic, cheap signal: 60 ms per character of text; letters/digits/punctuation
//           are a 440 Hz sine at -10 dBFS with 5 ms fade in/out per character, spaces are silence.
//           Duration = 60 ms * (number of UTF-8 characters), exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "audio.h"

namespace emu {

enum class VoiceKind { Espeak, Tone };

class Voice {
 public:
  explicit Voice(VoiceKind kind) : kind_(kind) {}
  // Returns false (with a message) when espeak-ng cannot be initialised.
  bool init(std::string *err);
  // Synthesises `text` with the realtime voice name `voice` at `speed` (0.25..1.5) into wire
  // bytes of format f.
  std::vector<uint8_t> synth(const std::string &text, const std::string &voice, double speed, Fmt f);
  VoiceKind kind() const { return kind_; }

  static constexpr int kToneMsPerChar = 60;

 private:
  std::vector<int16_t> synth_tone(const std::string &text, int rate) const;
  std::vector<int16_t> synth_espeak(const std::string &text, const std::string &voice, double speed);

  VoiceKind kind_;
  bool espeak_ready_ = false;
  int espeak_rate_ = 22050;
};

}  // namespace emu
