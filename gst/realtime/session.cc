// placeholder: implemented by the session engine work (issue 4)
#include "session.h"
