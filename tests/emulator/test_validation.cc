// realtime-emulator: validation of client events (§3, §8): every bad value gets an error with
// type, code, message, param and the client's event_id; the session keeps its previous config.
#include "harness.h"

using namespace emutest;

namespace {

struct Case {
  const char *session;  // the session object sent in session.update
  const char *code;
  const char *param;
};

void expect_error(Client &c, const std::string &event, const char *code, const char *param, const char *eid) {
  c.send(event);
  auto e = c.next();
  ASSERT_TRUE(e) << "no reply to " << event;
  ASSERT_EQ(e->type, "error") << event << " -> " << e->raw;
  EXPECT_EQ(e->str("error.type"), "invalid_request_error") << e->raw;
  EXPECT_EQ(e->str("error.code"), code) << event << " -> " << e->raw;
  if (param) {
    EXPECT_EQ(e->str("error.param"), param) << event << " -> " << e->raw;
  } else {
    EXPECT_TRUE(e->at("error.param") && JSON_NODE_HOLDS_NULL(e->at("error.param"))) << e->raw;
  }
  if (eid) {
    EXPECT_EQ(e->str("error.event_id"), eid) << e->raw;
  }
  EXPECT_NE(e->str("error.message"), "<none>");
  EXPECT_FALSE(e->str("error.message").empty());
}

}  // namespace

TEST(Validation, PreviewSessionUpdate) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  const Case cases[] = {
      {R"({"voice":"nova"})", "invalid_value", "session.voice"},
      {R"({"voice":3})", "invalid_value", "session.voice"},
      {R"({"modalities":["audio"]})", "invalid_value", "session.modalities"},
      {R"({"modalities":["text","video"]})", "invalid_value", "session.modalities[1]"},
      {R"({"modalities":"text"})", "invalid_value", "session.modalities"},
      {R"({"input_audio_format":"opus"})", "invalid_value", "session.input_audio_format"},
      {R"({"output_audio_format":"g711-ulaw"})", "invalid_value", "session.output_audio_format"},
      {R"({"input_audio_transcription":{"model":"whisper-2"}})", "invalid_value", "session.input_audio_transcription.model"},
      {R"({"input_audio_transcription":{"model":"whisper-1","foo":1}})", "unknown_parameter", "session.input_audio_transcription.foo"},
      {R"({"input_audio_noise_reduction":{"type":"mid_field"}})", "invalid_value", "session.input_audio_noise_reduction.type"},
      {R"({"turn_detection":{"type":"client_vad"}})", "invalid_value", "session.turn_detection.type"},
      {R"({"turn_detection":{"type":"none"}})", "invalid_value", "session.turn_detection.type"},
      {R"({"turn_detection":{"type":"server_vad","threshold":1.5}})", "invalid_value", "session.turn_detection.threshold"},
      {R"({"turn_detection":{"type":"server_vad","threshold":"high"}})", "invalid_value", "session.turn_detection.threshold"},
      {R"({"turn_detection":{"type":"server_vad","prefix_padding_ms":-1}})", "invalid_value", "session.turn_detection.prefix_padding_ms"},
      {R"({"turn_detection":{"type":"server_vad","silence_duration_ms":12.5}})", "invalid_value", "session.turn_detection.silence_duration_ms"},
      {R"({"turn_detection":{"type":"server_vad","create_response":"yes"}})", "invalid_value", "session.turn_detection.create_response"},
      {R"({"turn_detection":{"type":"semantic_vad","eagerness":"eager"}})", "invalid_value", "session.turn_detection.eagerness"},
      {R"({"turn_detection":{"type":"server_vad","idle_timeout_ms":6000}})", "unknown_parameter", "session.turn_detection.idle_timeout_ms"},
      {R"({"tools":{}})", "invalid_value", "session.tools"},
      {R"({"tools":[{"type":"function"}]})", "missing_required_parameter", "session.tools[0].name"},
      {R"({"tools":[{"type":"function","name":"f","function":{}}]})", "unknown_parameter", "session.tools[0].function"},
      {R"({"tools":[{"type":"mcp","server_label":"x"}]})", "invalid_value", "session.tools[0].type"},
      {R"({"tool_choice":"sometimes"})", "invalid_value", "session.tool_choice"},
      {R"({"temperature":0.2})", "invalid_value", "session.temperature"},
      {R"({"temperature":1.3})", "invalid_value", "session.temperature"},
      {R"({"max_response_output_tokens":0})", "invalid_value", "session.max_response_output_tokens"},
      {R"({"max_response_output_tokens":5000})", "invalid_value", "session.max_response_output_tokens"},
      {R"({"max_response_output_tokens":"infinite"})", "invalid_value", "session.max_response_output_tokens"},
      {R"({"speed":2.0})", "invalid_value", "session.speed"},
      {R"({"tracing":"manual"})", "invalid_value", "session.tracing"},
      {R"({"include":["item.foo"]})", "invalid_value", "session.include[0]"},
      {R"({"instructions":42})", "invalid_value", "session.instructions"},
      // GA fields on the preview dialect
      {R"({"type":"realtime"})", "unknown_parameter", "session.type"},
      {R"({"output_modalities":["audio"]})", "unknown_parameter", "session.output_modalities"},
      {R"({"audio":{}})", "unknown_parameter", "session.audio"},
      {R"({"max_output_tokens":10})", "unknown_parameter", "session.max_output_tokens"},
      {R"({"bogus":true})", "unknown_parameter", "session.bogus"},
  };
  int i = 0;
  for (const auto &k : cases) {
    const std::string eid = "evt_v" + std::to_string(i++);
    SCOPED_TRACE(k.session);
    expect_error(c, "{\"type\":\"session.update\",\"event_id\":\"" + eid + "\",\"session\":" + k.session + "}", k.code,
                 k.param, eid.c_str());
  }
  // The session kept its previous (default) configuration; a partially valid update changed nothing.
  expect_error(c, R"({"type":"session.update","event_id":"evt_p","session":{"voice":"echo","temperature":9}})",
               "invalid_value", "session.temperature", "evt_p");
  auto u = update_session(c, R"({"instructions":"ok"})");
  EXPECT_EQ(u.str("session.voice"), "alloy");
  EXPECT_EQ(u.num("session.turn_detection.silence_duration_ms"), 200);
  EXPECT_EQ(u.str("session.input_audio_format"), "pcm16");
}

TEST(Validation, GaSessionUpdate) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  const Case cases[] = {
      {R"({"instructions":"x"})", "missing_required_parameter", "session.type"},  // §3.1 GA requires type
      {R"({"type":"conversation"})", "invalid_value", "session.type"},
      {R"({"type":"transcription"})", "invalid_value", "session.type"},
      {R"({"type":"realtime","output_modalities":["audio","text"]})", "invalid_value", "session.output_modalities"},
      {R"({"type":"realtime","output_modalities":["video"]})", "invalid_value", "session.output_modalities[0]"},
      {R"({"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}})", "invalid_value", "session.audio.input.format.rate"},
      {R"({"type":"realtime","audio":{"input":{"format":{"type":"audio/opus"}}}})", "invalid_value", "session.audio.input.format.type"},
      {R"({"type":"realtime","audio":{"input":{"format":"pcm16"}}})", "invalid_value", "session.audio.input.format"},
      {R"({"type":"realtime","audio":{"output":{"format":{"type":"audio/pcmu","rate":8000}}}})", "unknown_parameter", "session.audio.output.format.rate"},
      {R"({"type":"realtime","audio":{"output":{"voice":"fable"}}})", "invalid_value", "session.audio.output.voice"},
      {R"({"type":"realtime","audio":{"output":{"speed":0.1}}})", "invalid_value", "session.audio.output.speed"},
      {R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","idle_timeout_ms":1000}}}})", "invalid_value", "session.audio.input.turn_detection.idle_timeout_ms"},
      {R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"semantic_vad","threshold":0.5}}}})", "unknown_parameter", "session.audio.input.turn_detection.threshold"},
      {R"({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","eagerness":"low"}}}})", "unknown_parameter", "session.audio.input.turn_detection.eagerness"},
      {R"({"type":"realtime","audio":{"input":{"transcription":{"model":"whisper-9"}}}})", "invalid_value", "session.audio.input.transcription.model"},
      {R"({"type":"realtime","audio":{"input":{"noise_reduction":{"type":"x"}}}})", "invalid_value", "session.audio.input.noise_reduction.type"},
      {R"({"type":"realtime","audio":{"input":{"vad":{}}}})", "unknown_parameter", "session.audio.input.vad"},
      {R"({"type":"realtime","tool_choice":{"type":"function"}})", "missing_required_parameter", "session.tool_choice.name"},
      {R"({"type":"realtime","max_output_tokens":4097})", "invalid_value", "session.max_output_tokens"},
      {R"({"type":"realtime","truncation":"sometimes"})", "invalid_value", "session.truncation"},
      {R"({"type":"realtime","truncation":{"type":"retention_ratio","retention_ratio":1.5}})", "invalid_value", "session.truncation.retention_ratio"},
      {R"({"type":"realtime","prompt":{"version":"1"}})", "missing_required_parameter", "session.prompt.id"},
      // Beta fields on GA (§7.2)
      {R"({"type":"realtime","modalities":["text"]})", "unknown_parameter", "session.modalities"},
      {R"({"type":"realtime","voice":"alloy"})", "unknown_parameter", "session.voice"},
      {R"({"type":"realtime","temperature":0.8})", "unknown_parameter", "session.temperature"},
      {R"({"type":"realtime","input_audio_format":"pcm16"})", "unknown_parameter", "session.input_audio_format"},
      {R"({"type":"realtime","turn_detection":null})", "unknown_parameter", "session.turn_detection"},
  };
  int i = 0;
  for (const auto &k : cases) {
    const std::string eid = "evt_g" + std::to_string(i++);
    SCOPED_TRACE(k.session);
    expect_error(c, "{\"type\":\"session.update\",\"event_id\":\"" + eid + "\",\"session\":" + k.session + "}", k.code,
                 k.param, eid.c_str());
  }
  auto u = update_session(c, R"({"type":"realtime"})");
  EXPECT_EQ(u.str("session.audio.output.voice"), "alloy");
  EXPECT_EQ(u.str("session.output_modalities.0"), "audio");
}

// Voice is immutable once the model produced audio (§2.1, §2.2).
TEST(Validation, VoiceImmutableAfterAudio) {
  Emulator emu({"--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  update_session(c, R"({"type":"realtime","audio":{"output":{"voice":"cedar"}}})");
  c.send(R"({"type":"response.create"})");
  c.until("rate_limits.updated");
  expect_error(c, R"({"type":"session.update","event_id":"evt_v","session":{"type":"realtime","audio":{"output":{"voice":"marin"}}}})",
               "invalid_value", "session.audio.output.voice", "evt_v");
  update_session(c, R"({"type":"realtime","audio":{"output":{"voice":"cedar"}}})");  // same voice is fine
}

TEST(Validation, ClientEvents) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, false));
  // §8 examples
  expect_error(c, R"({"event_id":"evt_1"})", "invalid_event", nullptr, "evt_1");
  c.send(R"({"type":"scooby.dooby.doo","event_id":"evt_2"})");
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->str("error.code"), "invalid_value");
  EXPECT_EQ(e->str("error.param"), "type");
  EXPECT_EQ(e->str("error.event_id"), "evt_2");
  EXPECT_EQ(e->str("error.message").rfind("Invalid value: 'scooby.dooby.doo'.", 0), 0u) << e->raw;
  // Not JSON at all / not an object
  c.send("{not json");
  auto nj = c.next();
  ASSERT_TRUE(nj);
  EXPECT_EQ(nj->str("error.code"), "invalid_event");
  EXPECT_TRUE(JSON_NODE_HOLDS_NULL(nj->at("error.event_id")));
  expect_error(c, "[1,2]", "invalid_event", nullptr, nullptr);
  // GA has no transcription_session.update (§7.1)
  expect_error(c, R"({"type":"transcription_session.update","event_id":"evt_3","session":{}})", "invalid_value", "type", "evt_3");
  // Unknown top-level member
  expect_error(c, R"({"type":"input_audio_buffer.clear","event_id":"evt_4","foo":1})", "unknown_parameter", "foo", "evt_4");
  // append: strict base64 of whole samples (§3.3)
  expect_error(c, R"({"type":"input_audio_buffer.append","event_id":"evt_5","audio":"AAA"})", "invalid_value", "audio", "evt_5");
  expect_error(c, R"({"type":"input_audio_buffer.append","event_id":"evt_6","audio":"AA=A"})", "invalid_value", "audio", "evt_6");
  expect_error(c, R"({"type":"input_audio_buffer.append","event_id":"evt_8","audio":"QUJD"})", "invalid_value", "audio", "evt_8");  // 3 bytes: odd
  expect_error(c, R"({"type":"input_audio_buffer.append","event_id":"evt_9"})", "missing_required_parameter", "audio", "evt_9");
  expect_error(c, R"({"type":"input_audio_buffer.append","event_id":"evt_10","audio":7})", "invalid_value", "audio", "evt_10");
  // event_id longer than 512 (§1.5)
  expect_error(c, "{\"type\":\"input_audio_buffer.clear\",\"event_id\":\"" + std::string(513, 'x') + "\"}", "invalid_value",
               "event_id", nullptr);
  // response.create overrides are validated too
  expect_error(c, R"({"type":"response.create","event_id":"evt_11","response":{"modalities":["text"]}})", "unknown_parameter",
               "response.modalities", "evt_11");
  expect_error(c, R"({"type":"response.create","event_id":"evt_12","response":{"conversation":"default"}})", "invalid_value",
               "response.conversation", "evt_12");
  expect_error(c, R"({"type":"response.create","event_id":"evt_13","response":{"output_modalities":["text","audio"]}})",
               "invalid_value", "response.output_modalities", "evt_13");
  expect_error(c, R"({"type":"response.create","event_id":"evt_14","response":{"metadata":{"k":1}}})", "invalid_value",
               "response.metadata.k", "evt_14");
  expect_error(c, R"({"type":"response.create","event_id":"evt_15","response":{"input":[{"type":"item_reference","id":"item_none"}]}})",
               "invalid_value", "response.input[0].id", "evt_15");
  expect_error(c, R"({"type":"response.create","event_id":"evt_16","response":{"audio":{"output":{"voice":"nova"}}}})",
               "invalid_value", "response.audio.output.voice", "evt_16");
  // item.create
  expect_error(c, R"({"type":"conversation.item.create","event_id":"evt_17","item":{"type":"message","role":"robot","content":[]}})",
               "invalid_value", "item.role", "evt_17");
  expect_error(c, R"({"type":"conversation.item.create","event_id":"evt_18","item":{"type":"message","role":"user","content":[{"type":"text","text":"x"}]}})",
               "invalid_value", "item.content[0].type", "evt_18");
  expect_error(c, R"({"type":"conversation.item.create","event_id":"evt_19","item":{"type":"function_call_output","output":"x"}})",
               "missing_required_parameter", "item.call_id", "evt_19");
  expect_error(c, R"({"type":"conversation.item.truncate","event_id":"evt_20","item_id":"x","content_index":0})",
               "missing_required_parameter", "audio_end_ms", "evt_20");
  expect_error(c, R"({"type":"output_audio_buffer.clear","event_id":"evt_21"})", "invalid_value", "type", "evt_21");
  // The session is still alive and answers.
  update_session(c, R"({"type":"realtime"})");
}

TEST(Validation, PreviewResponseCreateAndItems) {
  Emulator emu;
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(open_session(c, emu, true));
  expect_error(c, R"({"type":"response.create","event_id":"e1","response":{"output_modalities":["text"]}})", "unknown_parameter",
               "response.output_modalities", "e1");
  expect_error(c, R"({"type":"response.create","event_id":"e2","response":{"temperature":2}})", "invalid_value",
               "response.temperature", "e2");
  expect_error(c, R"({"type":"response.create","event_id":"e3","response":{"voice":"marin2"}})", "invalid_value",
               "response.voice", "e3");
  expect_error(c, R"({"type":"response.create","event_id":"e4","response":{"commit":true}})", "unknown_parameter",
               "response.commit", "e4");  // Azure-only legacy field
  expect_error(c, R"({"type":"conversation.item.create","event_id":"e5","item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"x"}]}})",
               "invalid_value", "item.content[0].type", "e5");
  expect_error(c, R"({"type":"conversation.item.create","event_id":"e6","item":{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AA=="}]}})",
               "invalid_value", "item.content[0].type", "e6");
}

// Azure preview accepts turn_detection {type:"none"}, the hyphenated G.711 names and the legacy
// response.create fields (§1.5, §2.6, §11).
TEST(Validation, AzurePreviewQuirks) {
  Emulator emu({"--pace=burst"});
  ASSERT_TRUE(emu.ok()) << emu.error;
  Client c;
  ASSERT_TRUE(c.connect(emu.url("/openai/realtime?api-version=2024-10-01-preview&deployment=gpt-4o-realtime-preview"),
                        {{"api-key", "k"}}));
  c.until("conversation.created");
  auto u = update_session(c, R"({"turn_detection":{"type":"none"},"input_audio_format":"g711-ulaw","input_audio_transcription":{"model":"my-whisper-deployment"}})");
  EXPECT_TRUE(JSON_NODE_HOLDS_NULL(u.at("session.turn_detection")));
  EXPECT_EQ(u.str("session.input_audio_format"), "g711_ulaw");
  c.send(R"({"type":"response.create","response":{"commit":true,"cancel_previous":true}})");
  auto evs = c.until("rate_limits.updated");
  EXPECT_EQ(evs[0].type, "response.created");
}
