// realtimeconv: speech-to-speech through the OpenAI / Azure OpenAI Realtime API.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_REALTIMECONV (gst_realtimeconv_get_type())
G_DECLARE_FINAL_TYPE(GstRealtimeConv, gst_realtimeconv, GST, REALTIMECONV, GstElement)

GST_ELEMENT_REGISTER_DECLARE(realtimeconv);

G_END_DECLS
