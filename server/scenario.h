// realtime-emulator: scripted conversations (--scenario FILE).
//
// File format (JSON):
//   {
//     "name": "weather",                              (optional)
//     "greeting": "Hi! Ask me about the weather.",    (optional: reply when no user turn yet)
//     "tools": [ ... ],                               (optional, documentation for clients)
//     "turns": [
//       { "user": "What's the weather like in Seattle today?",   // transcript of the user turn
//         "preamble": "Let me check.",                            // optional spoken text before the call
//         "function_call": { "name": "get_weather_for_location",
//                            "arguments": {"location":"Seattle, WA","unit":"f"} },
//         "reply": "It's {{output.temperature|about 60}} degrees in Seattle." },
//       { "user": "And should I take an umbrella?", "reply": "Yes, take one." }
//     ]
//   }
// Each user item (committed audio or text) consumes the next turn (a text item whose text
// matches a turn's "user" text, ignoring case and punctuation, selects that turn instead).
// A turn with "function_call" first answers with the call (only if the session/response offers a
// tool of that name and tool_choice is not "none"); the reply comes after the client sent the
// function_call_output and a response.create (§10.6). In "reply", {{output}} is the raw output
// string and {{output.KEY}} / {{output.KEY|default}} a top-level field of the output JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace emu {

struct ScenarioTurn {
  std::string user;
  std::string preamble;
  std::string reply;
  std::optional<std::string> call_name;
  std::string call_arguments;  // JSON text
};

struct Scenario {
  std::string name;
  std::string greeting;
  std::vector<ScenarioTurn> turns;

  bool load(const std::string &path, std::string *err);
  // Index of a turn whose user text matches `text` (normalised), or -1.
  int find_by_text(const std::string &text) const;
};

std::string normalise_text(const std::string &s);
// Replaces {{output}} / {{output.KEY}} / {{output.KEY|default}} placeholders.
std::string fill_reply(const std::string &tmpl, const std::string &output);

}  // namespace emu
