#ifndef GREET_H
#define GREET_H
/* Greetings, built into libgreet.a. */
const char *greeting(void);
void shout(const char *s, char *out, int n);
#endif
