// Plugin-level checks: the shared library registers `realtimeconv` with the metadata and pad
// templates that gst-inspect-1.0 shows, and `meson install` would put it where GStreamer looks.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

namespace {

class PluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

TEST_F(PluginTest, FactoryHasMetadata) {
  GstElementFactory *f = gst_element_factory_find("realtimeconv");
  ASSERT_NE(f, nullptr) << "GST_PLUGIN_PATH does not lead to the built plugin";
  const gchar *klass = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS);
  ASSERT_NE(klass, nullptr);
  EXPECT_NE(std::string(klass).find("Audio"), std::string::npos);
  EXPECT_NE(std::string(klass).find("Network"), std::string::npos);
  EXPECT_NE(gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_LONGNAME), nullptr);
  EXPECT_NE(gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_DESCRIPTION), nullptr);
  EXPECT_NE(gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_AUTHOR), nullptr);
  gst_object_unref(f);
}

TEST_F(PluginTest, PadTemplates) {
  GstElementFactory *f = gst_element_factory_find("realtimeconv");
  ASSERT_NE(f, nullptr);
  int sinks = 0, srcs = 0;
  bool have_src = false, have_transcript = false, have_input_transcript = false;
  for (const GList *l = gst_element_factory_get_static_pad_templates(f); l; l = l->next) {
    auto *t = static_cast<GstStaticPadTemplate *>(l->data);
    EXPECT_EQ(t->presence, GST_PAD_ALWAYS) << t->name_template;
    if (t->direction == GST_PAD_SINK) {
      sinks++;
      GstCaps *caps = gst_static_caps_get(&t->static_caps);
      GstCaps *pcm = gst_caps_from_string("audio/x-raw,format=S16LE,rate=24000,channels=1,layout=interleaved");
      GstCaps *mulaw = gst_caps_from_string("audio/x-mulaw,rate=8000,channels=1");
      GstCaps *alaw = gst_caps_from_string("audio/x-alaw,rate=8000,channels=1");
      GstCaps *wrong = gst_caps_from_string("audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved");
      EXPECT_TRUE(gst_caps_can_intersect(caps, pcm));
      EXPECT_TRUE(gst_caps_can_intersect(caps, mulaw));
      EXPECT_TRUE(gst_caps_can_intersect(caps, alaw));
      EXPECT_FALSE(gst_caps_can_intersect(caps, wrong));
      for (GstCaps *c : {caps, pcm, mulaw, alaw, wrong}) gst_caps_unref(c);
    } else {
      srcs++;
      std::string n = t->name_template;
      if (n == "src") have_src = true;
      if (n == "transcript_src") have_transcript = true;
      if (n == "input_transcript_src") have_input_transcript = true;
    }
  }
  EXPECT_EQ(sinks, 1);
  EXPECT_EQ(srcs, 3);
  EXPECT_TRUE(have_src && have_transcript && have_input_transcript);
  gst_object_unref(f);
}

TEST_F(PluginTest, ElementInstantiatesWithAllPads) {
  GstElement *e = gst_element_factory_make("realtimeconv", nullptr);
  ASSERT_NE(e, nullptr);
  for (const char *name : {"sink", "src", "transcript_src", "input_transcript_src"}) {
    GstPad *p = gst_element_get_static_pad(e, name);
    EXPECT_NE(p, nullptr) << name;
    if (p) gst_object_unref(p);
  }
  gst_object_unref(e);
}

}  // namespace
