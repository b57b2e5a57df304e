// placeholder: implemented by the protocol work (issue 2)
#include "protocol.h"
