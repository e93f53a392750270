#include <stdio.h>
#include <string.h>
#include "greet.h"

int main(int argc, char **argv) {
  char buf[64];
  if (argc > 1 && strcmp(argv[1], "--shout") == 0) {
    shout(greeting(), buf, sizeof buf);
    puts(buf);
  } else {
    puts(greeting());
  }
  printf("built from %s\n", __FILE__);
  return 0;
}
