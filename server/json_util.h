// realtime-emulator: small RAII helpers over json-glib to build and read wire JSON.
//
// The emulator builds every server event with json-glib itself (not with the shared
// gst/realtime builders) so that a bug in the shared protocol code cannot hide itself.
// Member order is insertion order (json-glib keeps it), so "type" and "event_id" come first.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace emu {

class Arr;

// Owned JsonObject under construction.
class Obj {
 public:
  Obj() : o_(json_object_new()) {}
  explicit Obj(JsonObject *adopt) : o_(adopt) {}
  ~Obj() {
    if (o_) json_object_unref(o_);
  }
  Obj(Obj &&x) noexcept : o_(std::exchange(x.o_, nullptr)) {}
  Obj &operator=(Obj &&x) noexcept {
    if (this != &x) {
      if (o_) json_object_unref(o_);
      o_ = std::exchange(x.o_, nullptr);
    }
    return *this;
  }
  Obj(const Obj &) = delete;
  Obj &operator=(const Obj &) = delete;

  Obj &str(const char *k, const std::string &v) {
    json_object_set_string_member(o_, k, v.c_str());
    return *this;
  }
  Obj &str_or_null(const char *k, const std::optional<std::string> &v) {
    if (v)
      json_object_set_string_member(o_, k, v->c_str());
    else
      json_object_set_null_member(o_, k);
    return *this;
  }
  Obj &num(const char *k, int64_t v) {
    json_object_set_int_member(o_, k, v);
    return *this;
  }
  Obj &dbl(const char *k, double v) {
    json_object_set_double_member(o_, k, v);
    return *this;
  }
  Obj &boolean(const char *k, bool v) {
    json_object_set_boolean_member(o_, k, v);
    return *this;
  }
  Obj &null(const char *k) {
    json_object_set_null_member(o_, k);
    return *this;
  }
  Obj &obj(const char *k, Obj &&v) {
    json_object_set_object_member(o_, k, v.release());
    return *this;
  }
  Obj &arr(const char *k, Arr &&v);
  // Takes ownership of n (may be nullptr -> null).
  Obj &node(const char *k, JsonNode *n) {
    if (!n) n = json_node_new(JSON_NODE_NULL);
    json_object_set_member(o_, k, n);
    return *this;
  }
  // Copies n (nullptr -> null).
  Obj &copy(const char *k, const JsonNode *n) {
    return node(k, n ? json_node_copy(const_cast<JsonNode *>(n)) : nullptr);
  }

  JsonObject *get() const { return o_; }
  JsonObject *release() { return std::exchange(o_, nullptr); }
  JsonNode *release_node() {
    JsonNode *n = json_node_alloc();
    json_node_init_object(n, o_);
    json_object_unref(std::exchange(o_, nullptr));
    return n;
  }
  std::string to_string() const {
    JsonNode *n = json_node_alloc();
    json_node_init_object(n, o_);
    gchar *s = json_to_string(n, FALSE);
    std::string out(s);
    g_free(s);
    json_node_unref(n);
    return out;
  }

 private:
  JsonObject *o_;
};

class Arr {
 public:
  Arr() : a_(json_array_new()) {}
  ~Arr() {
    if (a_) json_array_unref(a_);
  }
  Arr(Arr &&x) noexcept : a_(std::exchange(x.a_, nullptr)) {}
  Arr(const Arr &) = delete;
  Arr &operator=(const Arr &) = delete;
  Arr &operator=(Arr &&) = delete;

  Arr &str(const std::string &v) {
    json_array_add_string_element(a_, v.c_str());
    return *this;
  }
  Arr &num(int64_t v) {
    json_array_add_int_element(a_, v);
    return *this;
  }
  Arr &obj(Obj &&v) {
    json_array_add_object_element(a_, v.release());
    return *this;
  }
  Arr &node(JsonNode *n) {
    json_array_add_element(a_, n ? n : json_node_new(JSON_NODE_NULL));
    return *this;
  }
  JsonArray *release() { return std::exchange(a_, nullptr); }
  JsonArray *get() const { return a_; }

 private:
  JsonArray *a_;
};

inline Obj &Obj::arr(const char *k, Arr &&v) {
  json_object_set_array_member(o_, k, v.release());
  return *this;
}

// Serialises any node compactly (one line).
inline std::string node_to_string(const JsonNode *n) {
  gchar *s = json_to_string(const_cast<JsonNode *>(n), FALSE);
  std::string out(s ? s : "null");
  g_free(s);
  return out;
}

// Parses JSON text; returns nullptr (and sets *err) on failure. Caller unrefs.
inline JsonNode *parse_json(const char *data, gssize len, std::string *err) {
  JsonParser *p = json_parser_new_immutable();
  GError *e = nullptr;
  JsonNode *root = nullptr;
  if (json_parser_load_from_data(p, data, len, &e)) {
    JsonNode *r = json_parser_get_root(p);
    if (r) root = json_node_copy(r);
    if (!root && err) *err = "empty document";
  } else {
    if (err) *err = e ? e->message : "parse error";
    g_clear_error(&e);
  }
  g_object_unref(p);
  return root;
}

// Borrowed view helpers.
inline JsonNode *member(JsonObject *o, const char *k) {
  return (o && json_object_has_member(o, k)) ? json_object_get_member(o, k) : nullptr;
}
inline bool is_null(JsonNode *n) { return !n || JSON_NODE_HOLDS_NULL(n); }
inline bool is_string(JsonNode *n) {
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}
inline bool is_bool(JsonNode *n) {
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
}
inline bool is_int(JsonNode *n) {
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64;
}
inline bool is_number(JsonNode *n) {
  return n && JSON_NODE_HOLDS_VALUE(n) &&
         (json_node_get_value_type(n) == G_TYPE_INT64 || json_node_get_value_type(n) == G_TYPE_DOUBLE);
}
inline double number_of(JsonNode *n) {
  return json_node_get_value_type(n) == G_TYPE_INT64 ? double(json_node_get_int(n)) : json_node_get_double(n);
}
inline bool is_object(JsonNode *n) { return n && JSON_NODE_HOLDS_OBJECT(n); }
inline bool is_array(JsonNode *n) { return n && JSON_NODE_HOLDS_ARRAY(n); }
inline std::string string_of(JsonNode *n) {
  const char *s = is_string(n) ? json_node_get_string(n) : nullptr;
  return s ? s : "";
}
// The JSON type name used in error messages ("a string", "an object", ...).
inline const char *json_kind(JsonNode *n) {
  if (is_null(n)) return "null";
  if (is_object(n)) return "an object";
  if (is_array(n)) return "an array";
  if (is_string(n)) return "a string";
  if (is_bool(n)) return "a boolean";
  if (is_int(n)) return "an integer";
  if (is_number(n)) return "a decimal";
  return "a value";
}

}  // namespace emu
