/*
 * tagrule.h - tag rules: named boolean expressions over profile fields.
 *
 * A rule file holds one rule per line, `name = expression`:
 *
 *     # users who bought often but not lately
 *     churn_risk  = recency_days > 60 and frequency >= 3
 *     big_spender = total_spend >= p90(total_spend)
 *     phone_fan   = top_category_1 in ("手机", "平板")
 *
 * Expressions have numbers and UTF-8 strings, comparisons (< <= > >= ==
 * !=), and/or/not, arithmetic (+ - * /, unary -), parentheses, population
 * statistics over a field (pNN(f), percentile(f, q), median, mean, min,
 * max), membership (`x in (...)`, `x not in (...)`), missing(f) and the
 * result of any rule defined above (a column of the same name wins).  The
 * grammar (EBNF) and every rule of the semantics are in docs/tags.md; in
 * short: a missing value is NaN (numbers) or NULL/"" (strings);
 * arithmetic propagates it (x / 0 is missing too); any comparison or
 * membership test with a missing operand is false, and `not` just negates.
 *
 * The parser is recursive descent into an AST (no eval of any kind).
 * Three phases, each with its own errors:
 *   1. parse (ps_tagrules_parse / _load): syntax, UTF-8, limits;
 *   2. bind (inside ps_tagrules_bind / _eval): field and rule names, types
 *      against a table view ("unknown field", "cannot compare a number
 *      with a string", a rule that is not a condition);
 *   3. evaluate (ps_tagrules_eval): column-oriented over the whole view;
 *      population statistics are computed once per call, deduplicated.
 * Every parse and bind error points at the rule file, line and column:
 *     tags.rules:3:24: expected ')' after arguments
 *     tags.rules:1:14: unknown field "recency" in rule "churn_risk"
 * Lines start at 1; columns count Unicode characters (code points) from 1,
 * so a caret lines up under CJK text in a UTF-8 editor.
 *
 * Limits (bad input, not crashes): rule file 4 MiB, 10,000 rules,
 * nesting depth 64, identifier 128 bytes, string literal 4096 bytes,
 * number literal 64 characters (and it must be finite), 1,000 items in a
 * membership list.
 *
 * Thread safety: a parsed struct ps_tagrules is immutable; any number of
 * threads may bind/evaluate it at once.
 */
#ifndef PERSONA_TAGRULE_H
#define PERSONA_TAGRULE_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

struct ps_buf;

/* A read-only, column-oriented view of a table (e.g. the profile fields
 * of every user).  Everything is borrowed: the view owns nothing and the
 * caller keeps all arrays alive for the duration of the call it is
 * passed to.  Column c is numeric when num[c] != NULL and a string column
 * when str[c] != NULL; exactly one of the two must be set.  `num` or
 * `str` itself may be NULL when no column of that kind exists.  Column
 * names must be unique (the first match wins otherwise). */
struct ps_table_view {
    size_t n_rows;                   /* rows (users) */
    int n_cols;                      /* columns */
    const char *const *names;        /* [n_cols] column names, NUL-terminated */
    const double *const *num;        /* num[c]: [n_rows] values, NaN = missing; or NULL */
    const char *const *const *str;   /* str[c][row]: NUL-terminated UTF-8, NULL or "" =
                                        missing; str[c] NULL for numeric columns */
};

/* A parsed rule set (opaque, immutable). */
struct ps_tagrules;

/* Parses rule text src[0..len) (need not be NUL-terminated).  filename
 * names the source in messages ("<rules>" when NULL).  On success *out
 * is a new rule set the caller frees with ps_tagrules_free(); on failure
 * *out is NULL and err holds "FILE:LINE:COL: message".
 * Returns PS_OK, PS_ERR_BAD_INPUT (syntax, invalid UTF-8, duplicate rule
 * name, empty file is fine: zero rules) or PS_ERR_TOO_BIG (a limit). */
int ps_tagrules_parse(const char *src, size_t len, const char *filename,
                      struct ps_tagrules **out, struct ps_err *err);

/* Reads the file at path and parses it (filename in messages = path).
 * PS_ERR_IO when it cannot be read, else as ps_tagrules_parse(). */
int ps_tagrules_load(const char *path, struct ps_tagrules **out, struct ps_err *err);

/* Frees a rule set; NULL does nothing. */
void ps_tagrules_free(struct ps_tagrules *rs);

/* Number of rules, and rule i's name (borrowed, valid until free), in
 * file order.  Rule i is row i of the ps_tagrules_eval() output. */
int ps_tagrules_count(const struct ps_tagrules *rs);
const char *ps_tagrules_name(const struct ps_tagrules *rs, int i);
/* Index of the rule called name, or -1. */
int ps_tagrules_find(const struct ps_tagrules *rs, const char *name);
/* 1-based line of rule i in the rule file (for messages). */
int ps_tagrules_line(const struct ps_tagrules *rs, int i);

/* Checks every rule against the columns of t (names and kinds only; the
 * rows are not read, n_rows may be 0): unknown fields, type errors
 * (arithmetic on strings, comparing a number with a string, a statistic
 * over a string column, a rule whose value is a number or string rather
 * than a condition).  Returns PS_OK or PS_ERR_BAD_INPUT with
 * "FILE:LINE:COL: message".  ps_tagrules_eval() performs the same check
 * itself; call this to fail early (e.g. before a long pipeline). */
int ps_tagrules_bind(const struct ps_tagrules *rs, const struct ps_table_view *t,
                     struct ps_err *err);

/* Evaluates every rule on every row of t.  out is caller-owned, at least
 * count * t->n_rows bytes, rule-major: out[i * t->n_rows + row] is 1 when
 * rule i holds for row, else 0.  Population statistics (pNN, median,
 * mean, min, max) are computed once per call over the non-missing values
 * of their column.  Returns PS_OK, or a bind error as ps_tagrules_bind()
 * (out is then unspecified).  Does not modify rs; thread-safe. */
int ps_tagrules_eval(const struct ps_tagrules *rs, const struct ps_table_view *t,
                     uint8_t *out, struct ps_err *err);

/* Percentile q in [0, 100] of the non-NaN values of x[0..n), with linear
 * interpolation between closest ranks: numpy.percentile's default
 * ("linear") method, i.e. numpy.nanpercentile.  NaN when there is no
 * non-NaN value or q is outside [0, 100].  Allocates a sorted copy. */
double ps_tagrules_percentile(const double *x, size_t n, double q);

/* Appends a two-line caret excerpt for an error message produced by
 * ps_tagrules_parse/_bind/_eval on the same src and filename:
 *     "    churn_risk = recency_days >> 60\n"
 *     "                               ^\n"
 * Tabs in the source line are kept so the caret lines up.  Appends
 * nothing and returns 0 when msg has no "FILE:LINE:COL: " prefix or the
 * line does not exist; returns 1 when it appended. */
int ps_tagrules_caret(const char *src, size_t len, const char *filename,
                      const char *msg, struct ps_buf *out);

#endif
