// Session engine: the conversation mirror (items in server order, their text and input spans) and
// its replay into a new server session after a reconnect or renewal. docs/engine.md.
#include "session_impl.h"

namespace rtc {

using namespace engine;

void Session::Impl::reset_conversation() {
  create_in_flight_ = false;
  active_resp_.clear();
  deferred_.clear();
  fcalls_.clear();
  unanswered_calls_.clear();
  want_response_after_.clear();
  oob_outstanding_ = 0;
  oob_resps_.clear();
  order_.clear();
  items_.clear();
  pending_commits_.clear();
  reconnect_pending_ = false;
  replayed_ = 0;
  replay_.clear();
  replay_echoes_left_ = 0;
  replay_ids_.clear();
  ttfa_mark_us_ = -1;
  resp_ttfa_.clear();
}

int Session::Impl::replay_into(Conn *c) {
  if (!detail::kind_replays_conversation(ecfg_.endpoint.kind)) return 0;  // transcription hook
  // Issue "Reconnection": replay the conversation as text items (user transcripts as user
  // input_text, assistant transcripts as assistant text; the builder picks preview "text" or GA
  // "output_text", §7.2), in order, at most replay_max_items (the most recent ones).
  std::vector<std::pair<bool, std::string>> rep;  // (assistant?, text)
  // A previous replay the server has not fully echoed yet (its connection died before): our
  // items_ only hold part of it, resend it whole. The echoes we did get are part of it.
  if (replay_echoes_left_ > 0) rep = replay_;
  for (auto &id : order_) {
    auto it = items_.find(id);
    if (it == items_.end()) continue;
    const Item &x = it->second;
    if (replay_echoes_left_ > 0 && x.replayed) continue;
    if (x.type != "message" || !x.has_text || x.truncated || x.text.empty()) continue;
    if (x.role == "user")
      rep.emplace_back(false, x.text);
    else if (x.role == "assistant")
      rep.emplace_back(true, x.text);
  }
  size_t maxn = static_cast<size_t>(std::max(0, ecfg_.replay_max_items));
  if (rep.size() > maxn) rep.erase(rep.begin(), rep.end() - static_cast<ptrdiff_t>(maxn));
  replay_ = rep;
  replay_echoes_left_ = rep.size();
  // the new server session starts with an empty conversation: our state follows it (rebuilt from
  // the server's echoes of the replayed items)
  order_.clear();
  items_.clear();
  fcalls_.clear();
  unanswered_calls_.clear();
  want_response_after_.clear();
  Dialect d = c->dialect;
  replay_ids_.clear();
  for (auto &r : rep) {
    ItemCreate ic;
    ic.kind = r.first ? ItemCreate::Kind::AssistantText : ItemCreate::Kind::UserText;
    ic.text = r.second;
    replay_ids_.insert(
        send_event(c, "conversation.item.create", [&](const std::string &id) { return build_item_create(d, ic, id); }));
  }
  if (rep.empty()) replay_.clear();
  return static_cast<int>(rep.size());
}

Item &Session::Impl::item(const std::string &id) {
  auto it = items_.find(id);
  if (it != items_.end()) return it->second;
  if (items_.size() > 8192) {
    // bound: forget placeholders that never made it into the conversation
    for (auto i = items_.begin(); i != items_.end();) {
      if (!i->second.in_order)
        i = items_.erase(i);
      else
        ++i;
    }
  }
  Item &x = items_[id];
  x.id = id;
  return x;
}

void Session::Impl::item_in_order(const std::string &id, const std::string &prev) {
  Item &x = item(id);
  if (x.in_order) return;
  x.in_order = true;
  auto pos = order_.end();
  if (!prev.empty()) {
    auto p = std::find(order_.rbegin(), order_.rend(), prev);
    if (p != order_.rend()) pos = p.base();
  }
  order_.insert(pos, id);
  if (order_.size() > 2048) {
    items_.erase(order_.front());
    order_.pop_front();
  }
}

void engine::set_item_text(Item &x, const std::string &t) {
  if (t.size() <= Session::kMaxItemTextBytes) {
    x.text = t;
  } else {
    size_t n = Session::kMaxItemTextBytes;
    while (n > 0 && (static_cast<unsigned char>(t[n]) & 0xC0) == 0x80) n--;
    x.text.assign(t, 0, n);
  }
  x.has_text = true;
}

void Session::Impl::upsert_item(const ItemInfo &info, const std::string &prev) {
  if (info.id.empty()) return;
  item_in_order(info.id, prev);
  Item &x = item(info.id);
  if (!info.type.empty()) x.type = info.type;
  if (!info.role.empty()) x.role = info.role;
  if (!info.status.empty()) x.status = info.status;
  for (const ContentPart &cp : info.content) {
    // input_text / text / output_text carry text; audio parts a transcript (null until known)
    if ((cp.type == "input_text" || cp.type == "text" || cp.type == "output_text") && !cp.text.empty()) {
      set_item_text(x, cp.text);
    } else if (!cp.transcript_null && !cp.transcript.empty() && !x.truncated) {
      set_item_text(x, cp.transcript);
    }
  }
}

void Session::Impl::erase_item(const std::string &id) {
  items_.erase(id);
  auto p = std::find(order_.begin(), order_.end(), id);
  if (p != order_.end()) order_.erase(p);
}

// Conversation events: the mirror follows the server (items, order, text, truncation, the
// replay's echoes). False: not a conversation event.
bool Session::Impl::track_conversation_event(const ServerEvent &ev, EventContext &ctx) {
  switch (ev.type) {
    case ServerEventType::ItemAdded:
    case ServerEventType::ItemDone:
    case ServerEventType::ItemRetrieved: {
      bool is_new = !ev.item.id.empty() && !item(ev.item.id).in_order;
      upsert_item(ev.item, ev.previous_item_id);
      Item &x = item(ev.item.id);
      if (is_new && replay_echoes_left_ > 0 && x.type == "message" && (x.role == "user" || x.role == "assistant")) {
        // the server handles events in order: the first new messages are the replay's echoes
        x.replayed = true;
        if (--replay_echoes_left_ == 0) {
          replay_.clear();
          replay_ids_.clear();
        }
      }
      ctx.input_start_sample = x.span_start;
      ctx.input_end_sample = x.span_end;
      break;
    }
    case ServerEventType::ItemDeleted:
      erase_item(ev.item_id);
      break;
    case ServerEventType::ItemTruncated: {
      // §3.8: the server deletes the transcript of a truncated item: do not replay it
      Item &x = item(ev.item_id);
      x.truncated = true;
      x.has_text = false;
      x.text.clear();
      break;
    }
    case ServerEventType::OutputItemAdded:
      if (!oob_resps_.count(ev.response_id)) upsert_item(ev.item, std::string());
      break;
    case ServerEventType::OutputItemDone:
      if (!oob_resps_.count(ev.response_id)) upsert_item(ev.item, std::string());
      if (ev.item.type == "function_call" && ev.item.status == "completed") {
        fcalls_[ev.response_id].push_back(function_call_of(ev.response_id, ev.item));
      }
      break;
    case ServerEventType::AudioTranscriptDone:
    case ServerEventType::TextDone: {
      if (oob_resps_.count(ev.response_id)) break;
      Item &x = item(ev.item_id);
      if (!x.truncated) {
        set_item_text(x, ev.text);
      }
      if (x.role.empty()) x.role = "assistant";
      if (x.type.empty()) x.type = "message";
      break;
    }
    default:
      return false;
  }
  return true;
}

}  // namespace rtc
