/*
 * test.h - the unit-test harness.
 *
 * A test is a function declared with TEST(name); it registers itself (a
 * constructor), so a new tests/test_<module>.c needs no other edit.  CHECK
 * macros report file:line and keep going; the runner prints
 * "N passed, N failed" last.  Run one subset: build/test_unit SUBSTRING.
 */
#ifndef PERSONA_TEST_H
#define PERSONA_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern int test_failures; /* failed CHECKs in the current test */

#define TEST(name)                                                           \
    static void test_##name(void);                                           \
    __attribute__((constructor)) static void test_reg_##name(void)           \
    { test_register(#name, test_##name); }                                   \
    static void test_##name(void)

#define CHECK(cond) do { if (!(cond)) { test_failures++;                     \
    fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { test_failures++; fprintf(stderr,                          \
    "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, a_, #b, b_); } } while (0)

#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b);                 \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { test_failures++; fprintf(stderr, \
    "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,       \
    a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)

/* |a - b| <= tol (absolute). NaN never passes. */
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b);                 \
    if (!(fabs(a_ - b_) <= (tol))) { test_failures++; fprintf(stderr,         \
    "  %s:%d: %s == %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, (double)(tol)); } } while (0)

/* |a - b| <= rel * max(|a|, |b|, tiny). */
#define CHECK_REL(a, b, rel) do { double a_ = (a), b_ = (b);                  \
    double m_ = fmax(fmax(fabs(a_), fabs(b_)), 1e-30);                        \
    if (!(fabs(a_ - b_) <= (rel) * m_)) { test_failures++; fprintf(stderr,    \
    "  %s:%d: %s == %.9g, expected %.9g (rel %g)\n", __FILE__, __LINE__, #a, a_, b_, (double)(rel)); } } while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); \
    if (!h_ || !strstr(h_, n_)) { test_failures++; fprintf(stderr,            \
    "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,          \
    h_ ? h_ : "(null)", n_); } } while (0)

/* Path of a file under ../shared (or $PERSONA_SHARED); static buffer. */
const char *test_shared(const char *rel);
/* A fresh per-run temporary directory (created once, removed at exit
 * unless PERSONA_KEEP_TMP is set), and a path inside it. */
const char *test_tmpdir(void);
const char *test_tmp(const char *name);
/* Writes a file with the given bytes; returns its path (test_tmp). */
const char *test_write_file(const char *name, const char *data, size_t len);
/* Reads a whole file (caller frees), NULL if missing. */
char *test_read_file(const char *path, size_t *len);
/* 1 if ../shared exists (data-driven tests skip loudly otherwise). */
int test_have_shared(void);

#endif
