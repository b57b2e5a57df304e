// realtimetranslator: live interpretation through the Realtime translation API (issue 14,
// docs/translator.md).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_REALTIMETRANSLATOR (gst_realtimetranslator_get_type())
G_DECLARE_FINAL_TYPE(GstRealtimeTranslator, gst_realtimetranslator, GST, REALTIMETRANSLATOR, GstElement)

// Named enum of the noise-reduction property (GType "GstRealtimeTranslatorNoiseReduction").
typedef enum {
  GST_REALTIMETRANSLATOR_NOISE_REDUCTION_OFF = 0,
  GST_REALTIMETRANSLATOR_NOISE_REDUCTION_NEAR_FIELD = 1,
  GST_REALTIMETRANSLATOR_NOISE_REDUCTION_FAR_FIELD = 2,
} GstRealtimeTranslatorNoiseReduction;
GType gst_realtimetranslator_noise_reduction_get_type(void);

GST_ELEMENT_REGISTER_DECLARE(realtimetranslator);

G_END_DECLS
