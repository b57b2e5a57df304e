// realtime-emulator: scenario loading and reply templating.
#include "scenario.h"

#include <glib.h>

#include "json_util.h"

namespace emu {

bool Scenario::load(const std::string &path, std::string *err) {
  gchar *data = nullptr;
  gsize len = 0;
  GError *e = nullptr;
  if (!g_file_get_contents(path.c_str(), &data, &len, &e)) {
    if (err) *err = e->message;
    g_clear_error(&e);
    return false;
  }
  std::string perr;
  JsonNode *root = parse_json(data, gssize(len), &perr);
  g_free(data);
  if (!root || !is_object(root)) {
    if (err) *err = "scenario is not a JSON object: " + perr;
    if (root) json_node_unref(root);
    return false;
  }
  JsonObject *o = json_node_get_object(root);
  name = string_of(member(o, "name"));
  greeting = string_of(member(o, "greeting"));
  JsonNode *t = member(o, "turns");
  bool ok = true;
  if (!is_array(t)) {
    if (err) *err = "scenario has no \"turns\" array";
    ok = false;
  } else {
    JsonArray *a = json_node_get_array(t);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonNode *tn = json_array_get_element(a, i);
      if (!is_object(tn)) {
        if (err) *err = "turn " + std::to_string(i) + " is not an object";
        ok = false;
        break;
      }
      JsonObject *to = json_node_get_object(tn);
      ScenarioTurn turn;
      turn.user = string_of(member(to, "user"));
      turn.preamble = string_of(member(to, "preamble"));
      turn.reply = string_of(member(to, "reply"));
      JsonNode *fc = member(to, "function_call");
      if (is_object(fc)) {
        JsonObject *fo = json_node_get_object(fc);
        turn.call_name = string_of(member(fo, "name"));
        JsonNode *args = member(fo, "arguments");
        if (is_string(args))
          turn.call_arguments = string_of(args);
        else if (args)
          turn.call_arguments = node_to_string(args);
        else
          turn.call_arguments = "{}";
      }
      turns.push_back(std::move(turn));
    }
  }
  json_node_unref(root);
  return ok;
}

std::string normalise_text(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    if (g_ascii_isalnum(c))
      out.push_back(char(g_ascii_tolower(c)));
    else if (c >= 0x80)
      out.push_back(char(c));
  }
  return out;
}

int Scenario::find_by_text(const std::string &text) const {
  const std::string n = normalise_text(text);
  if (n.empty()) return -1;
  for (size_t i = 0; i < turns.size(); i++)
    if (normalise_text(turns[i].user) == n) return int(i);
  return -1;
}

std::string fill_reply(const std::string &tmpl, const std::string &output) {
  JsonNode *parsed = parse_json(output.c_str(), gssize(output.size()), nullptr);
  JsonObject *po = is_object(parsed) ? json_node_get_object(parsed) : nullptr;
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    const size_t open = tmpl.find("{{", i);
    if (open == std::string::npos) {
      out += tmpl.substr(i);
      break;
    }
    const size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) {
      out += tmpl.substr(i);
      break;
    }
    out += tmpl.substr(i, open - i);
    std::string expr = tmpl.substr(open + 2, close - open - 2);
    std::string def;
    const size_t bar = expr.find('|');
    if (bar != std::string::npos) {
      def = expr.substr(bar + 1);
      expr = expr.substr(0, bar);
    }
    if (expr == "output") {
      out += output.empty() ? def : output;
    } else if (expr.rfind("output.", 0) == 0) {
      JsonNode *v = member(po, expr.substr(7).c_str());
      if (is_string(v))
        out += string_of(v);
      else if (v && !is_null(v))
        out += node_to_string(v);
      else
        out += def;
    } else {
      out += tmpl.substr(open, close + 2 - open);
    }
    i = close + 2;
  }
  if (parsed) json_node_unref(parsed);
  return out;
}

}  // namespace emu
