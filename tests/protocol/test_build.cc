// Client events (§3): every builder in both dialects against hand-written golden JSON.
#include "test_util.h"

using namespace rtc;
using rtc_test::golden;
using rtc_test::JsonEqual;

namespace {

const char kTools[] =
    R"([{"type":"function","name":"get_weather","description":"Get the weather for a location.",)"
    R"("parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}])";

SessionConfig full_config() {
  SessionConfig c;
  c.instructions = "Speak clearly and briefly.";
  c.voice = "marin";
  c.output_modality = Modality::Audio;
  c.input_transcription = InputTranscription{"gpt-4o-transcribe", "en", "", "", {}, {}};
  c.noise_reduction = NoiseReduction::NearField;
  c.turn_detection.type = TurnDetection::Type::ServerVad;
  c.turn_detection.threshold = 0.4;
  c.turn_detection.prefix_padding_ms = 300;
  c.turn_detection.silence_duration_ms = 600;
  c.turn_detection.idle_timeout_ms = 6000;  // GA only
  c.tools_json = kTools;
  c.tool_choice_json = "\"auto\"";
  c.temperature = 0.8;  // preview only
  c.max_output_tokens = 1024;
  c.speed = 1.1;
  return c;
}

SessionConfig minimal_config() {
  SessionConfig c;
  c.output_modality = Modality::Text;
  c.input_format = AudioFormat::G711_ULAW;
  c.output_format = AudioFormat::G711_ALAW;
  c.turn_detection.type = TurnDetection::Type::None;
  return c;
}

SessionConfig semantic_config(Dialect d) {
  SessionConfig c;
  c.voice = "alloy";
  c.input_transcription = InputTranscription{"whisper-1", "", "", "", {}, {}};
  c.turn_detection.type = TurnDetection::Type::SemanticVad;
  c.turn_detection.eagerness = "high";
  c.turn_detection.create_response = false;
  c.turn_detection.idle_timeout_ms = 5000;  // server_vad only: not sent
  // extra_json is deep-merged last: it can replace a nested value and add new members.
  c.extra_json = d == Dialect::GA ? R"({"truncation":"auto","audio":{"input":{"noise_reduction":{"type":"far_field"}}}})"
                                  : R"({"input_audio_noise_reduction":{"type":"far_field"},"tracing":"auto"})";
  return c;
}

SessionConfig transcription_config() {
  SessionConfig c;
  c.input_transcription = InputTranscription{"gpt-4o-transcribe", "", "", "", {}, {}};
  c.noise_reduction = NoiseReduction::NearField;
  c.turn_detection.silence_duration_ms = 500;
  c.extra_json = R"({"include":["item.input_audio_transcription.logprobs"]})";
  return c;
}

ResponseParams full_response() {
  ResponseParams p;
  p.instructions = "Please assist the user.";
  p.output_modality = Modality::Audio;
  p.voice = "marin";
  p.output_format = AudioFormat::G711_ULAW;
  p.tools_json = kTools;
  p.tool_choice_json = R"({"type":"function","name":"get_weather"})";
  p.temperature = 0.9;  // preview only
  p.max_output_tokens = 512;
  return p;
}

ResponseParams oob_response() {  // §10.7
  ResponseParams p;
  p.conversation_none = true;
  p.output_modality = Modality::Text;
  p.instructions = "Classify the last message.";
  p.metadata_json = R"({"topic":"classification"})";
  p.input_json = R"([{"type":"item_reference","id":"item_123"},)"
                 R"({"type":"message","role":"user","content":[{"type":"input_text","text":"Is this spam?"}]}])";
  return p;
}

}  // namespace

// --- session.update (§3.1) --------------------------------------------------------------------
TEST(BuildSessionUpdate, FullGA) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::GA, full_config(), "evt_1"),
                        golden("client/session_update_full_ga.json")));
}
TEST(BuildSessionUpdate, FullPreview) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::Preview, full_config(), "evt_1"),
                        golden("client/session_update_full_preview.json")));
}
TEST(BuildSessionUpdate, MinimalG711TextNoVadGA) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::GA, minimal_config()), golden("client/session_update_minimal_ga.json")));
}
TEST(BuildSessionUpdate, MinimalG711TextNoVadPreview) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::Preview, minimal_config()),
                        golden("client/session_update_minimal_preview.json")));
}
TEST(BuildSessionUpdate, SemanticVadExtraJsonGA) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::GA, semantic_config(Dialect::GA), "evt_2"),
                        golden("client/session_update_semantic_ga.json")));
}
TEST(BuildSessionUpdate, SemanticVadExtraJsonPreview) {
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::Preview, semantic_config(Dialect::Preview), "evt_2"),
                        golden("client/session_update_semantic_preview.json")));
}
TEST(BuildSessionUpdate, InvalidJsonInputsAreLeftOut) {
  SessionConfig c = minimal_config();
  c.tools_json = "[{\"type\":\"function\",";  // truncated
  c.tool_choice_json = "auto";                 // not JSON (must be "\"auto\"")
  c.extra_json = "[1,2]";                      // not an object
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::GA, c), golden("client/session_update_minimal_ga.json")));
  c.tools_json = "{\"not\":\"an array\"}";
  c.extra_json = "{\"a\":1,}";
  EXPECT_TRUE(JsonEqual(build_session_update(Dialect::Preview, c), golden("client/session_update_minimal_preview.json")));
}
TEST(BuildSessionUpdate, ValidateJsonObject) {
  std::string err;
  EXPECT_TRUE(validate_json_object(" {\"a\":{\"b\":[1,2.5,null,true]}} ", &err));
  EXPECT_FALSE(validate_json_object("[1]", &err));
  EXPECT_EQ(err, "the JSON value is not an object");
  EXPECT_FALSE(validate_json_object("{\"a\":1,}", &err));
  EXPECT_NE(err.find("offset 7"), std::string::npos) << err;
  EXPECT_FALSE(validate_json_object("", &err));
}
TEST(BuildSessionUpdate, ExtraJsonNullClearsAndNestedMerge) {
  SessionConfig c = full_config();
  c.extra_json = R"({"instructions":null,"audio":{"output":{"voice":"cedar"}}})";
  const ParsedServerEvent p = parse_server_event(
      "{\"type\":\"session.updated\",\"session\":" +
      build_session_update(Dialect::GA, c).substr(std::string("{\"type\":\"session.update\",\"session\":").size()));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.event.session.voice, "cedar");
  EXPECT_EQ(p.event.session.output_format, AudioFormat::PCM16);  // siblings kept by the deep merge
  EXPECT_NE(p.event.session.raw_json.find("\"instructions\":null"), std::string::npos);
}
TEST(BuildSessionUpdate, EscapesEveryString) {
  SessionConfig c = minimal_config();
  c.instructions = std::string("quote\" backslash\\ nl\n tab\t ctl\x01 nul") + '\0' + " utf8 \xc3\xa9 bad \xff end";
  const std::string json = build_session_update(Dialect::Preview, c, "id\"1");
  ASSERT_TRUE(validate_json(json.data(), json.size(), nullptr)) << json;
  JsonParser *parser = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(parser, json.data(), static_cast<gssize>(json.size()), nullptr));
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  EXPECT_STREQ(json_object_get_string_member(root, "event_id"), "id\"1");
  JsonObject *s = json_object_get_object_member(root, "session");
  // NUL and invalid UTF-8 become U+FFFD; everything else round-trips exactly.
  EXPECT_STREQ(json_object_get_string_member(s, "instructions"),
               "quote\" backslash\\ nl\n tab\t ctl\x01 nul\xef\xbf\xbd utf8 \xc3\xa9 bad \xef\xbf\xbd end");
  g_object_unref(parser);
  EXPECT_NE(json.find("ctl\\u0001 nul\xef\xbf\xbd utf8"), std::string::npos) << json;
}
TEST(BuildSessionUpdate, NonFiniteNumbersBecomeNull) {
  SessionConfig c = minimal_config();
  c.speed = std::nan("");
  const std::string json = build_session_update(Dialect::Preview, c);
  EXPECT_TRUE(validate_json(json.data(), json.size(), nullptr));
  EXPECT_NE(json.find("\"speed\":null"), std::string::npos);
}

// --- transcription sessions (§3.2, §2.2b) ----------------------------------------------------
// Doubles beyond the int64 range (issue 12): the shortest form of a large integral double can be
// plain digits, which JSON readers take for an integer that overflows int64. They are written in
// exponent form, valid under validate_json(), and read back as the same double.
TEST(BuildSessionUpdate, HugeDoublesStayDoubles) {
  for (double d : {1.2345678901234567e19, -1.2345678901234567e19, 9223372036854775808.0, 1e300, -1e300,
                   1.7976931348623157e308, 9007199254740992.0, 4e18, 5e-324}) {
    SessionConfig c;
    c.temperature = d;  // preview only
    const std::string json = build_session_update(Dialect::Preview, c);
    std::string err;
    EXPECT_TRUE(validate_json(json.data(), json.size(), &err)) << d << ": " << err << "\n" << json;
    JsonNode *root = json_from_string(json.c_str(), nullptr);
    ASSERT_NE(root, nullptr) << json;
    JsonNode *t = json_object_get_member(json_object_get_object_member(json_node_get_object(root), "session"), "temperature");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(json_node_get_value_type(t), G_TYPE_DOUBLE) << json;
    EXPECT_EQ(json_node_get_double(t), d) << json;
    json_node_unref(root);
  }
  // small integral values keep their short form
  SessionConfig c;
  c.temperature = 1.0;
  EXPECT_NE(build_session_update(Dialect::Preview, c).find("\"temperature\":1,"), std::string::npos);
}

TEST(BuildTranscriptionSessionUpdate, GA) {
  EXPECT_TRUE(JsonEqual(build_transcription_session_update(Dialect::GA, transcription_config()),
                        golden("client/transcription_session_update_ga.json")));
}
TEST(BuildTranscriptionSessionUpdate, Preview) {
  EXPECT_TRUE(JsonEqual(build_transcription_session_update(Dialect::Preview, transcription_config()),
                        golden("client/transcription_session_update_preview.json")));
}

// --- input audio buffer (§3.3-§3.5) ----------------------------------------------------------
TEST(BuildInputAudio, Append) {
  const uint8_t pcm[] = {0x00, 0x01, 0x02, 0xff, 0xfe};
  EXPECT_TRUE(JsonEqual(build_input_audio_append(pcm, sizeof pcm, "evt_7"), golden("client/input_audio_append.json")));
  EXPECT_TRUE(JsonEqual(build_input_audio_append(nullptr, 0), golden("client/input_audio_append_empty.json")));
}
TEST(BuildInputAudio, AppendReusesTheOutputString) {
  std::vector<uint8_t> pcm(4800);
  for (size_t i = 0; i < pcm.size(); i++) pcm[i] = static_cast<uint8_t>(i * 7);
  std::string out = "garbage that must be cleared";
  build_input_audio_append(out, pcm.data(), pcm.size(), "evt_\"x");
  ASSERT_TRUE(validate_json(out.data(), out.size(), nullptr)) << out.substr(0, 80);
  JsonParser *parser = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(parser, out.data(), static_cast<gssize>(out.size()), nullptr));
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  EXPECT_STREQ(json_object_get_string_member(root, "event_id"), "evt_\"x");
  gsize n = 0;
  guchar *dec = g_base64_decode(json_object_get_string_member(root, "audio"), &n);
  ASSERT_EQ(n, pcm.size());
  EXPECT_EQ(0, memcmp(dec, pcm.data(), n));
  g_free(dec);
  g_object_unref(parser);
}
TEST(BuildInputAudio, Commit) {
  EXPECT_TRUE(JsonEqual(build_input_audio_commit("evt_8"), golden("client/input_audio_commit.json")));
}
TEST(BuildInputAudio, Clear) { EXPECT_TRUE(JsonEqual(build_input_audio_clear(), golden("client/input_audio_clear.json"))); }

// --- conversation items (§3.6-§3.9) ----------------------------------------------------------
TEST(BuildItemCreate, UserTextBothDialects) {
  ItemCreate it;
  it.text = "Hello";
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_item_create(d, it), golden("client/item_create_user_text.json"))) << dialect_name(d);
}
TEST(BuildItemCreate, SystemTextAtRootBothDialects) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::SystemText;
  it.text = "Be brief.";
  it.previous_item_id = "root";
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_item_create(d, it, "evt_3"), golden("client/item_create_system_text.json")));
}
TEST(BuildItemCreate, AssistantTextGA) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::AssistantText;
  it.id = "msg_1";
  it.text = "Hi there.";
  it.previous_item_id = "item_U";
  EXPECT_TRUE(JsonEqual(build_item_create(Dialect::GA, it), golden("client/item_create_assistant_text_ga.json")));
}
TEST(BuildItemCreate, AssistantTextPreview) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::AssistantText;
  it.id = "msg_1";
  it.text = "Hi there.";
  it.previous_item_id = "item_U";
  EXPECT_TRUE(JsonEqual(build_item_create(Dialect::Preview, it), golden("client/item_create_assistant_text_preview.json")));
}
TEST(BuildItemCreate, UserAudioBothDialects) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::UserAudio;
  it.audio = {0, 1, 2};
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_item_create(d, it), golden("client/item_create_user_audio.json")));
}
TEST(BuildItemCreate, FunctionCallBothDialects) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::FunctionCall;
  it.call_id = "call_1";
  it.name = "generate_horoscope";
  it.arguments = "{\"sign\":\"Aquarius\"}";
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_item_create(d, it), golden("client/item_create_function_call.json")));
}
TEST(BuildItemCreate, FunctionCallOutputBothDialects) {
  ItemCreate it;
  it.kind = ItemCreate::Kind::FunctionCallOutput;
  it.call_id = "call_sHlR7iaFwQ2YQOqm";
  it.output = "{\"horoscope\":\"You will soon meet a new friend.\"}";
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_item_create(d, it), golden("client/item_create_function_call_output.json")));
}
TEST(BuildItem, Retrieve) {
  EXPECT_TRUE(JsonEqual(build_item_retrieve("item_123", "evt_3"), golden("client/item_retrieve.json")));
}
TEST(BuildItem, Truncate) {
  EXPECT_TRUE(JsonEqual(build_item_truncate("item_A", 0, 1500, "evt_4"), golden("client/item_truncate.json")));
}
TEST(BuildItem, Delete) { EXPECT_TRUE(JsonEqual(build_item_delete("item_123"), golden("client/item_delete.json"))); }

// --- responses (§3.10-§3.12) -----------------------------------------------------------------
TEST(BuildResponseCreate, BareBothDialects) {
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_response_create(d, nullptr), golden("client/response_create_bare.json")));
}
TEST(BuildResponseCreate, EmptyParamsBothDialects) {
  ResponseParams p;
  for (Dialect d : {Dialect::GA, Dialect::Preview})
    EXPECT_TRUE(JsonEqual(build_response_create(d, &p, "evt_6"), golden("client/response_create_empty.json")));
}
TEST(BuildResponseCreate, FullGA) {
  const ResponseParams p = full_response();
  EXPECT_TRUE(JsonEqual(build_response_create(Dialect::GA, &p, "evt_5"), golden("client/response_create_full_ga.json")));
}
TEST(BuildResponseCreate, FullPreview) {
  const ResponseParams p = full_response();
  EXPECT_TRUE(
      JsonEqual(build_response_create(Dialect::Preview, &p, "evt_5"), golden("client/response_create_full_preview.json")));
}
TEST(BuildResponseCreate, OutOfBandGA) {
  const ResponseParams p = oob_response();
  EXPECT_TRUE(JsonEqual(build_response_create(Dialect::GA, &p), golden("client/response_create_oob_ga.json")));
}
TEST(BuildResponseCreate, OutOfBandPreview) {
  const ResponseParams p = oob_response();
  EXPECT_TRUE(JsonEqual(build_response_create(Dialect::Preview, &p), golden("client/response_create_oob_preview.json")));
}
TEST(BuildResponseCreate, InvalidJsonInputsAreLeftOut) {
  ResponseParams p;
  p.metadata_json = "[\"not an object\"]";
  p.input_json = "{\"not\":\"an array\"}";
  p.tools_json = "nope";
  p.tool_choice_json = "{";
  EXPECT_TRUE(JsonEqual(build_response_create(Dialect::GA, &p, "evt_6"), golden("client/response_create_empty.json")));
}
TEST(BuildResponseCancel, WithoutId) { EXPECT_TRUE(JsonEqual(build_response_cancel(), golden("client/response_cancel.json"))); }
TEST(BuildResponseCancel, WithId) {
  EXPECT_TRUE(JsonEqual(build_response_cancel("resp_1", "evt_9"), golden("client/response_cancel_id.json")));
}
TEST(BuildOutputAudioBuffer, Clear) {
  EXPECT_TRUE(JsonEqual(build_output_audio_buffer_clear("evt_10"), golden("client/output_audio_buffer_clear.json")));
}

// --- helpers ---------------------------------------------------------------------------------
TEST(BuildHelpers, EventIdCounter) {
  EventIdCounter ids;
  EXPECT_EQ(ids.next(), "evt_1");
  EXPECT_EQ(ids.next(), "evt_2");
  EXPECT_EQ(ids.count(), 2u);
  ids.reset();
  EXPECT_EQ(ids.next(), "evt_1");
  EventIdCounter other("c7_");
  EXPECT_EQ(other.next(), "c7_1");
}
TEST(BuildHelpers, EventIdOnEveryEvent) {
  SessionConfig c;
  ItemCreate it;
  ResponseParams rp;
  const std::vector<std::string> events = {
      build_session_update(Dialect::GA, c, "X"),   build_session_update(Dialect::Preview, c, "X"),
      build_transcription_session_update(Dialect::GA, c, "X"), build_transcription_session_update(Dialect::Preview, c, "X"),
      build_input_audio_append(nullptr, 0, "X"),   build_input_audio_commit("X"),
      build_input_audio_clear("X"),                build_item_create(Dialect::GA, it, "X"),
      build_item_retrieve("i", "X"),               build_item_truncate("i", 0, 1, "X"),
      build_item_delete("i", "X"),                 build_response_create(Dialect::GA, &rp, "X"),
      build_response_create(Dialect::Preview, nullptr, "X"), build_response_cancel("", "X"),
      build_output_audio_buffer_clear("X")};
  for (const std::string &e : events) {
    EXPECT_TRUE(validate_json(e.data(), e.size(), nullptr)) << e;
    EXPECT_NE(e.find("\"event_id\":\"X\""), std::string::npos) << e;
  }
}
TEST(BuildHelpers, AudioFormats) {
  EXPECT_EQ(audio_format_rate(AudioFormat::PCM16), 24000);
  EXPECT_EQ(audio_format_rate(AudioFormat::G711_ULAW), 8000);
  EXPECT_EQ(audio_format_bytes_per_sample(AudioFormat::PCM16), 2);
  EXPECT_EQ(audio_format_bytes_per_sample(AudioFormat::G711_ALAW), 1);
  EXPECT_STREQ(audio_format_preview_name(AudioFormat::G711_ALAW), "g711_alaw");
  EXPECT_STREQ(audio_format_ga_type(AudioFormat::G711_ULAW), "audio/pcmu");
  EXPECT_EQ(audio_format_from_string("pcm16"), AudioFormat::PCM16);
  EXPECT_EQ(audio_format_from_string("audio/pcm"), AudioFormat::PCM16);
  EXPECT_EQ(audio_format_from_string("g711-ulaw"), AudioFormat::G711_ULAW);
  EXPECT_EQ(audio_format_from_string("audio/pcmu"), AudioFormat::G711_ULAW);
  EXPECT_EQ(audio_format_from_string("G711_ALAW"), AudioFormat::G711_ALAW);
  EXPECT_EQ(audio_format_from_string("audio/pcma"), AudioFormat::G711_ALAW);
  EXPECT_EQ(audio_format_from_string("mp3"), std::nullopt);
  EXPECT_STREQ(dialect_name(Dialect::GA), "ga");
  EXPECT_STREQ(dialect_name(Dialect::Preview), "preview");
}
