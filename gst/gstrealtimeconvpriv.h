// Internal API of the realtimeconv element for the unit tests (not installed, not public).
#pragma once

#include <gst/gst.h>

#include "rtcsessionport.h"

// Replaces the session factory of `element` (a realtimeconv) before it leaves READY: the element
// then drives the SessionPort the factory returns instead of a real rtc::Session. The factory is
// called from the state-change / streaming thread with the element's rtc::SessionListener, which
// the test calls as the engine's network thread would.
void gst_realtimeconv_set_session_factory(GstElement *element, rtcgst::SessionFactory factory);

// Number of engine notifications queued for the control thread and not processed yet (tests wait
// for 0 to know that everything they injected has been handled).
guint gst_realtimeconv_pending_notifications(GstElement *element);

// What the streaming thread is waiting for right now (nullptr: nothing): "turn" (the answer of a
// turn, non-live), "gate" (the non-live turn gate), "back-pressure" (unsent input), or an EOS
// drain step ("sending the input", "the server's acknowledgement", "the responses"). `checks`
// counts the evaluations of that wait's condition: a value read after an event was processed,
// once exceeded, proves the waiting thread has seen the event and still waits.
const char *gst_realtimeconv_waiting_for(GstElement *element, guint64 *checks);
