// The gst-realtimeconv plugin: registers the realtimeconv element.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstrealtimeconv.h"
#include "gstrealtimetranscriber.h"
#include "gstrealtimetranslator.h"

static gboolean plugin_init(GstPlugin *plugin) {
  gboolean ok = GST_ELEMENT_REGISTER(realtimeconv, plugin);
  ok &= GST_ELEMENT_REGISTER(realtimetranscriber, plugin);
  ok &= GST_ELEMENT_REGISTER(realtimetranslator, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, realtimeconv,
                  "Speech-to-speech through the OpenAI / Azure OpenAI Realtime API",
                  plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
