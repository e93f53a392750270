#include "greet.h"

/* Who we greet. */
const char *greeting(void) { return "hello, world"; }
