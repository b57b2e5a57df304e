// The gst-realtimeconv plugin: registers the realtimeconv element.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstrealtimeconv.h"
#include "gstrealtimetranscriber.h"

static gboolean plugin_init(GstPlugin *plugin) {
  return GST_ELEMENT_REGISTER(realtimeconv, plugin) && GST_ELEMENT_REGISTER(realtimetranscriber, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, realtimeconv,
                  "Speech-to-speech through the OpenAI / Azure OpenAI Realtime API",
                  plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
