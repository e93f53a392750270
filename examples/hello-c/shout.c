#include <ctype.h>
#include "greet.h"

void shout(const char *s, char *out, int n) {
  int i = 0;
  for (; s[i] && i < n - 1; i++) out[i] = (char)toupper((unsigned char)s[i]);
  out[i] = 0;
}
