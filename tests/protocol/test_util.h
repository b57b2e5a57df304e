// Helpers shared by the protocol tests: golden files and structural JSON comparison.
#pragma once

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "protocol.h"

namespace rtc_test {

inline std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string golden_path(const std::string &name) { return std::string(RTC_GOLDEN_DIR) + "/" + name; }

inline std::string golden(const std::string &name) {
  const std::string text = read_file(golden_path(name));
  EXPECT_FALSE(text.empty()) << "missing golden file " << name;
  return text;
}

inline std::vector<std::string> golden_lines(const std::string &name) {
  std::vector<std::string> out;
  std::istringstream in(golden(name));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// Compares two JSON nodes structurally: same members regardless of order, numbers by value
// (1 == 1.0), arrays element by element. *where receives the path of the first difference.
inline bool nodes_equal(JsonNode *a, JsonNode *b, const std::string &path, std::string *where) {
  auto differ = [&](const std::string &why) {
    *where = path + ": " + why;
    return false;
  };
  if (JSON_NODE_TYPE(a) != JSON_NODE_TYPE(b)) return differ("different kinds");
  switch (JSON_NODE_TYPE(a)) {
    case JSON_NODE_NULL:
      return true;
    case JSON_NODE_OBJECT: {
      JsonObject *oa = json_node_get_object(a), *ob = json_node_get_object(b);
      if (json_object_get_size(oa) != json_object_get_size(ob)) {
        GList *ma = json_object_get_members(oa);
        std::string names;
        for (GList *l = ma; l; l = l->next) names += std::string(" ") + static_cast<char *>(l->data);
        g_list_free(ma);
        names += " | expected:";
        GList *mb = json_object_get_members(ob);
        for (GList *l = mb; l; l = l->next) names += std::string(" ") + static_cast<char *>(l->data);
        g_list_free(mb);
        return differ("different member counts:" + names);
      }
      GList *members = json_object_get_members(oa);
      bool ok = true;
      for (GList *l = members; l && ok; l = l->next) {
        const char *name = static_cast<const char *>(l->data);
        JsonNode *nb = json_object_get_member(ob, name);
        if (!nb) {
          ok = differ(std::string("unexpected member \"") + name + "\"");
        } else {
          ok = nodes_equal(json_object_get_member(oa, name), nb, path + "." + name, where);
        }
      }
      g_list_free(members);
      return ok;
    }
    case JSON_NODE_ARRAY: {
      JsonArray *aa = json_node_get_array(a), *ab = json_node_get_array(b);
      if (json_array_get_length(aa) != json_array_get_length(ab)) return differ("different array lengths");
      for (guint i = 0; i < json_array_get_length(aa); i++) {
        if (!nodes_equal(json_array_get_element(aa, i), json_array_get_element(ab, i),
                         path + "[" + std::to_string(i) + "]", where))
          return false;
      }
      return true;
    }
    case JSON_NODE_VALUE: {
      const GType ta = json_node_get_value_type(a), tb = json_node_get_value_type(b);
      const bool na = ta == G_TYPE_INT64 || ta == G_TYPE_DOUBLE, nb = tb == G_TYPE_INT64 || tb == G_TYPE_DOUBLE;
      if (na && nb) {
        const double da = ta == G_TYPE_INT64 ? static_cast<double>(json_node_get_int(a)) : json_node_get_double(a);
        const double db = tb == G_TYPE_INT64 ? static_cast<double>(json_node_get_int(b)) : json_node_get_double(b);
        if (da != db) return differ("numbers differ: " + std::to_string(da) + " vs " + std::to_string(db));
        return true;
      }
      if (ta != tb) return differ("different value types");
      if (ta == G_TYPE_STRING) {
        if (std::string(json_node_get_string(a)) != json_node_get_string(b))
          return differ(std::string("strings differ: \"") + json_node_get_string(a) + "\" vs \"" +
                        json_node_get_string(b) + "\"");
        return true;
      }
      if (ta == G_TYPE_BOOLEAN) {
        if (json_node_get_boolean(a) != json_node_get_boolean(b)) return differ("booleans differ");
        return true;
      }
      return differ("unsupported value type");
    }
  }
  return differ("unknown node");
}

// Both texts must be strictly valid JSON and structurally equal.
inline ::testing::AssertionResult JsonEqual(const std::string &actual, const std::string &expected) {
  std::string err;
  if (!rtc::validate_json(actual.data(), actual.size(), &err))
    return ::testing::AssertionFailure() << "actual is not strict JSON (" << err << "): " << actual;
  if (!rtc::validate_json(expected.data(), expected.size(), &err))
    return ::testing::AssertionFailure() << "expected is not strict JSON (" << err << ")";
  JsonParser *pa = json_parser_new(), *pb = json_parser_new();
  json_parser_load_from_data(pa, actual.data(), static_cast<gssize>(actual.size()), nullptr);
  json_parser_load_from_data(pb, expected.data(), static_cast<gssize>(expected.size()), nullptr);
  std::string where;
  const bool eq = nodes_equal(json_parser_get_root(pa), json_parser_get_root(pb), "$", &where);
  g_object_unref(pa);
  g_object_unref(pb);
  if (eq) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "JSON differs at " << where << "\n  actual: " << actual
                                       << "\n  expected: " << expected;
}

}  // namespace rtc_test
