// realtime-emulator: the event sequences of §10 in both dialects, with exact order (§5) and
// field values checked against golden events written by hand from the reference.
#include <algorithm>
#include <set>

#include "harness.h"

using namespace emutest;

namespace {

const char *kUserHello =
    R"({"type":"conversation.item.create","event_id":"evt_item","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Hello"}]}})";

std::string scenario_path() {
  const char *root = g_getenv("RTC_SOURCE_ROOT");
  return std::string(root ? root : "..") + "/server/scenarios/weather.json";
}

const char *kWeatherTool =
    R"({"type":"function","name":"get_weather_for_location","description":"gets the weather for a location","parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state such as San Francisco, CA"},"unit":{"type":"string","enum":["c","f"]}},"required":["location","unit"]}})";

// Audio of all deltas of a response, concatenated.
std::vector<uint8_t> collect_audio(const std::vector<Event> &evs, const char *type) {
  std::vector<uint8_t> out;
  for (auto &e : evs)
    if (e.type == type) {
      auto d = unb64(e.str("delta"));
      out.insert(out.end(), d.begin(), d.end());
    }
  return out;
}

std::string collect_text(const std::vector<Event> &evs, const char *type) {
  std::string s;
  for (auto &e : evs)
    if (e.type == type) s += e.str("delta");
  return s;
}

const Event *find(const std::vector<Event> &evs, const std::string &type, int nth = 0) {
  for (auto &e : evs)
    if (e.type == type && nth-- == 0) return &e;
  return nullptr;
}

}  // namespace

// §4.2 session.created defaults, preview (AZ-RTC-LEGACY example) and GA (TRACE-GA example).
TEST(SessionStart, PreviewSessionCreatedAndConversationCreated) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-4o-realtime-preview"), {{"OpenAI-Beta", "realtime=v1"}}));
  auto s = c.next();
  ASSERT_TRUE(s);
  EXPECT_GOLDEN(*s, R"({"type":"session.created","event_id":"$prefix:event_","session":{
    "id":"$prefix:sess_","object":"realtime.session","model":"gpt-4o-realtime-preview","expires_at":"$int",
    "modalities":["audio","text"],"instructions":"$string","voice":"alloy",
    "input_audio_format":"pcm16","output_audio_format":"pcm16","input_audio_transcription":null,
    "input_audio_noise_reduction":null,
    "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,
                      "create_response":true,"interrupt_response":true},
    "tools":[],"tool_choice":"auto","temperature":0.8,"max_response_output_tokens":"inf","speed":1.0,
    "tracing":null,"client_secret":null,"include":null}})");
  // §1.5: OpenAI beta sessions last 30 minutes.
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  EXPECT_NEAR(double(s->num("session.expires_at") - now), 1800.0, 5.0);
  auto conv = c.next();
  ASSERT_TRUE(conv);
  EXPECT_GOLDEN(*conv, R"({"type":"conversation.created","event_id":"$prefix:event_",
    "conversation":{"id":"$prefix:conv_","object":"realtime.conversation"}})");
  EXPECT_TRUE(c.drain(100).empty());
}

TEST(SessionStart, GaSessionCreatedNoConversationCreated) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/v1/realtime?model=gpt-realtime"), {{"Authorization", "Bearer x"}}));
  auto s = c.next();
  ASSERT_TRUE(s);
  EXPECT_GOLDEN(*s, R"({"type":"session.created","event_id":"$prefix:event_","session":{
    "type":"realtime","object":"realtime.session","id":"$prefix:sess_","model":"gpt-realtime",
    "output_modalities":["audio"],"instructions":"$string","tools":[],"tool_choice":"auto",
    "max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,"expires_at":"$int",
    "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,
                      "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,
                                        "silence_duration_ms":200,"idle_timeout_ms":null,
                                        "create_response":true,"interrupt_response":true}},
             "output":{"format":{"type":"audio/pcm","rate":24000},"voice":"alloy","speed":1.0}},
    "include":null}})");
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  EXPECT_NEAR(double(s->num("session.expires_at") - now), 3600.0, 5.0);  // §1.5 GA: 60 min
  EXPECT_TRUE(c.drain(100).empty());  // §5 rule 1: conversation.created optional in GA; not sent
}

TEST(SessionStart, AzureSessionsLast30Minutes) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (const char *path : {"/openai/realtime?api-version=2025-04-01-preview&deployment=gpt-4o-realtime-preview",
                           "/openai/v1/realtime?model=gpt-realtime"}) {
    Client c;
    ASSERT_TRUE(c.connect(emu.url(path), {{"api-key", "k"}})) << path;
    auto s = c.next();
    ASSERT_TRUE(s);
    const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    EXPECT_NEAR(double(s->num("session.expires_at") - now), 1800.0, 5.0) << path;
  }
}

// §10.1 session.update -> session.updated with the full effective config.
TEST(SessionStart, SessionUpdateReturnsFullEffectiveSessionPreview) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  auto u = update_session(c, std::string(R"({"voice":"coral","instructions":"Be brief.","input_audio_transcription":{"model":"whisper-1"},
      "turn_detection":{"type":"server_vad","threshold":0.4,"silence_duration_ms":600},"tools":[)") + kWeatherTool + "]}");
  EXPECT_GOLDEN(u, R"({"type":"session.updated","event_id":"$prefix:event_","session":{"$partial":true,
    "id":"$prefix:sess_","object":"realtime.session","voice":"coral","instructions":"Be brief.",
    "modalities":["audio","text"],"input_audio_transcription":{"model":"whisper-1"},
    "turn_detection":{"type":"server_vad","threshold":0.4,"prefix_padding_ms":300,"silence_duration_ms":600,
                      "create_response":true,"interrupt_response":true},
    "tools":[{"type":"function","name":"get_weather_for_location","description":"gets the weather for a location",
              "parameters":{"$partial":true,"type":"object"}}],
    "tool_choice":"auto","temperature":0.8}})");
  // Only the fields present are updated (§3.1).
  auto u2 = update_session(c, R"({"instructions":"Two."})");
  EXPECT_EQ(u2.str("session.voice"), "coral");
  EXPECT_EQ(u2.str("session.instructions"), "Two.");
  EXPECT_EQ(u2.num("session.turn_detection.silence_duration_ms"), 600);
}

TEST(SessionStart, SessionUpdateGa) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  // GUIDE-GA example of §3.1
  auto u = update_session(c, R"({"type":"realtime","model":"gpt-realtime","output_modalities":["audio"],
      "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":{"type":"semantic_vad"}},
               "output":{"format":{"type":"audio/pcm"},"voice":"marin"}},
      "instructions":"Speak clearly and briefly."})");
  EXPECT_GOLDEN(u, R"({"type":"session.updated","event_id":"$prefix:event_","session":{"$partial":true,
    "type":"realtime","output_modalities":["audio"],"instructions":"Speak clearly and briefly.",
    "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,
                      "turn_detection":{"type":"semantic_vad","eagerness":"auto","create_response":true,
                                        "interrupt_response":true}},
             "output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}}}})");
  // turn_detection null switches VAD off (§3.1)
  auto u2 = update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":null}}})");
  JsonNode *td = u2.at("session.audio.input.turn_detection");
  ASSERT_TRUE(td);
  EXPECT_TRUE(JSON_NODE_HOLDS_NULL(td));
}

// §10.2 beta: text in -> audio out, exact order and fields.
TEST(Sequences, TextInAudioOutPreview) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  c.send(kUserHello);
  auto created = c.next();
  ASSERT_TRUE(created);
  EXPECT_GOLDEN(*created, R"({"type":"conversation.item.created","event_id":"$prefix:event_","previous_item_id":null,
    "item":{"id":"$prefix:item_","object":"realtime.item","type":"message","status":"completed","role":"user",
            "content":[{"type":"input_text","text":"Hello"}]}})");
  const std::string user_id = created->str("item.id");
  c.send(R"({"type":"response.create","event_id":"evt_rc","response":{"modalities":["text","audio"],"instructions":"Please assist the user."}})");
  auto evs = c.until("rate_limits.updated");
  const std::vector<std::string> expect = {
      "response.created", "response.output_item.added", "conversation.item.created", "response.content_part.added",
      "<audio+transcript deltas>", "response.audio.done", "response.audio_transcript.done",
      "response.content_part.done", "response.output_item.done", "response.done", "rate_limits.updated"};
  EXPECT_EQ(collapse(evs), expect);

  EXPECT_GOLDEN(evs[0], R"({"type":"response.created","event_id":"$prefix:event_","response":{
    "object":"realtime.response","id":"$prefix:resp_","status":"in_progress","status_details":null,"output":[],
    "conversation_id":"$prefix:conv_","modalities":["text","audio"],"voice":"alloy","output_audio_format":"pcm16",
    "temperature":0.8,"max_output_tokens":"inf","usage":null,"metadata":null}})");
  const std::string resp_id = evs[0].str("response.id");
  EXPECT_GOLDEN(evs[1], R"({"type":"response.output_item.added","event_id":"$prefix:event_","response_id":"$prefix:resp_",
    "output_index":0,"item":{"id":"$prefix:item_","object":"realtime.item","type":"message","status":"in_progress",
    "role":"assistant","content":[]}})");
  const std::string item_a = evs[1].str("item.id");
  EXPECT_EQ(evs[1].str("response_id"), resp_id);
  EXPECT_GOLDEN(evs[2], R"({"type":"conversation.item.created","event_id":"$prefix:event_","previous_item_id":"$string",
    "item":{"id":"$string","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}})");
  EXPECT_EQ(evs[2].str("previous_item_id"), user_id);
  EXPECT_EQ(evs[2].str("item.id"), item_a);
  EXPECT_GOLDEN(evs[3], R"({"type":"response.content_part.added","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}})");

  // Deltas: both kinds, interleaved, all on (response, item, 0, 0).
  size_t n_audio = 0, n_tr = 0;
  bool interleaved = false;
  std::vector<size_t> sizes;
  for (auto &e : evs) {
    if (e.type == "response.audio.delta") {
      n_audio++;
      sizes.push_back(e.str("delta").size());
      EXPECT_GOLDEN(e, R"({"type":"response.audio.delta","event_id":"$prefix:event_","response_id":"$string",
        "item_id":"$string","output_index":0,"content_index":0,"delta":"$string"})");
    }
    if (e.type == "response.audio_transcript.delta") {
      n_tr++;
      if (n_audio > 0) interleaved = true;
      EXPECT_GOLDEN(e, R"({"type":"response.audio_transcript.delta","event_id":"$prefix:event_","response_id":"$string",
        "item_id":"$string","output_index":0,"content_index":0,"delta":"$string"})");
    }
    if (e.type.find(".delta") != std::string::npos) {
      EXPECT_EQ(e.str("item_id"), item_a);
      EXPECT_EQ(e.str("response_id"), resp_id);
    }
  }
  EXPECT_GT(n_audio, 1u);
  EXPECT_GT(n_tr, 1u);
  EXPECT_TRUE(interleaved);
  // Audio deltas of varying sizes, 4 800..36 000 base64 chars (the last one may be shorter).
  ASSERT_FALSE(sizes.empty());
  for (size_t i = 0; i + 1 < sizes.size(); i++) {
    EXPECT_GE(sizes[i], 4800u);
    EXPECT_LE(sizes[i], 36000u);
  }
  EXPECT_GT(std::set<size_t>(sizes.begin(), sizes.end()).size(), 1u);
  // Tone voice: 60 ms per character of "You said: Hello" (15 chars) = 900 ms = 43 200 bytes.
  const std::string transcript = collect_text(evs, "response.audio_transcript.delta");
  EXPECT_EQ(transcript, "You said: Hello");
  EXPECT_EQ(collect_audio(evs, "response.audio.delta").size(), 15u * 60u * 48u);

  const size_t k = evs.size();
  EXPECT_GOLDEN(evs[k - 6], R"({"type":"response.audio.done","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0})");
  EXPECT_GOLDEN(evs[k - 5], R"({"type":"response.audio_transcript.done","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0,"transcript":"You said: Hello"})");
  EXPECT_GOLDEN(evs[k - 4], R"({"type":"response.content_part.done","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0,"part":{"type":"audio","transcript":"You said: Hello"}})");
  EXPECT_GOLDEN(evs[k - 3], R"({"type":"response.output_item.done","event_id":"$prefix:event_","response_id":"$string",
    "output_index":0,"item":{"id":"$string","object":"realtime.item","type":"message","status":"completed",
    "role":"assistant","content":[{"type":"audio","transcript":"You said: Hello"}]}})");
  EXPECT_GOLDEN(evs[k - 2], R"({"type":"response.done","event_id":"$prefix:event_","response":{
    "object":"realtime.response","id":"$string","status":"completed","status_details":null,
    "output":[{"id":"$string","object":"realtime.item","type":"message","status":"completed","role":"assistant",
               "content":[{"type":"audio","transcript":"You said: Hello"}]}],
    "conversation_id":"$prefix:conv_","modalities":["text","audio"],"voice":"alloy","output_audio_format":"pcm16",
    "temperature":0.8,"max_output_tokens":"inf",
    "usage":{"total_tokens":"$int","input_tokens":"$int","output_tokens":"$int",
             "input_token_details":{"cached_tokens":"$int","text_tokens":"$int","audio_tokens":"$int"},
             "output_token_details":{"text_tokens":"$int","audio_tokens":"$int"}},
    "metadata":null}})");
  EXPECT_EQ(evs[k - 2].num("response.usage.total_tokens"),
            evs[k - 2].num("response.usage.input_tokens") + evs[k - 2].num("response.usage.output_tokens"));
  EXPECT_GT(evs[k - 2].num("response.usage.output_token_details.audio_tokens"), 0);
  // §9 (preview shows requests and tokens)
  EXPECT_GOLDEN(evs[k - 1], R"({"type":"rate_limits.updated","event_id":"$prefix:event_","rate_limits":[
    {"name":"requests","limit":"$int","remaining":"$int","reset_seconds":"$number"},
    {"name":"tokens","limit":"$int","remaining":"$int","reset_seconds":"$number"}]})");
}

// §10.2 GA
TEST(Sequences, TextInAudioOutGa) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"output":{"voice":"marin"}}})");
  c.send(kUserHello);
  auto added = c.next(), done = c.next();
  ASSERT_TRUE(added && done);
  EXPECT_GOLDEN(*added, R"({"type":"conversation.item.added","event_id":"$prefix:event_","previous_item_id":null,
    "item":{"id":"$prefix:item_","object":"realtime.item","type":"message","status":"completed","role":"user",
            "content":[{"type":"input_text","text":"Hello"}]}})");
  EXPECT_GOLDEN(*done, R"({"type":"conversation.item.done","event_id":"$prefix:event_","previous_item_id":null,
    "item":{"id":"$prefix:item_","object":"realtime.item","type":"message","status":"completed","role":"user",
            "content":[{"type":"input_text","text":"Hello"}]}})");
  const std::string user_id = added->str("item.id");
  c.send(R"({"type":"response.create"})");
  auto evs = c.until("rate_limits.updated");
  const std::vector<std::string> expect = {
      "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
      "<audio+transcript deltas>", "response.output_audio.done", "response.output_audio_transcript.done",
      "response.content_part.done", "response.output_item.done", "conversation.item.done", "response.done",
      "rate_limits.updated"};
  EXPECT_EQ(collapse(evs), expect);
  EXPECT_GOLDEN(evs[0], R"({"type":"response.created","event_id":"$prefix:event_","response":{
    "object":"realtime.response","id":"$prefix:resp_","status":"in_progress","status_details":null,"output":[],
    "conversation_id":"$prefix:conv_","output_modalities":["audio"],"max_output_tokens":"inf",
    "audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},"usage":null,"metadata":null}})");
  EXPECT_GOLDEN(evs[2], R"({"type":"conversation.item.added","event_id":"$prefix:event_","previous_item_id":"$string",
    "item":{"id":"$string","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}})");
  EXPECT_EQ(evs[2].str("previous_item_id"), user_id);
  EXPECT_GOLDEN(evs[3], R"({"type":"response.content_part.added","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}})");
  for (auto &e : evs) {
    if (e.type == "response.output_audio_transcript.delta")
      EXPECT_GOLDEN(e, R"({"type":"response.output_audio_transcript.delta","event_id":"$prefix:event_",
        "response_id":"$string","item_id":"$string","output_index":0,"content_index":0,"delta":"$string",
        "obfuscation":"$string"})");
    if (e.type == "response.output_audio.delta")
      EXPECT_GOLDEN(e, R"({"type":"response.output_audio.delta","event_id":"$prefix:event_","response_id":"$string",
        "item_id":"$string","output_index":0,"content_index":0,"delta":"$string"})");
  }
  EXPECT_EQ(collect_text(evs, "response.output_audio_transcript.delta"), "You said: Hello");
  const size_t k = evs.size();
  EXPECT_GOLDEN(evs[k - 7], R"({"type":"response.output_audio.done","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0})");
  EXPECT_GOLDEN(evs[k - 6], R"({"type":"response.output_audio_transcript.done","event_id":"$prefix:event_",
    "response_id":"$string","item_id":"$string","output_index":0,"content_index":0,"transcript":"You said: Hello"})");
  EXPECT_GOLDEN(evs[k - 5], R"({"type":"response.content_part.done","event_id":"$prefix:event_","response_id":"$string",
    "item_id":"$string","output_index":0,"content_index":0,"part":{"type":"audio","transcript":"You said: Hello"}})");
  EXPECT_GOLDEN(evs[k - 4], R"({"type":"response.output_item.done","event_id":"$prefix:event_","response_id":"$string",
    "output_index":0,"item":{"id":"$string","object":"realtime.item","type":"message","status":"completed",
    "role":"assistant","content":[{"type":"output_audio","transcript":"You said: Hello"}]}})");
  EXPECT_GOLDEN(evs[k - 3], R"({"type":"conversation.item.done","event_id":"$prefix:event_","previous_item_id":"$string",
    "item":{"id":"$string","object":"realtime.item","type":"message","status":"completed",
    "role":"assistant","content":[{"type":"output_audio","transcript":"You said: Hello"}]}})");
  EXPECT_GOLDEN(evs[k - 2], R"({"type":"response.done","event_id":"$prefix:event_","response":{
    "object":"realtime.response","id":"$string","status":"completed","status_details":null,
    "output":[{"id":"$string","object":"realtime.item","type":"message","status":"completed","role":"assistant",
               "content":[{"type":"output_audio","transcript":"You said: Hello"}]}],
    "conversation_id":"$prefix:conv_","output_modalities":["audio"],"max_output_tokens":"inf",
    "audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},
    "usage":{"total_tokens":"$int","input_tokens":"$int","output_tokens":"$int",
             "input_token_details":{"cached_tokens":"$int","text_tokens":"$int","audio_tokens":"$int"},
             "output_token_details":{"text_tokens":"$int","audio_tokens":"$int"}},
    "metadata":null}})");
  // §9: GA traffic shows only the tokens entry
  EXPECT_GOLDEN(evs[k - 1], R"({"type":"rate_limits.updated","event_id":"$prefix:event_","rate_limits":[
    {"name":"tokens","limit":"$int","remaining":"$int","reset_seconds":"$number"}]})");
}

// §10.2 text-only variants (TRACE-BETA; GA output_text).
TEST(Sequences, TextOnlyBothDialects) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    c.send(kUserHello);
    c.until(preview ? "conversation.item.created" : "conversation.item.done");
    c.send(preview ? R"({"type":"response.create","response":{"modalities":["text"]}})"
                   : R"({"type":"response.create","response":{"output_modalities":["text"]}})");
    auto evs = c.until("rate_limits.updated");
    std::vector<std::string> expect;
    if (preview)
      expect = {"response.created", "response.output_item.added", "conversation.item.created",
                "response.content_part.added", "response.text.delta", "response.text.done",
                "response.content_part.done", "response.output_item.done", "response.done", "rate_limits.updated"};
    else
      expect = {"response.created", "response.output_item.added", "conversation.item.added",
                "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done", "response.output_item.done", "conversation.item.done",
                "response.done", "rate_limits.updated"};
    EXPECT_EQ(collapse(evs), expect) << (preview ? "preview" : "ga");
    const Event *pa = find(evs, "response.content_part.added");
    ASSERT_TRUE(pa);
    EXPECT_GOLDEN(*pa, R"({"type":"response.content_part.added","event_id":"$string","response_id":"$string",
      "item_id":"$string","output_index":0,"content_index":0,"part":{"type":"text","text":""}})");
    const Event *td = find(evs, preview ? "response.text.done" : "response.output_text.done");
    ASSERT_TRUE(td);
    EXPECT_EQ(td->str("text"), "You said: Hello");
    EXPECT_EQ(collect_text(evs, preview ? "response.text.delta" : "response.output_text.delta"), "You said: Hello");
    const Event *od = find(evs, "response.output_item.done");
    ASSERT_TRUE(od);
    EXPECT_EQ(od->str("item.content.0.type"), preview ? "text" : "output_text");
    EXPECT_EQ(od->str("item.content.0.text"), "You said: Hello");
    for (auto &e : evs) EXPECT_EQ(e.type.find("audio"), std::string::npos) << e.type;
  }
}

// §10.3: audio in with server VAD and transcription, both dialects.
TEST(Sequences, ServerVadWithTranscription) {
  Emulator emu({"--transcription-delay-ms=50"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    if (preview)
      update_session(c, R"({"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500,"create_response":true,"interrupt_response":true},"input_audio_transcription":{"model":"gpt-4o-transcribe"}})");
    else
      update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500},"transcription":{"model":"gpt-4o-transcribe"}}}})");
    std::vector<uint8_t> audio = pcm16_tone(24000, 0.0);
    auto tone = pcm16_tone(24000, 0.5);
    audio.insert(audio.end(), tone.begin(), tone.end());
    auto sil = pcm16_tone(24000, 0.0);
    audio.insert(audio.end(), sil.begin(), sil.end());
    append_audio(c, audio);
    auto evs = c.until("rate_limits.updated");
    // Transcription events are asynchronous (§5 rule 8): collect them apart.
    auto more = c.drain(300);
    evs.insert(evs.end(), more.begin(), more.end());
    auto main = without(evs, "conversation.item.input_audio_transcription");
    std::vector<std::string> expect;
    if (preview)
      expect = {"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed", "conversation.item.created", "response.created",
                "response.output_item.added", "conversation.item.created", "response.content_part.added",
                "<audio+transcript deltas>", "response.audio.done", "response.audio_transcript.done",
                "response.content_part.done", "response.output_item.done", "response.done", "rate_limits.updated"};
    else
      expect = {"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
                "response.created", "response.output_item.added", "conversation.item.added",
                "response.content_part.added", "<audio+transcript deltas>", "response.output_audio.done",
                "response.output_audio_transcript.done", "response.content_part.done", "response.output_item.done",
                "conversation.item.done", "response.done", "rate_limits.updated"};
    EXPECT_EQ(collapse(main), expect) << (preview ? "preview" : "ga");
    EXPECT_GOLDEN(main[0], R"({"type":"input_audio_buffer.speech_started","event_id":"$prefix:event_",
      "audio_start_ms":700,"item_id":"$prefix:item_"})");
    EXPECT_GOLDEN(main[1], R"({"type":"input_audio_buffer.speech_stopped","event_id":"$prefix:event_",
      "audio_end_ms":2500,"item_id":"$prefix:item_"})");
    const std::string uid = main[0].str("item_id");
    EXPECT_EQ(main[1].str("item_id"), uid);
    EXPECT_GOLDEN(main[2], R"({"type":"input_audio_buffer.committed","event_id":"$prefix:event_",
      "previous_item_id":null,"item_id":"$string"})");
    EXPECT_EQ(main[2].str("item_id"), uid);
    EXPECT_GOLDEN(main[3], R"({"type":"$prefix:conversation.item.","event_id":"$prefix:event_","previous_item_id":null,
      "item":{"id":"$string","object":"realtime.item","type":"message","status":"completed","role":"user",
              "content":[{"type":"input_audio","transcript":null}]}})");
    EXPECT_EQ(main[3].str("item.id"), uid);
    // Transcription: deltas (gpt-4o-transcribe family) then completed, for the user item.
    std::string deltas;
    const Event *completed = nullptr;
    for (auto &e : evs) {
      if (e.type == "conversation.item.input_audio_transcription.delta") {
        EXPECT_GOLDEN(e, R"({"type":"conversation.item.input_audio_transcription.delta","event_id":"$prefix:event_",
          "item_id":"$string","content_index":0,"delta":"$string"})");
        EXPECT_EQ(completed, nullptr);
        deltas += e.str("delta");
      }
      if (e.type == "conversation.item.input_audio_transcription.completed") completed = &e;
    }
    ASSERT_TRUE(completed);
    EXPECT_GOLDEN(*completed, R"({"type":"conversation.item.input_audio_transcription.completed",
      "event_id":"$prefix:event_","item_id":"$string","content_index":0,"transcript":"$string",
      "usage":{"type":"tokens","total_tokens":"$int","input_tokens":"$int",
               "input_token_details":{"text_tokens":"$int","audio_tokens":"$int"},"output_tokens":"$int"}})");
    EXPECT_EQ(completed->str("item_id"), uid);
    EXPECT_EQ(completed->str("transcript"), deltas);
    // Without scenario: a deterministic text saying what was heard: 2300 ms committed (700..2500 less nothing).
    EXPECT_EQ(completed->str("transcript"), "[1.80 s of speech]");
  }
}

// Input transcription arriving after response.done (configurable), whisper-1 = completed only.
TEST(Sequences, TranscriptionAfterResponseDoneWhisper) {
  Emulator emu({"--transcription-delay-ms=1500", "--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  update_session(c, R"({"turn_detection":null,"input_audio_transcription":{"model":"whisper-1"}})");
  append_audio(c, pcm16_tone(12000, 0.3));
  c.send(R"({"type":"input_audio_buffer.commit"})");
  c.send(R"({"type":"response.create"})");
  auto evs = c.until("conversation.item.input_audio_transcription.completed");
  auto types = types_of(evs);
  auto done = std::find(types.begin(), types.end(), "response.done");
  EXPECT_NE(done, types.end());
  EXPECT_EQ(std::count(types.begin(), types.end(), "conversation.item.input_audio_transcription.delta"), 0);
  EXPECT_GOLDEN(evs.back(), R"({"type":"conversation.item.input_audio_transcription.completed",
      "event_id":"$prefix:event_","item_id":"$string","content_index":0,"transcript":"[0.50 s of speech]",
      "usage":{"type":"duration","seconds":0.5}})");
}

// §10.4 push-to-talk: manual commit, no response until response.create.
TEST(Sequences, ManualCommitBothDialects) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    update_session(c, preview ? R"({"turn_detection":null})" : R"({"type":"realtime","audio":{"input":{"turn_detection":null}}})");
    c.send(R"({"type":"input_audio_buffer.clear","event_id":"evt_clr"})");
    auto cl = c.next();
    ASSERT_TRUE(cl);
    EXPECT_GOLDEN(*cl, R"({"type":"input_audio_buffer.cleared","event_id":"$prefix:event_"})");
    append_audio(c, pcm16_tone(24000, 0.5));  // speech, but VAD is off: nothing happens
    EXPECT_TRUE(c.drain(200).empty());
    c.send(R"({"type":"input_audio_buffer.commit","event_id":"evt_commit"})");
    auto evs = c.drain(300);
    std::vector<std::string> expect = preview ? std::vector<std::string>{"input_audio_buffer.committed",
                                                                         "conversation.item.created"}
                                              : std::vector<std::string>{"input_audio_buffer.committed",
                                                                         "conversation.item.added",
                                                                         "conversation.item.done"};
    EXPECT_EQ(types_of(evs), expect);
    c.send(R"({"type":"response.create"})");
    auto r = c.until("rate_limits.updated");
    const Event *d = find(r, "response.done");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->str("response.status"), "completed");
    EXPECT_EQ(collect_text(r, preview ? "response.audio_transcript.delta" : "response.output_audio_transcript.delta"),
              "I heard 1.00 seconds of audio.");
  }
}

// §3.4 / §8: commit under 100 ms.
TEST(Sequences, CommitEmptyError) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":null}}})");
  append_audio(c, pcm16_tone(2376, 0.0));  // 99 ms
  c.send(R"({"type":"input_audio_buffer.commit","event_id":"evt_c1"})");
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_GOLDEN(*e, R"({"type":"error","event_id":"$prefix:event_","error":{"type":"invalid_request_error",
    "code":"input_audio_buffer_commit_empty",
    "message":"Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 99.00ms of audio.",
    "param":null,"event_id":"evt_c1"}})");
  append_audio(c, pcm16_tone(24, 0.0));  // now exactly 100 ms
  c.send(R"({"type":"input_audio_buffer.commit","event_id":"evt_c2"})");
  auto ok = c.next();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->type, "input_audio_buffer.committed");
}

// §10.5 barge-in: speech during a response cancels it (turn_detected), then truncate.
TEST(Sequences, BargeInCancelsAndTruncate) {
  Emulator emu({"--pace=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    c.send(kUserHello);
    c.until(preview ? "conversation.item.created" : "conversation.item.done");
    c.send(R"({"type":"response.create","response":{"instructions":"Say: This is a rather long answer that keeps going for several seconds of audio."}})");
    auto first = c.until(preview ? "response.audio.delta" : "response.output_audio.delta");
    ASSERT_FALSE(first.empty());
    const std::string item_a = first.back().str("item_id");
    const size_t played = unb64(first.back().str("delta")).size();
    // user speaks: 400 ms of tone
    append_audio(c, pcm16_tone(9600, 0.5));
    auto evs = c.until("response.done");
    auto ss = std::find_if(evs.begin(), evs.end(), [](const Event &e) { return e.type == "input_audio_buffer.speech_started"; });
    ASSERT_NE(ss, evs.end());
    std::vector<Event> after(ss, evs.end());
    // Drop deltas already in flight before the cancellation took effect.
    std::vector<std::string> t;
    for (auto &e : after)
      if (e.type.find(".delta") == std::string::npos) t.push_back(e.type);
    std::vector<std::string> expect =
        preview ? std::vector<std::string>{"input_audio_buffer.speech_started", "response.audio.done",
                                           "response.audio_transcript.done", "response.content_part.done",
                                           "response.output_item.done", "response.done"}
                : std::vector<std::string>{"input_audio_buffer.speech_started", "response.output_audio.done",
                                           "response.output_audio_transcript.done", "response.content_part.done",
                                           "response.output_item.done", "conversation.item.done", "response.done"};
    EXPECT_EQ(t, expect);
    const Event *oid = find(after, "response.output_item.done");
    ASSERT_TRUE(oid);
    EXPECT_EQ(oid->str("item.status"), "incomplete");
    EXPECT_GOLDEN(after.back(), R"({"type":"response.done","event_id":"$string","response":{"$partial":true,
      "status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"}}})");
    auto rl = c.next();
    ASSERT_TRUE(rl);
    EXPECT_EQ(rl->type, "rate_limits.updated");
    // Truncate to what was "played" (§3.8, §6): ms of item A's own audio.
    const int64_t played_ms = int64_t(played / 48);
    c.send("{\"type\":\"conversation.item.truncate\",\"event_id\":\"evt_tr\",\"item_id\":\"" + item_a +
           "\",\"content_index\":0,\"audio_end_ms\":" + std::to_string(played_ms) + "}");
    auto tr = c.wait_for("conversation.item.truncated");
    ASSERT_TRUE(tr);
    EXPECT_GOLDEN(*tr, "{\"type\":\"conversation.item.truncated\",\"event_id\":\"$prefix:event_\",\"item_id\":\"" +
                           item_a + "\",\"content_index\":0,\"audio_end_ms\":" + std::to_string(played_ms) + "}");
    // Beyond the item's audio -> error with the client's event_id.
    c.send("{\"type\":\"conversation.item.truncate\",\"event_id\":\"evt_tr2\",\"item_id\":\"" + item_a +
           "\",\"content_index\":0,\"audio_end_ms\":600000}");
    auto err = c.wait_for("error");
    ASSERT_TRUE(err);
    EXPECT_EQ(err->str("error.type"), "invalid_request_error");
    EXPECT_EQ(err->str("error.event_id"), "evt_tr2");
    EXPECT_EQ(err->str("error.param"), "audio_end_ms");
    // The retrieved item has the truncated audio and no transcript.
    c.send("{\"type\":\"conversation.item.retrieve\",\"item_id\":\"" + item_a + "\"}");
    auto ret = c.wait_for("conversation.item.retrieved");
    ASSERT_TRUE(ret);
    EXPECT_EQ(unb64(ret->str("item.content.0.audio")).size(), size_t(played_ms) * 48);
    EXPECT_EQ(ret->str("item.content.0.transcript"), "");
    // Then the user turn ends: speech_stopped, committed after item A, and a new response.
    append_audio(c, pcm16_tone(12000, 0.0));
    auto rest = c.until("response.created", 5000);
    auto types = types_of(rest);
    ASSERT_NE(std::find(types.begin(), types.end(), "input_audio_buffer.speech_stopped"), types.end());
    const Event *cm = find(rest, "input_audio_buffer.committed");
    ASSERT_TRUE(cm);
    EXPECT_EQ(cm->str("previous_item_id"), item_a);
    c.send(R"({"type":"response.cancel"})");
    c.until("rate_limits.updated");
  }
}

// §10.6 function calling with the shipped weather scenario (seed's get_weather_for_location).
TEST(Sequences, FunctionCallingWeatherScenario) {
  Emulator emu({"--scenario=" + scenario_path(), "--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    if (preview)
      update_session(c, std::string(R"({"tools":[)") + kWeatherTool + R"(],"tool_choice":"auto"})");
    else
      update_session(c, std::string(R"({"type":"realtime","tools":[)") + kWeatherTool + R"(],"tool_choice":"auto"})");
    c.send(R"({"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"What's the weather like in Seattle today?"}]}})");
    c.until(preview ? "conversation.item.created" : "conversation.item.done");
    c.send(R"({"type":"response.create"})");
    auto evs = c.until("rate_limits.updated");
    std::vector<std::string> expect =
        preview ? std::vector<std::string>{"response.created", "response.output_item.added",
                                           "conversation.item.created", "response.function_call_arguments.delta",
                                           "response.function_call_arguments.done", "response.output_item.done",
                                           "response.done", "rate_limits.updated"}
                : std::vector<std::string>{"response.created", "response.output_item.added",
                                           "conversation.item.added", "response.function_call_arguments.delta",
                                           "response.function_call_arguments.done", "response.output_item.done",
                                           "conversation.item.done", "response.done", "rate_limits.updated"};
    EXPECT_EQ(collapse(evs), expect);
    EXPECT_GOLDEN(evs[1], R"({"type":"response.output_item.added","event_id":"$prefix:event_","response_id":"$string",
      "output_index":0,"item":{"id":"$prefix:item_","object":"realtime.item","type":"function_call",
      "status":"in_progress","name":"get_weather_for_location","call_id":"$prefix:call_","arguments":""}})");
    const std::string call_id = evs[1].str("item.call_id");
    std::string args;
    for (auto &e : evs)
      if (e.type == "response.function_call_arguments.delta") {
        EXPECT_GOLDEN(e, R"({"type":"response.function_call_arguments.delta","event_id":"$prefix:event_",
          "response_id":"$string","item_id":"$string","output_index":0,"call_id":"$string","delta":"$string"})");
        EXPECT_EQ(e.str("call_id"), call_id);
        args += e.str("delta");
      }
    const std::string expected_args = R"({"location":"Seattle, WA","unit":"f"})";
    EXPECT_EQ(args, expected_args);
    const Event *ad = find(evs, "response.function_call_arguments.done");
    ASSERT_TRUE(ad);
    if (preview)
      EXPECT_GOLDEN(*ad, R"({"type":"response.function_call_arguments.done","event_id":"$prefix:event_",
        "response_id":"$string","item_id":"$string","output_index":0,"call_id":"$string",
        "arguments":"{\"location\":\"Seattle, WA\",\"unit\":\"f\"}"})");
    else
      EXPECT_GOLDEN(*ad, R"({"type":"response.function_call_arguments.done","event_id":"$prefix:event_",
        "response_id":"$string","item_id":"$string","output_index":0,"call_id":"$string",
        "arguments":"{\"location\":\"Seattle, WA\",\"unit\":\"f\"}","name":"get_weather_for_location"})");
    const Event *rd = find(evs, "response.done");
    ASSERT_TRUE(rd);
    EXPECT_GOLDEN(*rd, R"({"type":"response.done","event_id":"$string","response":{"$partial":true,"status":"completed",
      "output":[{"id":"$string","object":"realtime.item","type":"function_call","status":"completed",
                 "name":"get_weather_for_location","call_id":"$string",
                 "arguments":"{\"location\":\"Seattle, WA\",\"unit\":\"f\"}"}]}})");
    // function_call_output does not trigger a response by itself.
    c.send("{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"function_call_output\",\"call_id\":\"" +
           call_id + "\",\"output\":\"{\\\"temperature\\\":72,\\\"description\\\":\\\"sunny\\\"}\"}}");
    auto fco = c.until(preview ? "conversation.item.created" : "conversation.item.done");
    EXPECT_GOLDEN(fco.back(), "{\"type\":\"$prefix:conversation.item.\",\"event_id\":\"$string\",\"previous_item_id\":\"$string\","
                              "\"item\":{\"id\":\"$string\",\"object\":\"realtime.item\",\"type\":\"function_call_output\","
                              "\"status\":\"completed\",\"call_id\":\"" + call_id + "\","
                              "\"output\":\"{\\\"temperature\\\":72,\\\"description\\\":\\\"sunny\\\"}\"}}");
    EXPECT_TRUE(c.drain(150).empty());
    c.send(R"({"type":"response.create"})");
    auto reply = c.until("rate_limits.updated");
    const std::string text =
        collect_text(reply, preview ? "response.audio_transcript.delta" : "response.output_audio_transcript.delta");
    EXPECT_EQ(text, "In Seattle it is 72 degrees Fahrenheit right now, and the sky is sunny.");
    // Turn 2
    c.send(R"({"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"And should I take an umbrella?"}]}})");
    c.send(R"({"type":"response.create"})");
    auto r2 = c.until("rate_limits.updated");
    EXPECT_NE(collect_text(r2, preview ? "response.audio_transcript.delta" : "response.output_audio_transcript.delta")
                  .find("umbrella"),
              std::string::npos);
  }
}

// Unknown call_id in function_call_output -> error (§2.4 "server checks").
TEST(Sequences, FunctionCallOutputUnknownCallId) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  c.send(R"({"type":"conversation.item.create","event_id":"evt_fco","item":{"type":"function_call_output","call_id":"call_nope","output":"{}"}})");
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "error");
  EXPECT_EQ(e->str("error.event_id"), "evt_fco");
  EXPECT_EQ(e->str("error.param"), "item.call_id");
}

// The whole weather conversation spoken with espeak-ng, audio in via server VAD.
TEST(Sequences, SpokenScenarioWithEspeak) {
  Emulator emu({"--scenario=" + scenario_path(), "--voice=espeak", "--pace=burst", "--transcription-delay-ms=0"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, std::string(R"({"type":"realtime","tools":[)") + kWeatherTool +
                        R"(],"audio":{"input":{"transcription":{"model":"whisper-1"}}}})");
  std::vector<uint8_t> utt = pcm16_tone(4800, 0.0);
  auto sp = pcm16_tone(24000, 0.4);
  utt.insert(utt.end(), sp.begin(), sp.end());
  auto tail = pcm16_tone(12000, 0.0);
  utt.insert(utt.end(), tail.begin(), tail.end());
  append_audio(c, utt);
  auto evs = c.until("rate_limits.updated");
  auto more = c.drain(200);
  evs.insert(evs.end(), more.begin(), more.end());
  const Event *tc = find(evs, "conversation.item.input_audio_transcription.completed");
  ASSERT_TRUE(tc);
  EXPECT_EQ(tc->str("transcript"), "What's the weather like in Seattle today?");
  const Event *call = find(evs, "response.output_item.done");
  ASSERT_TRUE(call);
  ASSERT_EQ(call->str("item.type"), "function_call");
  c.send("{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"function_call_output\",\"call_id\":\"" +
         call->str("item.call_id") + "\",\"output\":\"{\\\"temperature\\\":61}\"}}");
  c.send(R"({"type":"response.create"})");
  auto reply = c.until("rate_limits.updated");
  auto audio = collect_audio(reply, "response.output_audio.delta");
  // Real speech: > 1 s of 24 kHz pcm16 that is not silent.
  ASSERT_GT(audio.size(), 48000u);
  double energy = 0;
  for (size_t i = 0; i + 1 < audio.size(); i += 2) {
    const int16_t v = int16_t(uint16_t(audio[i]) | uint16_t(audio[i + 1] << 8));
    energy += double(v) * v;
  }
  EXPECT_GT(std::sqrt(energy / double(audio.size() / 2)), 300.0);
  EXPECT_NE(collect_text(reply, "response.output_audio_transcript.delta").find("61 degrees"), std::string::npos);
}

// G.711 session: output audio is 8 kHz u-law/a-law (espeak voice too).
TEST(Sequences, G711OutputFormats) {
  Emulator emu({"--voice=espeak", "--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  auto u = update_session(c, R"({"input_audio_format":"g711_ulaw","output_audio_format":"g711_alaw"})");
  EXPECT_EQ(u.str("session.input_audio_format"), "g711_ulaw");
  EXPECT_EQ(u.str("session.output_audio_format"), "g711_alaw");
  c.send(R"({"type":"response.create","response":{"instructions":"Say: Testing the telephone voice."}})");
  auto evs = c.until("rate_limits.updated");
  EXPECT_EQ(evs[0].str("response.output_audio_format"), "g711_alaw");
  auto audio = collect_audio(evs, "response.audio.delta");
  ASSERT_GT(audio.size(), 4000u);  // > 0.5 s at 8 kB/s
  // A-law silence is 0xD5/0x55; real speech must have many distinct codes.
  EXPECT_GT(std::set<uint8_t>(audio.begin(), audio.end()).size(), 40u);
}

// §10.7 out-of-band response: conversation none, metadata, input; no conversation items.
TEST(Sequences, OutOfBandResponse) {
  Emulator emu({"--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    c.send(kUserHello);
    auto created = c.until(preview ? "conversation.item.created" : "conversation.item.done");
    const std::string uid = created.back().str("item.id");
    const std::string mods = preview ? R"("modalities":["text"])" : R"("output_modalities":["text"])";
    c.send("{\"type\":\"response.create\",\"response\":{\"conversation\":\"none\",\"metadata\":{\"topic\":\"classification\"}," +
           mods + ",\"instructions\":\"Classify.\",\"input\":[{\"type\":\"item_reference\",\"id\":\"" + uid +
           "\"},{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"ping\"}]}]}}");
    auto evs = c.until("rate_limits.updated");
    EXPECT_GOLDEN(evs[0], R"({"type":"response.created","event_id":"$string","response":{"$partial":true,
      "conversation_id":null,"metadata":{"topic":"classification"}}})");
    const Event *d = find(evs, "response.done");
    ASSERT_TRUE(d);
    EXPECT_GOLDEN(*d, R"({"type":"response.done","event_id":"$string","response":{"$partial":true,
      "status":"completed","conversation_id":null,"metadata":{"topic":"classification"}}})");
    for (auto &e : evs) EXPECT_EQ(e.type.rfind("conversation.item", 0), std::string::npos) << e.type;
    EXPECT_EQ(collect_text(evs, preview ? "response.text.delta" : "response.output_text.delta"), "You said: ping");
    // Out-of-band responses may run beside a default one (§5 rule 10).
    c.send(R"({"type":"response.create","response":{"instructions":"Say: one two three four five six seven"}})");
    c.send(R"({"type":"response.create","response":{"conversation":"none"}})");
    auto both = c.drain(1500);
    EXPECT_EQ(std::count_if(both.begin(), both.end(), [](const Event &e) { return e.type == "response.done"; }), 2);
    EXPECT_EQ(std::count_if(both.begin(), both.end(), [](const Event &e) { return e.type == "error"; }), 0);
  }
}

// §5 rule 10: one active response per conversation.
TEST(Sequences, OneActiveResponse) {
  Emulator emu({"--pace=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  c.send(R"({"type":"response.create","event_id":"evt_r1"})");
  auto first = c.until("response.created");
  const std::string rid = first.back().str("response.id");
  c.send(R"({"type":"response.create","event_id":"evt_r2"})");
  auto err = c.wait_for("error");
  ASSERT_TRUE(err);
  EXPECT_GOLDEN(*err, "{\"type\":\"error\",\"event_id\":\"$prefix:event_\",\"error\":{\"type\":\"invalid_request_error\","
                      "\"code\":\"conversation_already_has_active_response\",\"message\":\"Conversation already has an "
                      "active response in progress: " + rid + ". Wait until the response is finished before creating a new one.\","
                      "\"param\":null,\"event_id\":\"evt_r2\"}}");
  auto rest = c.until("rate_limits.updated");
  auto t = types_of(rest);
  EXPECT_EQ(std::count(t.begin(), t.end(), "response.created"), 0);
  EXPECT_EQ(std::count(t.begin(), t.end(), "response.done"), 1);
}

// §3.11: response.cancel mid-stream and with nothing active.
TEST(Sequences, CancelMidStreamAndNotActive) {
  Emulator emu({"--pace=1"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  for (bool preview : {true, false}) {
    Client c;
    ASSERT_TRUE(open_session(c, emu, preview));
    c.send(R"({"type":"response.cancel","event_id":"evt_cx"})");
    auto e = c.next();
    ASSERT_TRUE(e);
    EXPECT_GOLDEN(*e, R"({"type":"error","event_id":"$prefix:event_","error":{"type":"invalid_request_error",
      "code":"response_cancel_not_active","message":"Cancellation failed: no active response found","param":null,
      "event_id":"evt_cx"}})");
    c.send(R"({"type":"response.create","response":{"instructions":"Say: A long answer that will be cancelled before its end, surely."}})");
    auto head = c.until(preview ? "response.audio.delta" : "response.output_audio.delta");
    c.send(R"({"type":"response.cancel","event_id":"evt_c"})");
    auto evs = c.until("rate_limits.updated");
    std::vector<std::string> t;
    for (auto &x : evs)
      if (x.type.find(".delta") == std::string::npos) t.push_back(x.type);
    std::vector<std::string> expect =
        preview ? std::vector<std::string>{"response.audio.done", "response.audio_transcript.done",
                                           "response.content_part.done", "response.output_item.done",
                                           "response.done", "rate_limits.updated"}
                : std::vector<std::string>{"response.output_audio.done", "response.output_audio_transcript.done",
                                           "response.content_part.done", "response.output_item.done",
                                           "conversation.item.done", "response.done", "rate_limits.updated"};
    EXPECT_EQ(t, expect);
    const Event *d = find(evs, "response.done");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->str("response.status"), "cancelled");
    EXPECT_EQ(d->str("response.status_details.type"), "cancelled");
    EXPECT_EQ(d->str("response.status_details.reason"), "client_cancelled");
    EXPECT_EQ(d->str("response.output.0.status"), "incomplete");
    // Transcript so far is consistent: done transcript = concatenated deltas.
    std::vector<Event> all = head;
    all.insert(all.end(), evs.begin(), evs.end());
    const Event *td = find(all, preview ? "response.audio_transcript.done" : "response.output_audio_transcript.done");
    ASSERT_TRUE(td);
    EXPECT_EQ(td->str("transcript"),
              collect_text(all, preview ? "response.audio_transcript.delta" : "response.output_audio_transcript.delta"));
    EXPECT_TRUE(c.drain(300).empty());  // nothing after a cancelled response
  }
}

// §3.6-3.9: previous_item_id, retrieve (with audio), delete, errors.
TEST(Sequences, ItemCreateRetrieveDelete) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  c.send(R"({"type":"conversation.item.create","item":{"id":"item_a","type":"message","role":"user","content":[{"type":"input_text","text":"A"}]}})");
  auto a = c.next();
  c.send(R"({"type":"conversation.item.create","previous_item_id":"root","item":{"id":"item_b","type":"message","role":"system","content":[{"type":"input_text","text":"B"}]}})");
  auto b = c.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->type, "conversation.item.created");
  EXPECT_TRUE(JSON_NODE_HOLDS_NULL(b->at("previous_item_id")));
  c.send(R"({"type":"conversation.item.create","previous_item_id":"item_b","item":{"id":"item_c","type":"message","role":"assistant","content":[{"type":"text","text":"C"}]}})");
  auto cc = c.next();
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->str("previous_item_id"), "item_b");
  c.send(R"({"type":"conversation.item.create","event_id":"evt_bad","previous_item_id":"item_zz","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"x"}]}})");
  auto err = c.next();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->type, "error");
  EXPECT_EQ(err->str("error.event_id"), "evt_bad");
  EXPECT_EQ(err->str("error.param"), "previous_item_id");
  // Audio message via item.create, retrieved with its audio.
  auto audio = pcm16_tone(2400, 0.25);
  c.send("{\"type\":\"conversation.item.create\",\"item\":{\"id\":\"item_d\",\"type\":\"message\",\"role\":\"user\","
         "\"content\":[{\"type\":\"input_audio\",\"audio\":\"" + b64(audio) + "\"}]}}");
  c.next();
  c.send(R"({"type":"conversation.item.retrieve","event_id":"evt_get","item_id":"item_d"})");
  auto r = c.next();
  ASSERT_TRUE(r);
  EXPECT_GOLDEN(*r, R"({"type":"conversation.item.retrieved","event_id":"$prefix:event_","item":{"id":"item_d",
    "object":"realtime.item","type":"message","status":"completed","role":"user",
    "content":[{"type":"input_audio","audio":"$string","transcript":null}]}})");
  EXPECT_EQ(unb64(r->str("item.content.0.audio")), audio);
  c.send(R"({"type":"conversation.item.delete","event_id":"evt_del","item_id":"item_a"})");
  auto d = c.next();
  ASSERT_TRUE(d);
  EXPECT_GOLDEN(*d, R"({"type":"conversation.item.deleted","event_id":"$prefix:event_","item_id":"item_a"})");
  c.send(R"({"type":"conversation.item.delete","event_id":"evt_del2","item_id":"item_a"})");
  auto d2 = c.next();
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->type, "error");
  EXPECT_EQ(d2->str("error.event_id"), "evt_del2");
  c.send(R"({"type":"conversation.item.retrieve","event_id":"evt_get2","item_id":"item_a"})");
  auto r2 = c.next();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->type, "error");
  c.send(R"({"type":"conversation.item.truncate","event_id":"evt_t","item_id":"item_q","content_index":0,"audio_end_ms":0})");
  auto t = c.next();
  ASSERT_TRUE(t);
  EXPECT_GOLDEN(*t, R"({"type":"error","event_id":"$string","error":{"type":"invalid_request_error",
    "code":"item_truncate_invalid_item_id","message":"Item with item_id not found: item_q","param":"item_id",
    "event_id":"evt_t"}})");
  // Assistant audio cannot be created by the client.
  c.send(R"({"type":"conversation.item.create","event_id":"evt_aa","item":{"type":"message","role":"assistant","content":[{"type":"audio","transcript":"x"}]}})");
  auto aa = c.next();
  ASSERT_TRUE(aa);
  EXPECT_EQ(aa->type, "error");
  EXPECT_EQ(aa->str("error.param"), "item.content[0].type");
}

// max_output_tokens: response ends incomplete with reason max_output_tokens (§2.5).
TEST(Sequences, MaxOutputTokensIncomplete) {
  Emulator emu({"--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  c.send(R"({"type":"response.create","response":{"max_output_tokens":3,"instructions":"Say: one two three four five"}})");
  auto evs = c.until("rate_limits.updated");
  const Event *d = find(evs, "response.done");
  ASSERT_TRUE(d);
  EXPECT_GOLDEN(*d, R"({"type":"response.done","event_id":"$string","response":{"$partial":true,"status":"incomplete",
    "status_details":{"type":"incomplete","reason":"max_output_tokens"},"max_output_tokens":3}})");
  EXPECT_EQ(collect_text(evs, "response.output_audio_transcript.delta"), "one two three");
}

// Pace: realtime streams audio no faster than real time; burst is immediate.
TEST(Sequences, PaceRealtimeVsBurst) {
  for (const char *pace : {"realtime", "burst"}) {
    Emulator emu({std::string("--pace=") + pace});
    ASSERT_TRUE(emu.ok()) << emu.error;
    Client c;
    ASSERT_TRUE(open_session(c, emu, false));
    // 20 chars of tone = 1200 ms of audio
    const gint64 t0 = g_get_monotonic_time();
    c.send(R"({"type":"response.create","response":{"instructions":"Say: abcdefghij klmnopqrs"}})");
    c.until("response.done");
    const double elapsed_ms = double(g_get_monotonic_time() - t0) / 1000.0;
    if (std::string(pace) == "realtime")
      EXPECT_GT(elapsed_ms, 900.0);
    else
      EXPECT_LT(elapsed_ms, 500.0);
  }
}

// GA idle_timeout_ms (§2.3, §10.3): timeout_triggered, committed, item, response.
TEST(Sequences, IdleTimeoutTriggered) {
  Emulator emu({"--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","idle_timeout_ms":5000}}}})");
  c.send(R"({"type":"response.create","response":{"instructions":"Say: hi"}})");
  c.until("rate_limits.updated");
  // The client keeps streaming silence (10 s of it, faster than real time).
  append_audio(c, pcm16_tone(240000, 0.0), 48000);
  auto evs = c.until("response.created", 9000);
  ASSERT_FALSE(evs.empty());
  const Event *t = nullptr;
  for (auto &e : evs)
    if (e.type == "input_audio_buffer.timeout_triggered") t = &e;
  ASSERT_TRUE(t);
  EXPECT_GOLDEN(*t, R"({"type":"input_audio_buffer.timeout_triggered","event_id":"$prefix:event_",
    "audio_start_ms":"$int","audio_end_ms":"$int","item_id":"$prefix:item_"})");
  EXPECT_EQ(t->num("audio_end_ms") - t->num("audio_start_ms"), 5000);
  std::vector<std::string> tail;
  bool after = false;
  for (auto &e : evs) {
    if (&e == t) after = true;
    if (after) tail.push_back(e.type);
  }
  const std::vector<std::string> expect = {"input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                                           "conversation.item.added", "conversation.item.done", "response.created"};
  EXPECT_EQ(tail, expect);
  c.until("rate_limits.updated");
}

// §10.8 transcription-only sessions: GA session.type "transcription", preview transcription_session.update.
TEST(Sequences, TranscriptionSessions) {
  Emulator emu({"--transcription-delay-ms=0"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?intent=transcription")));
    auto s = c.next();
    ASSERT_TRUE(s);
    EXPECT_GOLDEN(*s, R"({"type":"session.created","event_id":"$string","session":{"type":"transcription",
      "object":"realtime.transcription_session","id":"$prefix:sess_","expires_at":"$int",
      "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,
                        "turn_detection":{"$partial":true,"type":"server_vad"}}},"include":null}})");
    auto u = update_session(c, R"({"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"},"noise_reduction":{"type":"near_field"}}}})");
    EXPECT_EQ(u.str("session.audio.input.transcription.model"), "gpt-4o-transcribe");
    append_audio(c, [] {
      auto a = pcm16_tone(12000, 0.0), b = pcm16_tone(24000, 0.5), d = pcm16_tone(12000, 0.0);
      a.insert(a.end(), b.begin(), b.end());
      a.insert(a.end(), d.begin(), d.end());
      return a;
    }());
    auto evs = c.until("conversation.item.input_audio_transcription.completed");
    for (auto &e : evs) EXPECT_EQ(e.type.rfind("response.", 0), std::string::npos) << e.type;
    c.send(R"({"type":"response.create","event_id":"evt_x"})");
    auto err = c.wait_for("error");
    ASSERT_TRUE(err);
    EXPECT_EQ(err->str("error.event_id"), "evt_x");
  }
  {
    Client c;
    ASSERT_TRUE(c.connect(emu.url("/v1/realtime?intent=transcription"), {{"OpenAI-Beta", "realtime=v1"}}));
    auto s = c.next();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->str("session.object"), "realtime.transcription_session");
    c.send(R"({"type":"transcription_session.update","session":{"input_audio_format":"pcm16","input_audio_transcription":{"model":"gpt-4o-transcribe","prompt":"","language":""},"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500},"input_audio_noise_reduction":{"type":"near_field"},"include":["item.input_audio_transcription.logprobs"]}})");
    auto u = c.next();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->type, "transcription_session.updated");
    EXPECT_EQ(u->str("session.object"), "realtime.transcription_session");
    EXPECT_EQ(u->str("session.input_audio_transcription.model"), "gpt-4o-transcribe");
  }
}
