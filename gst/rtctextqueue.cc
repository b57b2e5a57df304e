// rtcgst text limits (see rtctextqueue.h).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rtctextqueue.h"

namespace rtcgst {

size_t utf8_prefix_len(const char *s, size_t len, size_t max) {
  if (len <= max) return len;
  size_t n = max;
  // back off continuation bytes (10xxxxxx) so that the cut is before a sequence's lead byte
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;
  return n;
}

bool cap_text(std::string *text, size_t max) {
  if (text->size() <= max) return false;
  text->resize(utf8_prefix_len(text->data(), text->size(), max));
  return true;
}

}  // namespace rtcgst
