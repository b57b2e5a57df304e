// Server events (§4, §7.1): the seeds, every §10 sequence in both dialects, unknown and
// malformed input.
#include <cstdlib>

#include "test_util.h"

using namespace rtc;
using rtc_test::golden;
using rtc_test::golden_lines;
using T = ServerEventType;

namespace {

std::vector<ServerEvent> parse_all(const std::string &file) {
  std::vector<ServerEvent> out;
  for (const std::string &line : golden_lines(file)) {
    ParsedServerEvent p = parse_server_event(line);
    EXPECT_TRUE(p.ok) << file << ": " << p.error << "\n  " << line;
    EXPECT_NE(p.event.type, T::Unknown) << line;
    out.push_back(std::move(p.event));
  }
  return out;
}

std::vector<T> types_of(const std::vector<ServerEvent> &evs) {
  std::vector<T> t;
  for (const ServerEvent &e : evs) t.push_back(e.type);
  return t;
}

std::string error_of(const std::string &json) {
  ParsedServerEvent p = parse_server_event(json);
  EXPECT_FALSE(p.ok) << json;
  return p.error;
}

}  // namespace

// --- seeds (../shared/seeds/000_*.txt, extracted into golden/server/seed000_*.json) ----------
TEST(ParseSeeds, SessionCreatedPreview) {
  ParsedServerEvent p = parse_server_event(golden("server/seed000_session_created.json"));
  ASSERT_TRUE(p.ok) << p.error;
  const SessionInfo &s = p.event.session;
  EXPECT_EQ(p.event.type, T::SessionCreated);
  EXPECT_EQ(p.event.event_id, "REDACTED");
  EXPECT_EQ(s.object, "realtime.session");
  EXPECT_EQ(s.model, "gpt-4o-realtime-preview-2024-10-01");
  EXPECT_EQ(s.expires_at, 1734626723);
  EXPECT_EQ(s.voice, "alloy");
  EXPECT_EQ(s.input_format, AudioFormat::PCM16);
  EXPECT_EQ(s.output_format, AudioFormat::PCM16);
  EXPECT_EQ(s.output_modality, Modality::Audio);
  EXPECT_EQ(s.turn_detection_type, "server_vad");
  EXPECT_TRUE(rtc_test::JsonEqual(s.raw_json, s.raw_json));
  EXPECT_NE(s.raw_json.find("\"max_response_output_tokens\": \"inf\""), std::string::npos);  // as received
}
TEST(ParseSeeds, ResponseCreatedPreview) {
  ParsedServerEvent p = parse_server_event(golden("server/seed000_response_created.json"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.type, T::ResponseCreated);
  EXPECT_EQ(p.event.response.status, "in_progress");
  EXPECT_TRUE(p.event.response.output.empty());
  EXPECT_FALSE(p.event.response.usage.present);
}
TEST(ParseSeeds, ResponseDonePreview) {
  ParsedServerEvent p = parse_server_event(golden("server/seed000_response_done.json"));
  ASSERT_TRUE(p.ok) << p.error;
  const ResponseInfo &r = p.event.response;
  EXPECT_EQ(p.event.type, T::ResponseDone);
  EXPECT_EQ(r.id, "REDACTED");
  EXPECT_EQ(r.status, "completed");
  EXPECT_EQ(r.status_type, "");
  ASSERT_EQ(r.output.size(), 1u);
  EXPECT_EQ(r.output[0].type, "message");
  EXPECT_EQ(r.output[0].role, "assistant");
  ASSERT_EQ(r.output[0].content.size(), 1u);
  EXPECT_EQ(r.output[0].content[0].type, "audio");
  EXPECT_EQ(r.output[0].content[0].transcript, "Hello! How can I assist you today?");
  EXPECT_FALSE(r.output[0].content[0].transcript_null);
  EXPECT_TRUE(r.usage.present);
  EXPECT_EQ(r.usage.total_tokens, 82);
  EXPECT_EQ(r.usage.input_tokens, 5);
  EXPECT_EQ(r.usage.output_tokens, 77);
  EXPECT_EQ(r.usage.input_text_tokens, 5);
  EXPECT_EQ(r.usage.input_cached_tokens, 0);
  EXPECT_EQ(r.usage.output_text_tokens, 21);
  EXPECT_EQ(r.usage.output_audio_tokens, 56);
}
TEST(ParseSeeds, ResponseCreateSampleWithTrailingCommaIsRejected) {
  // The seed's response.create sample has a trailing comma (not JSON).
  const std::string err = error_of(golden("server/seed000_response_create_invalid.json"));
  EXPECT_NE(err.find("malformed JSON at offset"), std::string::npos) << err;
}
TEST(ParseSeeds, GoldenMatchesTheSeedFile) {
  const char *shared = std::getenv("RTC_SHARED_DIR");
  if (!shared) GTEST_SKIP() << "RTC_SHARED_DIR not set";
  GDir *dir = g_dir_open((std::string(shared) + "/seeds").c_str(), 0, nullptr);
  if (!dir) GTEST_SKIP() << "no seeds directory";
  std::string seed;
  while (const char *name = g_dir_read_name(dir))
    if (g_str_has_prefix(name, "000_")) seed = rtc_test::read_file(std::string(shared) + "/seeds/" + name);
  g_dir_close(dir);
  if (seed.empty()) GTEST_SKIP() << "no 000_* seed";
  // Extract the ```json blocks of the diff ("+ " prefixed lines) and compare structurally.
  std::vector<std::string> blocks;
  size_t pos = 0;
  while ((pos = seed.find("+```json\n", pos)) != std::string::npos) {
    pos += 9;
    const size_t end = seed.find("+```", pos);
    std::string text;
    std::istringstream in(seed.substr(pos, end - pos));
    std::string line;
    while (std::getline(in, line)) text += (line.rfind("+ ", 0) == 0 ? line.substr(2) : line.substr(1)) + "\n";
    blocks.push_back(text);
    pos = end;
  }
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_TRUE(rtc_test::JsonEqual(blocks[0], golden("server/seed000_session_created.json")));
  EXPECT_TRUE(rtc_test::JsonEqual(blocks[2], golden("server/seed000_response_created.json")));
  EXPECT_TRUE(rtc_test::JsonEqual(blocks[3], golden("server/seed000_response_done.json")));
}

// --- §10.1 session start ---------------------------------------------------------------------
TEST(ParseSequence, SessionStartPreview) {
  auto evs = parse_all("server/seq_10_1_session_start_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SessionCreated, T::ConversationCreated, T::SessionUpdated}));
  EXPECT_EQ(evs[0].session.id, "sess_1");
  EXPECT_EQ(evs[0].session.output_modality, Modality::Audio);
  EXPECT_EQ(evs[1].conversation_id, "conv_1");
  EXPECT_EQ(evs[2].session.voice, "verse");
  EXPECT_EQ(evs[2].session.input_format, AudioFormat::G711_ULAW);
  EXPECT_EQ(evs[2].session.output_format, AudioFormat::G711_ALAW);
  EXPECT_EQ(evs[2].session.turn_detection_type, "");
}
TEST(ParseSequence, SessionStartGA) {
  auto evs = parse_all("server/seq_10_1_session_start_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SessionCreated, T::SessionUpdated}));
  const SessionInfo &s = evs[0].session;
  EXPECT_EQ(s.type, "realtime");
  EXPECT_EQ(s.model, "gpt-realtime");
  EXPECT_EQ(s.expires_at, 1756400000);
  EXPECT_EQ(s.voice, "alloy");
  EXPECT_EQ(s.input_format, AudioFormat::PCM16);
  EXPECT_EQ(s.output_modality, Modality::Audio);
  EXPECT_EQ(s.turn_detection_type, "server_vad");
  EXPECT_EQ(evs[1].session.output_modality, Modality::Text);
  EXPECT_EQ(evs[1].session.voice, "marin");
  EXPECT_EQ(evs[1].session.input_format, AudioFormat::G711_ULAW);
  EXPECT_EQ(evs[1].session.output_format, AudioFormat::G711_ALAW);
  EXPECT_EQ(evs[1].session.turn_detection_type, "semantic_vad");
}

// --- §10.2 text in, audio out / text out ------------------------------------------------------
TEST(ParseSequence, TextInAudioOutPreview) {
  auto evs = parse_all("server/seq_10_2_text_in_audio_out_preview.jsonl");
  EXPECT_EQ(types_of(evs),
            (std::vector<T>{T::ItemAdded, T::ResponseCreated, T::OutputItemAdded, T::ItemAdded, T::ContentPartAdded,
                            T::AudioTranscriptDelta, T::AudioDelta, T::AudioTranscriptDelta, T::AudioDelta, T::AudioDone,
                            T::AudioTranscriptDone, T::ContentPartDone, T::OutputItemDone, T::ResponseDone,
                            T::RateLimitsUpdated}));
  EXPECT_EQ(evs[0].previous_item_id, "");
  EXPECT_EQ(evs[0].item.content[0].text, "Hello");
  EXPECT_EQ(evs[3].previous_item_id, "item_U");
  EXPECT_EQ(evs[4].part.type, "audio");
  EXPECT_FALSE(evs[4].part.transcript_null);
  EXPECT_EQ(evs[5].text, "Hello! How");
  EXPECT_EQ(evs[6].audio, (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(evs[6].response_id, "resp_1");
  EXPECT_EQ(evs[6].item_id, "item_A");
  EXPECT_EQ(evs[6].output_index, 0);
  EXPECT_EQ(evs[6].content_index, 0);
  EXPECT_EQ(evs[8].audio, (std::vector<uint8_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(evs[10].text, "Hello! How can I assist you today?");
  EXPECT_EQ(evs[12].item.status, "completed");
  EXPECT_EQ(evs[13].response.usage.output_audio_tokens, 56);
  ASSERT_EQ(evs[14].rate_limits.size(), 2u);
  EXPECT_EQ(evs[14].rate_limits[1].name, "tokens");
  EXPECT_EQ(evs[14].rate_limits[1].remaining, 49950);
}
TEST(ParseSequence, TextInAudioOutGA) {
  auto evs = parse_all("server/seq_10_2_text_in_audio_out_ga.jsonl");
  EXPECT_EQ(types_of(evs),
            (std::vector<T>{T::ItemAdded, T::ItemDone, T::ResponseCreated, T::OutputItemAdded, T::ItemAdded,
                            T::ContentPartAdded, T::AudioTranscriptDelta, T::AudioDelta, T::AudioDone,
                            T::AudioTranscriptDone, T::ContentPartDone, T::OutputItemDone, T::ItemDone, T::ResponseDone,
                            T::RateLimitsUpdated}));
  EXPECT_EQ(evs[2].response.conversation_id, "conv_1");
  EXPECT_EQ(evs[2].conversation_id, "conv_1");
  EXPECT_EQ(evs[2].response.metadata_json, "");
  EXPECT_EQ(evs[6].text, "The");
  EXPECT_EQ(evs[7].type_name, "response.output_audio.delta");
  EXPECT_EQ(evs[7].audio, (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(evs[11].item.content[0].type, "output_audio");
  EXPECT_EQ(evs[12].item_id, "item_A");
  EXPECT_EQ(evs[13].response.usage.input_text_tokens, 20);
  EXPECT_DOUBLE_EQ(evs[14].rate_limits[0].reset_seconds, 2.265);
}
TEST(ParseSequence, TextOnlyPreview) {
  auto evs = parse_all("server/seq_10_2_text_only_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ItemAdded, T::ContentPartAdded,
                                           T::TextDelta, T::TextDone, T::ContentPartDone, T::OutputItemDone,
                                           T::ResponseDone}));
  EXPECT_EQ(evs[3].part.type, "text");
  EXPECT_TRUE(evs[3].part.transcript_null);
  EXPECT_EQ(evs[4].text, "Hi");
  EXPECT_EQ(evs[5].text, "Hi");
  EXPECT_EQ(evs[7].item.content[0].type, "text");
}
TEST(ParseSequence, TextOnlyGA) {
  auto evs = parse_all("server/seq_10_2_text_only_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ItemAdded, T::ContentPartAdded,
                                           T::TextDelta, T::TextDone, T::ContentPartDone, T::OutputItemDone, T::ItemDone,
                                           T::ResponseDone, T::RateLimitsUpdated}));
  EXPECT_EQ(evs[4].type_name, "response.output_text.delta");
  EXPECT_EQ(evs[7].item.content[0].type, "output_text");
  EXPECT_EQ(evs[7].item.content[0].text, "Hi");
}

// --- §10.3 server VAD with transcription -------------------------------------------------------
TEST(ParseSequence, ServerVadPreview) {
  auto evs = parse_all("server/seq_10_3_server_vad_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SpeechStarted, T::SpeechStopped, T::InputBufferCommitted, T::ItemAdded,
                                           T::ResponseCreated, T::InputTranscriptionDelta,
                                           T::InputTranscriptionCompleted, T::InputTranscriptionFailed}));
  EXPECT_EQ(evs[0].audio_start_ms, 1000);
  EXPECT_EQ(evs[0].item_id, "item_U");
  EXPECT_EQ(evs[1].audio_end_ms, 2000);
  EXPECT_EQ(evs[2].item_id, "item_U");
  EXPECT_EQ(evs[2].previous_item_id, "");
  EXPECT_TRUE(evs[3].item.content[0].transcript_null);
  EXPECT_EQ(evs[3].item.content[0].type, "input_audio");
  EXPECT_EQ(evs[5].text, "Hello");
  EXPECT_EQ(evs[6].text, "Hello, how are you?");
  EXPECT_TRUE(evs[6].usage.present);
  EXPECT_EQ(evs[6].usage.total_tokens, 18);
  EXPECT_EQ(evs[6].usage.input_audio_tokens, 12);
  EXPECT_EQ(evs[7].error.code, "audio_unintelligible");
  EXPECT_EQ(evs[7].error.param, "");
}
TEST(ParseSequence, ServerVadGA) {
  auto evs = parse_all("server/seq_10_3_server_vad_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SpeechStarted, T::SpeechStopped, T::InputBufferCommitted, T::ItemAdded,
                                           T::ItemDone, T::ResponseCreated, T::TimeoutTriggered,
                                           T::InputTranscriptionCompleted}));
  EXPECT_EQ(evs[0].audio_start_ms, 11956);
  EXPECT_EQ(evs[1].audio_end_ms, 14720);
  EXPECT_EQ(evs[2].previous_item_id, "item_prevA");
  EXPECT_EQ(evs[6].audio_start_ms, 20000);
  EXPECT_EQ(evs[6].audio_end_ms, 26000);
  EXPECT_EQ(evs[7].text, "What time is it?");
  EXPECT_TRUE(evs[7].usage.present);  // {type:"duration"}: no token counts
  EXPECT_EQ(evs[7].usage.total_tokens, 0);
}

// --- §10.4 push to talk -----------------------------------------------------------------------
TEST(ParseSequence, PushToTalkPreview) {
  auto evs = parse_all("server/seq_10_4_push_to_talk_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::InputBufferCleared, T::InputBufferCommitted, T::ItemAdded, T::Error}));
  EXPECT_EQ(evs[3].error.type, "invalid_request_error");
  EXPECT_EQ(evs[3].error.code, "input_audio_buffer_commit_empty");
  EXPECT_EQ(evs[3].error.event_id, "evt_12");
  EXPECT_NE(evs[3].error.message.find("buffer too small"), std::string::npos);
}
TEST(ParseSequence, PushToTalkGA) {
  auto evs = parse_all("server/seq_10_4_push_to_talk_ga.jsonl");
  EXPECT_EQ(types_of(evs),
            (std::vector<T>{T::InputBufferCleared, T::InputBufferCommitted, T::ItemAdded, T::ItemDone, T::Error}));
  EXPECT_EQ(evs[4].error.code, "response_cancel_not_active");
}

// --- §10.5 interruption -----------------------------------------------------------------------
TEST(ParseSequence, InterruptionPreview) {
  auto evs = parse_all("server/seq_10_5_interruption_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::AudioDelta, T::SpeechStarted, T::AudioDone, T::AudioTranscriptDone,
                                           T::ContentPartDone, T::OutputItemDone, T::ResponseDone, T::ItemTruncated,
                                           T::SpeechStopped, T::InputBufferCommitted, T::ItemAdded, T::ResponseCreated}));
  EXPECT_EQ(evs[0].audio, std::vector<uint8_t>(6, 0));
  EXPECT_EQ(evs[5].item.status, "incomplete");
  EXPECT_EQ(evs[6].response.status, "cancelled");
  EXPECT_EQ(evs[6].response.status_type, "cancelled");
  EXPECT_EQ(evs[6].response.reason, "turn_detected");
  EXPECT_EQ(evs[7].item_id, "item_A");
  EXPECT_EQ(evs[7].content_index, 0);
  EXPECT_EQ(evs[7].audio_end_ms, 1500);
}
TEST(ParseSequence, InterruptionGA) {
  auto evs = parse_all("server/seq_10_5_interruption_ga.jsonl");
  EXPECT_EQ(types_of(evs),
            (std::vector<T>{T::AudioDelta, T::SpeechStarted, T::AudioDone, T::AudioTranscriptDone, T::ContentPartDone,
                            T::OutputItemDone, T::ResponseDone, T::ItemTruncated, T::SpeechStopped,
                            T::InputBufferCommitted, T::ItemAdded, T::ItemDone, T::ResponseCreated}));
  EXPECT_EQ(evs[6].response.reason, "turn_detected");
  EXPECT_EQ(evs[7].audio_end_ms, 1500);
}

// --- §10.6 function calling -------------------------------------------------------------------
TEST(ParseSequence, FunctionCallPreview) {
  auto evs = parse_all("server/seq_10_6_function_call_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ItemAdded,
                                           T::FunctionCallArgumentsDelta, T::FunctionCallArgumentsDone,
                                           T::OutputItemDone, T::ResponseDone, T::RateLimitsUpdated, T::ItemAdded}));
  EXPECT_EQ(evs[1].item.type, "function_call");
  EXPECT_EQ(evs[1].item.name, "generate_horoscope");
  EXPECT_EQ(evs[3].call_id, "call_sHlR7iaFwQ2YQOqm");
  EXPECT_EQ(evs[3].text, "{\"sign\":");
  EXPECT_EQ(evs[4].text, "{\"sign\":\"Aquarius\"}");
  EXPECT_EQ(evs[4].name, "");  // not sent in preview (§12.8)
  EXPECT_EQ(evs[6].response.output[0].arguments, "{\"sign\":\"Aquarius\"}");
  EXPECT_EQ(evs[8].item.type, "function_call_output");
  EXPECT_EQ(evs[8].item.output, "{\"horoscope\":\"You will soon meet a new friend.\"}");
}
TEST(ParseSequence, FunctionCallGA) {
  auto evs = parse_all("server/seq_10_6_function_call_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ItemAdded,
                                           T::FunctionCallArgumentsDelta, T::FunctionCallArgumentsDone,
                                           T::OutputItemDone, T::ItemDone, T::ResponseDone, T::RateLimitsUpdated,
                                           T::ItemAdded, T::ItemDone}));
  EXPECT_EQ(evs[4].name, "generate_horoscope");
  EXPECT_EQ(evs[4].output_index, 0);
  EXPECT_EQ(evs[7].response.output[0].call_id, "call_sHlR7iaFwQ2YQOqm");
}

// --- §10.7 out-of-band ------------------------------------------------------------------------
TEST(ParseSequence, OutOfBandPreview) {
  auto evs = parse_all("server/seq_10_7_out_of_band_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ResponseDone}));
  EXPECT_EQ(evs[0].response.conversation_id, "");
  EXPECT_TRUE(rtc_test::JsonEqual(evs[0].response.metadata_json, "{\"topic\":\"classification\"}"));
  EXPECT_EQ(evs[2].response.output[0].content[0].text, "spam");
}
TEST(ParseSequence, OutOfBandGA) {
  auto evs = parse_all("server/seq_10_7_out_of_band_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::ResponseCreated, T::OutputItemAdded, T::ResponseDone}));
  EXPECT_TRUE(rtc_test::JsonEqual(evs[2].response.metadata_json, "{\"topic\":\"classification\"}"));
  EXPECT_EQ(evs[2].response.output[0].content[0].type, "output_text");
}

// --- §10.8 transcription-only -----------------------------------------------------------------
TEST(ParseSequence, TranscriptionPreview) {
  auto evs = parse_all("server/seq_10_8_transcription_preview.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SessionCreated, T::SessionUpdated, T::SpeechStarted, T::SpeechStopped,
                                           T::InputBufferCommitted, T::ItemAdded, T::InputTranscriptionDelta,
                                           T::InputTranscriptionCompleted}));
  EXPECT_EQ(evs[0].type_name, "transcription_session.created");
  EXPECT_EQ(evs[1].session.object, "realtime.transcription_session");
  EXPECT_EQ(evs[1].session.input_format, AudioFormat::PCM16);
  EXPECT_EQ(evs[7].text, "Good morning.");
  EXPECT_FALSE(evs[7].usage.present);
}
TEST(ParseSequence, TranscriptionGA) {
  auto evs = parse_all("server/seq_10_8_transcription_ga.jsonl");
  EXPECT_EQ(types_of(evs), (std::vector<T>{T::SessionCreated, T::SessionUpdated, T::InputBufferCommitted, T::ItemAdded,
                                           T::ItemDone, T::InputTranscriptionDelta, T::InputTranscriptionCompleted}));
  EXPECT_EQ(evs[0].session.type, "transcription");
  EXPECT_EQ(evs[1].session.input_format, AudioFormat::G711_ULAW);
  EXPECT_EQ(evs[1].session.turn_detection_type, "");
  EXPECT_EQ(evs[6].usage.input_audio_tokens, 7);
}

// --- names --------------------------------------------------------------------------------------
TEST(ParseNames, BothDialectNamesMapToOneType) {
  const std::pair<const char *, const char *> pairs[] = {
      {"response.text.delta", "response.output_text.delta"},
      {"response.audio_transcript.done", "response.output_audio_transcript.done"},
      {"response.audio.done", "response.output_audio.done"},
  };
  for (const auto &p : pairs) {
    const std::string a = std::string("{\"type\":\"") + p.first + "\",\"response_id\":\"r\",\"item_id\":\"i\",\"transcript\":\"t\",\"delta\":\"d\"}";
    const std::string b = std::string("{\"type\":\"") + p.second + "\",\"response_id\":\"r\",\"item_id\":\"i\",\"transcript\":\"t\",\"delta\":\"d\"}";
    ParsedServerEvent pa = parse_server_event(a), pb = parse_server_event(b);
    ASSERT_TRUE(pa.ok && pb.ok) << pa.error << pb.error;
    EXPECT_EQ(pa.event.type, pb.event.type);
    EXPECT_STREQ(server_event_type_name(pa.event.type), p.second);
  }
  EXPECT_STREQ(server_event_type_name(T::ItemAdded), "conversation.item.added");
  EXPECT_STREQ(server_event_type_name(T::Unknown), "unknown");
}
TEST(ParseNames, OutputAudioBufferEvents) {
  for (const char *t : {"output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared"}) {
    ParsedServerEvent p = parse_server_event(std::string("{\"type\":\"") + t + "\",\"response_id\":\"resp_1\"}");
    ASSERT_TRUE(p.ok) << p.error;
    EXPECT_EQ(p.event.response_id, "resp_1");
  }
}
TEST(ParseNames, ItemRetrievedAndDeletedAndSegment) {
  ParsedServerEvent p = parse_server_event(
      R"({"type":"conversation.item.retrieved","item":{"id":"item_1","type":"message","role":"user","content":[{"type":"input_audio","audio":"AAAA","transcript":"hi"}]}})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.type, T::ItemRetrieved);
  EXPECT_EQ(p.event.item.content[0].transcript, "hi");
  p = parse_server_event(R"({"type":"conversation.item.deleted","event_id":"e","item_id":"item_1"})");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.event.item_id, "item_1");
  p = parse_server_event(
      R"({"type":"conversation.item.input_audio_transcription.segment","item_id":"i","content_index":0,"id":"seg_1","text":"hello","speaker":"A","start":0.5,"end":1.25})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.text, "hello");
}
TEST(ParseNames, AzureContentAliasForPart) {
  ParsedServerEvent p = parse_server_event(
      R"({"type":"response.content_part.added","response_id":"r","item_id":"i","output_index":0,"content_index":0,"content":{"type":"audio","transcript":""}})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.part.type, "audio");
}

// --- unknown events -----------------------------------------------------------------------------
TEST(ParseUnknown, KeptWithTypeAndRawJson) {
  const std::string json = R"({"type":"mcp_list_tools.completed","event_id":"e1","item_id":"x","extra":{"a":[1,2]}})";
  ParsedServerEvent p = parse_server_event(json);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.type, T::Unknown);
  EXPECT_EQ(p.event.type_name, "mcp_list_tools.completed");
  EXPECT_EQ(p.event.event_id, "e1");
  EXPECT_EQ(p.event.raw_json, json);
}
TEST(ParseUnknown, FutureAndDtmfEvents) {
  for (const char *json : {R"({"type":"input_audio_buffer.dtmf_event_received","event":"5","received_at":1756400000})",
                           R"({"type":"response.mcp_call.completed","output_index":"not checked","item_id":7})",
                           R"({"type":""})"}) {
    ParsedServerEvent p = parse_server_event(json);
    EXPECT_TRUE(p.ok) << json << p.error;
    EXPECT_EQ(p.event.type, T::Unknown);
  }
}

// --- malformed and wrong types ------------------------------------------------------------------
TEST(ParseMalformed, TruncatedJsonAtEveryLength) {
  const std::string full = golden("server/seed000_response_done.json");
  const size_t end = full.rfind('}');  // the file ends with a newline
  for (size_t n = 0; n <= end; n++) {
    // Any prefix that still ends inside the object is malformed.
    ParsedServerEvent p = parse_server_event(full.data(), n);
    EXPECT_FALSE(p.ok) << n;
    EXPECT_FALSE(p.error.empty());
  }
}
TEST(ParseMalformed, Messages) {
  EXPECT_EQ(error_of(""), "malformed JSON at offset 0: the text is empty");
  EXPECT_EQ(error_of("{\"type\":\"error\""), "malformed JSON at offset 15: unexpected end of the text");
  EXPECT_EQ(error_of("[1,2]"), "the event is not a JSON object");
  EXPECT_EQ(error_of("{}"), "missing required field \"type\"");
  EXPECT_EQ(error_of("{\"type\":5}"), "field \"type\" must be a string");
  EXPECT_EQ(error_of("{\"type\":\"session.created\"} x"), "malformed JSON at offset 27: unexpected data after the JSON value");
  EXPECT_EQ(error_of(R"({"type":"input_audio_buffer.speech_started","audio_start_ms":"100","item_id":"i"})"),
            "input_audio_buffer.speech_started: field \"audio_start_ms\" must be an integer");
  EXPECT_EQ(error_of(R"({"type":"input_audio_buffer.speech_started","item_id":"i"})"),
            "input_audio_buffer.speech_started: missing required field \"audio_start_ms\"");
  EXPECT_EQ(error_of(R"({"type":"input_audio_buffer.speech_stopped","audio_end_ms":1.5})"),
            "input_audio_buffer.speech_stopped: field \"audio_end_ms\" must be an integer");
  EXPECT_EQ(error_of(R"({"type":"error","error":{"type":"server_error"}})"), "error: missing required field \"error.message\"");
  EXPECT_EQ(error_of(R"({"type":"error","error":"boom"})"), "error: field \"error\" must be an object");
  EXPECT_EQ(error_of(R"({"type":"error"})"), "error: missing required field \"error\"");
  EXPECT_EQ(error_of(R"({"type":"response.done","response":{"id":"r","usage":{"total_tokens":"many"}}})"),
            "response.done: field \"response.usage.total_tokens\" must be an integer");
  EXPECT_EQ(error_of(R"({"type":"response.done","response":{"id":"r","output":[1]}})"),
            "response.done: field \"response.output[0]\" must be an object");
  EXPECT_EQ(error_of(R"({"type":"response.done","response":{"id":"r","output":[{"content":[{"transcript":5}]}]}})"),
            "response.done: field \"response.output[0].content[0].transcript\" must be a string");
  EXPECT_EQ(error_of(R"({"type":"response.text.delta","response_id":"r","item_id":"i","output_index":-1,"delta":"x"})"),
            "response.text.delta: field \"output_index\" must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"type":"rate_limits.updated","rate_limits":[{"name":"tokens","limit":"x"}]})"),
            "rate_limits.updated: field \"rate_limits[0].limit\" must be a number");
  EXPECT_EQ(error_of(R"({"type":"session.created","session":{"modalities":[1]}})"),
            "session.created: field \"session.modalities\" must be an array of strings");
  EXPECT_EQ(error_of(R"({"type":"conversation.item.truncated","item_id":"i","audio_end_ms":null})"),
            "conversation.item.truncated: field \"audio_end_ms\" must be an integer");
  EXPECT_EQ(error_of(R"({"type":"response.function_call_arguments.done","call_id":"c"})"),
            "response.function_call_arguments.done: missing required field \"arguments\"");
  EXPECT_EQ(error_of(R"({"type":"session.created","event_id":5,"session":{}})"),
            "session.created: field \"event_id\" must be a string");
}
TEST(ParseMalformed, InvalidBase64) {
  for (const char *delta : {"AAA", "AAA*", "AA=A", "A===", "AB==", "AAAA\\n", "AAAA====", " AAAA"}) {
    const std::string json = std::string(R"({"type":"response.audio.delta","response_id":"r","item_id":"i","delta":")") +
                             delta + "\"}";
    EXPECT_EQ(error_of(json), "response.audio.delta: field \"delta\" is not valid base64") << delta;
  }
}
TEST(ParseMalformed, LenientJsonGlibInputsAreRejected) {
  // json-glib 1.6 accepts all of these; the strict scanner does not (fastpath.cc).
  for (const char *json : {"{\"type\":\"x\",\"a\":01}", "{\"type\":\"x\",\"a\":0x10}", "{/*c*/\"type\":\"x\"}",
                           "{'type':\"x\"}", "{\"type\":\"x\",\"a\":.5}", "{\"type\":\"x\",\"a\":1.}",
                           "{\"type\":\"x\",\"a\":- 1}", "\xef\xbb\xbf{\"type\":\"x\"}", "{\"type\":\"x\\u0000y\"}",
                           "{\"type\":\"x\",\"a\":\"\\ud800\"}", "{\"type\":\"x\",\"a\":\"\\udc00\"}",
                           "{\"type\":\"x\",\"a\":99999999999999999999}", "{\"type\":\"x\",\"a\":1e400}",
                           "{\"type\":\"x\",\"a\":\"\x01\"}", "{\"type\":\"x\",\"a\":\"\t\"}", "{\"type\":\"x\",\"a\":\"\xff\"}",
                           "{\"type\":\"x\",\"a\":\"\xed\xa0\x80\"}", "{\"type\":\"x\",\"a\":\"\xc0\x80\"}",
                           "{\"type\":\"x\",\"a\":TRUE}", "{\"type\":\"x\",}", "{\"type\":\"x\"\f}"}) {
    EXPECT_FALSE(parse_server_event(json).ok) << json;
  }
  // ... while these corner cases are valid JSON and accepted.
  for (const char *json : {"{\"type\":\"x\",\"a\":-0,\"b\":1e-400,\"c\":-9223372036854775808,\"d\":\"\\ud83d\\ude00\"}",
                           " \r\n\t{\"type\":\"x\"} \n", "{\"t\\u0079pe\":\"x\",\"type\":\"y\"}"}) {
    ParsedServerEvent p = parse_server_event(json);
    EXPECT_TRUE(p.ok) << json << p.error;
  }
  EXPECT_EQ(parse_server_event("{\"t\\u0079pe\":\"x\",\"type\":\"y\"}").event.type_name, "y");  // last wins
}
TEST(ParseMalformed, DeepNestingDoesNotCrash) {
  for (const char open : {'[', '{'}) {
    std::string deep = "{\"type\":\"x\",\"a\":";
    for (int i = 0; i < 100000; i++) deep += open == '[' ? "[" : "{\"a\":";
    ParsedServerEvent p = parse_server_event(deep);
    EXPECT_FALSE(p.ok);
    EXPECT_NE(p.error.find("nesting is too deep"), std::string::npos) << p.error;
  }
  std::string bare(100000, '[');
  EXPECT_FALSE(parse_server_event(bare).ok);
  // The limit itself: 256 levels are fine (the event object is level 1).
  std::string ok = "{\"type\":\"x\",\"a\":" + std::string(255, '[') + std::string(255, ']') + "}";
  EXPECT_TRUE(parse_server_event(ok).ok);
  std::string too_deep = "{\"type\":\"x\",\"a\":" + std::string(256, '[') + std::string(256, ']') + "}";
  EXPECT_FALSE(parse_server_event(too_deep).ok);
}
TEST(ParseMalformed, HugeStrings) {
  std::string transcript(8 * 1024 * 1024, 'a');
  ParsedServerEvent p = parse_server_event(
      R"({"type":"response.audio_transcript.delta","response_id":"r","item_id":"i","delta":")" + transcript + "\"}");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.text.size(), transcript.size());
  // Unterminated huge string.
  EXPECT_FALSE(parse_server_event("{\"type\":\"" + transcript).ok);
}
TEST(ParseMalformed, RandomBytesNeverCrash) {
  uint32_t seed = 12345;
  auto rnd = [&]() {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  for (int i = 0; i < 3000; i++) {
    std::string s(rnd() % 64, '\0');
    for (char &c : s) c = static_cast<char>(rnd() % 8 == 0 ? "{}[]\":,"[rnd() % 7] : rnd());
    if (rnd() % 2) s = "{\"type\":\"" + s;
    ParsedServerEvent p = parse_server_event(s);
    if (!p.ok) {
      EXPECT_FALSE(p.error.empty());
    }
  }
  EXPECT_FALSE(parse_server_event(nullptr, 0).ok);
}
