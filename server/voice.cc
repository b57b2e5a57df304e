// realtime-emulator: espeak-ng and tone voices.
#include "voice.h"

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <glib.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace emu {

namespace {

// espeak-ng delivers samples through a global callback; the emulator is single-threaded.
std::vector<int16_t> *g_collect = nullptr;

int synth_callback(short *wav, int numsamples, espeak_EVENT *) {
  if (wav && numsamples > 0 && g_collect) g_collect->insert(g_collect->end(), wav, wav + numsamples);
  return 0;  // continue
}

// §2.7 realtime voices -> espeak-ng voice+variant.
const char *espeak_voice_for(const std::string &v) {
  static const struct {
    const char *name, *espeak;
  } kMap[] = {
      {"alloy", "en-us+m3"},  {"ash", "en-us+m1"},     {"ballad", "en-gb+m2"}, {"coral", "en-us+f3"},
      {"echo", "en-us+m4"},   {"sage", "en-us+f2"},    {"shimmer", "en-us+f4"}, {"verse", "en-gb+m5"},
      {"marin", "en-us+f1"},  {"cedar", "en-us+m7"},
  };
  for (const auto &m : kMap)
    if (v == m.name) return m.espeak;
  if (v.rfind("lang:", 0) == 0 && v.size() > 5) return v.c_str() + 5;  // translation: the target language's voice
  return "en-us";
}

}  // namespace

bool Voice::init(std::string *err) {
  if (kind_ != VoiceKind::Espeak) return true;
  espeak_ng_InitializePath(nullptr);
  espeak_ng_ERROR_CONTEXT ctx = nullptr;
  espeak_ng_STATUS st = espeak_ng_Initialize(&ctx);
  if (st != ENS_OK) {
    char buf[256];
    espeak_ng_GetStatusCodeMessage(st, buf, sizeof buf);
    if (err) *err = std::string("espeak-ng initialisation failed: ") + buf;
    espeak_ng_ClearErrorContext(&ctx);
    return false;
  }
  st = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, nullptr);
  if (st != ENS_OK) {
    if (err) *err = "espeak-ng output initialisation failed";
    return false;
  }
  espeak_SetSynthCallback(synth_callback);
  espeak_rate_ = espeak_ng_GetSampleRate();
  espeak_ready_ = true;
  return true;
}

std::vector<int16_t> Voice::synth_tone(const std::string &text, int rate) const {
  std::vector<int16_t> out;
  const int per_char = rate * kToneMsPerChar / 1000;
  const int fade = rate * 5 / 1000;
  const double amp = 32767.0 * std::pow(10.0, -10.0 / 20.0) * std::sqrt(2.0);  // -10 dBFS RMS
  const char *p = text.c_str();
  int64_t n = 0;
  while (*p) {
    const gunichar c = g_utf8_get_char_validated(p, -1);
    const bool silent = (c == gunichar(-1) || c == gunichar(-2)) ? false : g_unichar_isspace(c);
    for (int i = 0; i < per_char; i++, n++) {
      double v = 0;
      if (!silent) {
        double env = 1.0;
        if (i < fade) env = double(i) / fade;
        if (per_char - i < fade) env = std::min(env, double(per_char - i) / fade);
        v = amp * env * std::sin(2 * M_PI * 440.0 * double(n) / rate);
      }
      out.push_back(int16_t(std::lround(std::clamp(v, -32768.0, 32767.0))));
    }
    const gchar *next = g_utf8_find_next_char(p, nullptr);
    if (!next || next <= p) break;
    p = next;
  }
  return out;
}

std::vector<int16_t> Voice::synth_espeak(const std::string &text, const std::string &voice, double speed) {
  std::vector<int16_t> pcm;
  if (!espeak_ready_ || text.empty()) return pcm;
  espeak_ng_SetVoiceByName(espeak_voice_for(voice));
  const int rate = std::clamp(int(std::lround(175.0 * speed)), 80, 450);
  espeak_ng_SetParameter(espeakRATE, rate, 0);
  g_collect = &pcm;
  espeak_ng_Synthesize(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr,
                       nullptr);
  espeak_ng_Synchronize();
  g_collect = nullptr;
  return pcm;
}

std::vector<uint8_t> Voice::synth(const std::string &text, const std::string &voice, double speed, Fmt f) {
  const int rate = fmt_rate(f);
  std::vector<int16_t> pcm;
  if (kind_ == VoiceKind::Tone) {
    pcm = synth_tone(text, rate);
  } else {
    pcm = resample(synth_espeak(text, voice, speed), espeak_rate_, rate);
  }
  return encode_from_s16(f, pcm);
}

}  // namespace emu
