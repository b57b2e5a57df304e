// realtimeconv element (skeleton: pads and metadata; behaviour lands with issue 5).
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrealtimeconv.h"

GST_DEBUG_CATEGORY_STATIC(gst_realtimeconv_debug);
#define GST_CAT_DEFAULT gst_realtimeconv_debug

#define RTC_AUDIO_CAPS                                                                      \
  "audio/x-raw, format=(string)S16LE, rate=(int)24000, channels=(int)1, "                   \
  "layout=(string)interleaved; "                                                            \
  "audio/x-mulaw, rate=(int)8000, channels=(int)1; "                                        \
  "audio/x-alaw, rate=(int)8000, channels=(int)1"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(RTC_AUDIO_CAPS));
static GstStaticPadTemplate transcript_src_template = GST_STATIC_PAD_TEMPLATE(
    "transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));
static GstStaticPadTemplate input_transcript_src_template =
    GST_STATIC_PAD_TEMPLATE("input_transcript_src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));

struct _GstRealtimeConv {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *transcript_srcpad;
  GstPad *input_transcript_srcpad;
};

G_DEFINE_TYPE(GstRealtimeConv, gst_realtimeconv, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(realtimeconv, "realtimeconv", GST_RANK_NONE, GST_TYPE_REALTIMECONV)

static void gst_realtimeconv_class_init(GstRealtimeConvClass *klass) {
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GST_DEBUG_CATEGORY_INIT(gst_realtimeconv_debug, "realtimeconv", 0, "Realtime API speech-to-speech");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &transcript_src_template);
  gst_element_class_add_static_pad_template(element_class, &input_transcript_src_template);
  gst_element_class_set_static_metadata(
      element_class, "Realtime API speech-to-speech", "Filter/Audio/Network",
      "Sends audio to an OpenAI / Azure OpenAI Realtime session and outputs the synthesized speech "
      "and the transcripts of both sides",
      "gst-realtimeconv developers <dev@gst-realtimeconv.invalid>");
}

static void gst_realtimeconv_init(GstRealtimeConv *self) {
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
  self->transcript_srcpad = gst_pad_new_from_static_template(&transcript_src_template, "transcript_src");
  gst_element_add_pad(GST_ELEMENT(self), self->transcript_srcpad);
  self->input_transcript_srcpad =
      gst_pad_new_from_static_template(&input_transcript_src_template, "input_transcript_src");
  gst_element_add_pad(GST_ELEMENT(self), self->input_transcript_srcpad);
}
