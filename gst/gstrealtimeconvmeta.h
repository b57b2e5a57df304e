// GstRealtimeConvMeta: names the Realtime response and conversation item a buffer belongs to.
//
// Attached by realtimeconv to every audio buffer on its `src` pad (and to the assistant
// transcript buffers on `transcript_src`). The API type is registered as "GstRealtimeConvMetaAPI"
// (g_type_from_name() finds it once the plugin is loaded); the element messages carry the same ids
// for applications that do not compile against this header.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstRealtimeConvMeta GstRealtimeConvMeta;

struct _GstRealtimeConvMeta {
  GstMeta meta;
  gchar *response_id;  // "resp_..." (never NULL; "" when unknown)
  gchar *item_id;      // "item_..." (never NULL; "" when unknown)
};

GType gst_realtime_conv_meta_api_get_type(void);
#define GST_REALTIME_CONV_META_API_TYPE (gst_realtime_conv_meta_api_get_type())

const GstMetaInfo *gst_realtime_conv_meta_get_info(void);
#define GST_REALTIME_CONV_META_INFO (gst_realtime_conv_meta_get_info())

#define gst_buffer_get_realtime_conv_meta(b) \
  ((GstRealtimeConvMeta *)gst_buffer_get_meta((b), GST_REALTIME_CONV_META_API_TYPE))

GstRealtimeConvMeta *gst_buffer_add_realtime_conv_meta(GstBuffer *buffer, const gchar *response_id,
                                                       const gchar *item_id);

G_END_DECLS
