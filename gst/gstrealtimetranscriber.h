// realtimetranscriber: live captions from a transcription-only Realtime session (issue 13,
// docs/transcriber.md).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_REALTIMETRANSCRIBER (gst_realtimetranscriber_get_type())
G_DECLARE_FINAL_TYPE(GstRealtimeTranscriber, gst_realtimetranscriber, GST, REALTIMETRANSCRIBER, GstElement)

GST_ELEMENT_REGISTER_DECLARE(realtimetranscriber);

// Named enums of the properties.
typedef enum {
  GST_REALTIMETRANSCRIBER_DELAY_MINIMAL = 0,
  GST_REALTIMETRANSCRIBER_DELAY_LOW = 1,
  GST_REALTIMETRANSCRIBER_DELAY_MEDIUM = 2,
  GST_REALTIMETRANSCRIBER_DELAY_HIGH = 3,
  GST_REALTIMETRANSCRIBER_DELAY_XHIGH = 4,
} GstRealtimeTranscriberDelay;

typedef enum {
  GST_REALTIMETRANSCRIBER_COMMIT_AUTO = 0,        // local for streaming models, server VAD otherwise
  GST_REALTIMETRANSCRIBER_COMMIT_LOCAL = 1,       // local end of speech + max segment length
  GST_REALTIMETRANSCRIBER_COMMIT_SERVER_VAD = 2,  // the server's VAD commits
} GstRealtimeTranscriberCommit;

typedef enum {
  GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_OFF = 0,
  GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_NEAR_FIELD = 1,
  GST_REALTIMETRANSCRIBER_NOISE_REDUCTION_FAR_FIELD = 2,
} GstRealtimeTranscriberNoiseReduction;

G_END_DECLS
