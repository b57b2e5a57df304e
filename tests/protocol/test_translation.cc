// Translation sessions (issue 14, docs/protocol.md §15): the three client events, the seven
// server events, and the endpoint forms.
#include <gtest/gtest.h>

#include "protocol.h"

using namespace rtc;

TEST(TranslationBuild, SessionUpdateHasOnlyTheTranslationShape) {
  SessionConfig c;
  c.output_language = "de";
  c.input_transcription = InputTranscription{"gpt-realtime-whisper", "en", "prompt", "", {}, {}};
  c.noise_reduction = NoiseReduction::NearField;
  c.instructions = "never sent";
  c.voice = "alloy";
  EXPECT_EQ(build_translation_session_update(c, "ev_1"),
            "{\"type\":\"session.update\",\"event_id\":\"ev_1\",\"session\":{\"audio\":{\"input\":{\"transcription\":"
            "{\"model\":\"gpt-realtime-whisper\"},\"noise_reduction\":{\"type\":\"near_field\"}},\"output\":"
            "{\"language\":\"de\"}}}}");
  SessionConfig off;
  off.output_language = "es";
  EXPECT_EQ(build_translation_session_update(off),
            "{\"type\":\"session.update\",\"session\":{\"audio\":{\"input\":{\"transcription\":null,"
            "\"noise_reduction\":null},\"output\":{\"language\":\"es\"}}}}");
}

TEST(TranslationBuild, AppendAndClose) {
  const uint8_t pcm[] = {1, 0, 2, 0};
  std::string out;
  build_translation_audio_append(out, pcm, sizeof pcm, "ev_17");
  EXPECT_EQ(out, "{\"type\":\"session.input_audio_buffer.append\",\"event_id\":\"ev_17\",\"audio\":\"AQACAA==\"}");
  EXPECT_EQ(build_session_close(), "{\"type\":\"session.close\"}");
  EXPECT_EQ(build_session_close("e"), "{\"type\":\"session.close\",\"event_id\":\"e\"}");
}

TEST(TranslationParse, ServerEventsOfTheReference) {
  auto c = parse_server_event(
      "{\"type\":\"session.created\",\"event_id\":\"event_1\",\"session\":{\"id\":\"sess_1\",\"type\":\"translation\","
      "\"model\":\"gpt-realtime-translate\",\"expires_at\":1790000000,\"audio\":{\"input\":{\"transcription\":null,"
      "\"noise_reduction\":null},\"output\":{\"language\":\"es\"}}}}");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.event.type, ServerEventType::SessionCreated);
  EXPECT_EQ(c.event.session.id, "sess_1");
  EXPECT_EQ(c.event.session.expires_at, 1790000000);

  auto i = parse_server_event("{\"type\":\"session.input_transcript.delta\",\"event_id\":\"event_7\",\"delta\":\" we will\",\"elapsed_ms\":1400}");
  ASSERT_TRUE(i.ok) << i.error;
  EXPECT_EQ(i.event.type, ServerEventType::TranslationInputTranscriptDelta);
  EXPECT_EQ(i.event.text, " we will");
  EXPECT_EQ(i.event.elapsed_ms, 1400);

  auto o = parse_server_event("{\"type\":\"session.output_transcript.delta\",\"event_id\":\"event_8\",\"delta\":\" vamos\",\"elapsed_ms\":null}");
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.event.type, ServerEventType::TranslationOutputTranscriptDelta);
  EXPECT_EQ(o.event.elapsed_ms, -1);

  auto a = parse_server_event(
      "{\"type\":\"session.output_audio.delta\",\"event_id\":\"event_9\",\"delta\":\"AQACAA==\",\"sample_rate\":24000,"
      "\"channels\":1,\"format\":\"pcm16\",\"elapsed_ms\":1400}");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.event.type, ServerEventType::TranslationOutputAudioDelta);
  EXPECT_EQ(a.event.audio.size(), 4u);
  EXPECT_EQ(a.event.sample_rate, 24000);
  EXPECT_EQ(a.event.channels, 1);
  EXPECT_EQ(a.event.format, "pcm16");
  EXPECT_EQ(a.event.elapsed_ms, 1400);
  // the conversation fast path does not claim it
  AudioDeltaHeader h;
  std::string err;
  const std::string t = "{\"type\":\"session.output_audio.delta\",\"delta\":\"AQACAA==\"}";
  EXPECT_EQ(parse_audio_delta_fast(t.data(), t.size(), &h, [](size_t) -> uint8_t * { return nullptr; }, &err),
            FastParseStatus::NotAudioDelta);

  auto closed = parse_server_event("{\"type\":\"session.closed\",\"event_id\":\"event_99\"}");
  ASSERT_TRUE(closed.ok);
  EXPECT_EQ(closed.event.type, ServerEventType::SessionClosed);
}

TEST(TranslationParse, BadFieldsAreClearErrorsOrIgnored) {
  auto bad = parse_server_event("{\"type\":\"session.output_audio.delta\",\"delta\":\"@@@\"}");
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("base64"), std::string::npos);
  auto nodelta = parse_server_event("{\"type\":\"session.output_transcript.delta\",\"elapsed_ms\":5}");
  EXPECT_FALSE(nodelta.ok);
  auto wrong = parse_server_event("{\"type\":\"session.output_transcript.delta\",\"delta\":\"x\",\"elapsed_ms\":\"5\"}");
  EXPECT_FALSE(wrong.ok);
  // a negative position carries no information: kept as absent, the text is not lost
  auto neg = parse_server_event("{\"type\":\"session.output_transcript.delta\",\"delta\":\"x\",\"elapsed_ms\":-200}");
  ASSERT_TRUE(neg.ok);
  EXPECT_EQ(neg.event.elapsed_ms, -1);
}

namespace {
ResolvedEndpoint resolve_xl(const std::string &endpoint, const std::string &deployment = {}) {
  EndpointParams p;
  p.endpoint = endpoint;
  p.deployment = deployment;
  p.api_key = "sk-test-1234567890";
  p.use_env = false;
  p.kind = SessionKind::Translation;
  ResolvedEndpoint r;
  std::string err;
  EXPECT_TRUE(resolve_endpoint(p, &r, &err, [](const char *) { return std::optional<std::string>(); })) << err;
  return r;
}
bool has_header(const ResolvedEndpoint &r, const std::string &name) {
  for (auto &h : r.headers)
    if (h.first == name) return true;
  return false;
}
}  // namespace

TEST(TranslationEndpoint, OpenAI) {
  auto r = resolve_xl("wss://api.openai.com");
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate");
  EXPECT_TRUE(has_header(r, "Authorization"));
  EXPECT_FALSE(has_header(r, "OpenAI-Beta"));
  EXPECT_EQ(r.dialect, Dialect::GA);
  EXPECT_EQ(resolve_xl("wss://api.openai.com/v1/realtime/translations").url,
            "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate");
  EXPECT_EQ(resolve_xl("ws://127.0.0.1:1234", "m").url, "ws://127.0.0.1:1234/v1/realtime/translations?model=m");
}

TEST(TranslationEndpoint, AzureUnconfirmedForm) {
  auto r = resolve_xl("https://res.openai.azure.com", "my-translate");
  EXPECT_EQ(r.url, "wss://res.openai.azure.com/openai/v1/realtime/translations?model=my-translate");
  EXPECT_TRUE(has_header(r, "api-key"));
  EXPECT_EQ(r.url.find("api-version"), std::string::npos);
  EXPECT_EQ(resolve_xl("ws://127.0.0.1:1234/openai", "d").url,
            "ws://127.0.0.1:1234/openai/v1/realtime/translations?model=d");
}
