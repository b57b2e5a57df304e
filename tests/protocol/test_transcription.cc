// Transcription-only sessions (docs/protocol.md §14; shared Part B §7-§9): URL forms of both
// services and dialects, the transcription session update with the 2026 fields, and the
// transcription server events (logprobs, segments, a delta without item_id).
#include "test_util.h"

using namespace rtc;
using rtc_test::JsonEqual;

namespace {

ResolvedEndpoint resolve_tx(EndpointParams p) {
  p.kind = SessionKind::Transcription;
  p.use_env = false;
  if (p.api_key.empty()) p.api_key = "sk-test-key-0123456789";
  ResolvedEndpoint r;
  std::string err;
  EXPECT_TRUE(resolve_endpoint(p, &r, &err)) << err;
  return r;
}

SessionConfig whisper_config() {
  SessionConfig c;
  InputTranscription t;
  t.model = "gpt-realtime-whisper";
  t.language = "en";
  t.delay = "low";
  c.input_transcription = t;
  c.noise_reduction = NoiseReduction::NearField;
  c.turn_detection.type = TurnDetection::Type::None;
  c.include_logprobs = true;
  return c;
}

}  // namespace

TEST(TranscriptionEndpoint, OpenAIGaHasIntentAndNoModel) {
  EndpointParams p;
  p.deployment = "gpt-realtime";  // a conversation model must not leak into the URL
  ResolvedEndpoint r = resolve_tx(p);
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?intent=transcription");
  EXPECT_EQ(r.dialect, Dialect::GA);
  for (auto &h : r.headers) EXPECT_NE(h.first, "OpenAI-Beta");
}

TEST(TranscriptionEndpoint, OpenAIPreviewSendsBetaHeader) {
  EndpointParams p;
  p.dialect = DialectChoice::Preview;
  ResolvedEndpoint r = resolve_tx(p);
  EXPECT_EQ(r.url, "wss://api.openai.com/v1/realtime?intent=transcription");
  bool beta = false;
  for (auto &h : r.headers) beta |= (h.first == "OpenAI-Beta" && h.second == "realtime=v1");
  EXPECT_TRUE(beta);
}

TEST(TranscriptionEndpoint, AzureGa) {
  EndpointParams p;
  p.endpoint = "https://res.openai.azure.com";
  p.deployment = "my-whisper";
  ResolvedEndpoint r = resolve_tx(p);
  EXPECT_EQ(r.url, "wss://res.openai.azure.com/openai/v1/realtime?intent=transcription");
  EXPECT_TRUE(r.azure);
}

TEST(TranscriptionEndpoint, AzurePreviewKeepsApiVersionNoDeployment) {
  EndpointParams p;
  p.endpoint = "https://res.openai.azure.com";
  p.api_version = "2025-04-01-preview";
  p.deployment = "my-whisper";
  ResolvedEndpoint r = resolve_tx(p);
  EXPECT_EQ(r.url, "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&intent=transcription");
  EXPECT_EQ(r.dialect, Dialect::Preview);
}

TEST(TranscriptionEndpoint, IntentInTheGivenUrlIsNotDuplicated) {
  EndpointParams p;
  p.endpoint = "ws://127.0.0.1:9000/v1/realtime?intent=transcription";
  ResolvedEndpoint r = resolve_tx(p);
  EXPECT_EQ(r.url, "ws://127.0.0.1:9000/v1/realtime?intent=transcription");
}

TEST(TranscriptionBuild, GaSessionUpdateWithDelayAndLogprobs) {
  EXPECT_TRUE(JsonEqual(
      build_transcription_session_update(Dialect::GA, whisper_config(), "evt_1"),
      R"({"type":"session.update","event_id":"evt_1","session":{"type":"transcription",
          "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},
            "transcription":{"model":"gpt-realtime-whisper","language":"en","delay":"low"},
            "noise_reduction":{"type":"near_field"},"turn_detection":null}},
          "include":["item.input_audio_transcription.logprobs"]}})"));
}

TEST(TranscriptionBuild, PreviewTranscriptionSessionUpdate) {
  SessionConfig c;
  c.input_transcription = InputTranscription{"gpt-4o-transcribe", "", "names: Ada", "", {}, {}};
  c.turn_detection.type = TurnDetection::Type::ServerVad;
  EXPECT_TRUE(JsonEqual(build_transcription_session_update(Dialect::Preview, c),
                        R"({"type":"transcription_session.update","session":{"input_audio_format":"pcm16",
          "input_audio_transcription":{"model":"gpt-4o-transcribe","prompt":"names: Ada"},
          "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500},
          "input_audio_noise_reduction":null}})"));
}

TEST(TranscriptionBuild, KeywordsAndLanguagesNeverEmpty) {
  SessionConfig c;
  InputTranscription t;
  t.model = "gpt-live-transcribe";
  t.keywords = {"GStreamer", "Matroska"};
  c.input_transcription = t;
  c.turn_detection.type = TurnDetection::Type::None;
  std::string j = build_transcription_session_update(Dialect::GA, c);
  EXPECT_NE(j.find(R"("keywords":["GStreamer","Matroska"])"), std::string::npos) << j;
  EXPECT_EQ(j.find("languages"), std::string::npos) << j;  // [] is rejected by the service
  EXPECT_EQ(j.find("include"), std::string::npos) << j;
}

TEST(TranscriptionParse, DeltaWithLogprobsAndWithoutItemId) {
  auto p = parse_server_event(
      R"({"type":"conversation.item.input_audio_transcription.delta","event_id":"e5","content_index":0,"delta":"Hello,",)"
      R"("logprobs":[{"token":"Hello","logprob":-0.25,"bytes":[72]},{"token":",","logprob":-1.5,"bytes":[44]}]})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.type, ServerEventType::InputTranscriptionDelta);
  EXPECT_EQ(p.event.item_id, "");
  EXPECT_EQ(p.event.text, "Hello,");
  ASSERT_EQ(p.event.logprobs.size(), 2u);
  EXPECT_DOUBLE_EQ(p.event.logprobs[1], -1.5);
}

TEST(TranscriptionParse, CompletedWithDurationUsage) {
  auto p = parse_server_event(
      R"({"type":"conversation.item.input_audio_transcription.completed","event_id":"e9","item_id":"item_3",)"
      R"("content_index":0,"transcript":"Hello, how are you?","usage":{"type":"duration","seconds":2}})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.item_id, "item_3");
  EXPECT_EQ(p.event.text, "Hello, how are you?");
  EXPECT_TRUE(p.event.logprobs.empty());
}

TEST(TranscriptionParse, Segment) {
  auto p = parse_server_event(
      R"({"type":"conversation.item.input_audio_transcription.segment","event_id":"e10","item_id":"item_4",)"
      R"("content_index":0,"id":"seg_1","text":"hello","speaker":"spk_1","start":0.0,"end":0.4})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.type, ServerEventType::InputTranscriptionSegment);
  EXPECT_EQ(p.event.speaker, "spk_1");
  EXPECT_EQ(p.event.segment_id, "seg_1");
  EXPECT_DOUBLE_EQ(p.event.segment_end, 0.4);
}

TEST(TranscriptionParse, BadLogprobsIsAnError) {
  auto p = parse_server_event(
      R"({"type":"conversation.item.input_audio_transcription.delta","item_id":"i","delta":"x","logprobs":[3]})");
  EXPECT_FALSE(p.ok);
}
