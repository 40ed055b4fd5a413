/*
 * utf8.h - internal UTF-8 helpers shared by the reader and its tests.
 *
 * The public entry point is ps_utf8_invalid_offset() in persona/reader.h
 * (the fast version: 8 ASCII bytes per step, byte-range tables for the
 * rest).  ps__utf8_invalid_offset_ref() is the plain reference that
 * decodes every code point and checks it against the ranges of RFC 3629;
 * tests compare the two on random and adversarial input.
 */
#ifndef PERSONA_DATA_UTF8_H
#define PERSONA_DATA_UTF8_H

#include <stddef.h>

/* Same contract as ps_utf8_invalid_offset: offset of the lead byte of the
 * first malformed sequence (as Python's UnicodeDecodeError.start), or -1. */
long ps__utf8_invalid_offset_ref(const char *s, size_t len);

/* ps_utf8_invalid_offset that, when s is valid, also sets *has_feff to
 * whether it holds a U+FEFF (the reader strips them only then); *has_feff
 * is left alone when s is invalid. */
long ps__utf8_check_feff(const char *s, size_t len, int *has_feff);

/* Removes every U+FEFF (EF BB BF) from s[0..len) in place; returns the new
 * length.  s must be valid UTF-8. */
size_t ps__utf8_strip_feff(char *s, size_t len);

#endif
