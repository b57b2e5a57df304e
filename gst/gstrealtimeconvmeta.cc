// GstRealtimeConvMeta implementation (see gstrealtimeconvmeta.h).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrealtimeconvmeta.h"

#include <gst/audio/audio.h>  // GST_META_TAG_AUDIO_STR

GType gst_realtime_conv_meta_api_get_type(void) {
  static GType type = 0;
  static const gchar *tags[] = {GST_META_TAG_AUDIO_STR, NULL};
  if (g_once_init_enter(&type)) {
    GType t = gst_meta_api_type_register("GstRealtimeConvMetaAPI", tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

static gboolean meta_init(GstMeta *meta, gpointer params, GstBuffer *buffer) {
  (void)params;
  (void)buffer;
  GstRealtimeConvMeta *m = reinterpret_cast<GstRealtimeConvMeta *>(meta);
  m->response_id = NULL;
  m->item_id = NULL;
  return TRUE;
}

static void meta_free(GstMeta *meta, GstBuffer *buffer) {
  (void)buffer;
  GstRealtimeConvMeta *m = reinterpret_cast<GstRealtimeConvMeta *>(meta);
  g_free(m->response_id);
  g_free(m->item_id);
  m->response_id = m->item_id = NULL;
}

static gboolean meta_transform(GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
                               gpointer data) {
  (void)buffer;
  (void)data;
  GstRealtimeConvMeta *m = reinterpret_cast<GstRealtimeConvMeta *>(meta);
  (void)type;
  // The ids stay valid for copies, sub-buffers and conversions (resample, convert) of the same
  // audio: copy the meta for every transformation.
  return gst_buffer_add_realtime_conv_meta(dest, m->response_id, m->item_id) != NULL;
}

const GstMetaInfo *gst_realtime_conv_meta_get_info(void) {
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo *mi = gst_meta_register(GST_REALTIME_CONV_META_API_TYPE, "GstRealtimeConvMeta",
                                              sizeof(GstRealtimeConvMeta), meta_init, meta_free,
                                              meta_transform);
    g_once_init_leave(&info, mi);
  }
  return info;
}

GstRealtimeConvMeta *gst_buffer_add_realtime_conv_meta(GstBuffer *buffer, const gchar *response_id,
                                                       const gchar *item_id) {
  g_return_val_if_fail(GST_IS_BUFFER(buffer), NULL);
  GstRealtimeConvMeta *m = reinterpret_cast<GstRealtimeConvMeta *>(
      gst_buffer_add_meta(buffer, GST_REALTIME_CONV_META_INFO, NULL));
  if (!m) return NULL;
  m->response_id = g_strdup(response_id ? response_id : "");
  m->item_id = g_strdup(item_id ? item_id : "");
  return m;
}
