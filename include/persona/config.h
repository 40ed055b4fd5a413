/*
 * config.h - the `persona run` configuration file (docs/config.md).
 *
 * A small INI dialect: "[section]" headers, "key = value" lines, "#" or
 * ";" comments on their own line or after a value (preceded by a space),
 * blank lines ignored, values trimmed, optional double quotes around a
 * value (then "#" inside is literal).  Keys before any section are an
 * error.  A key given twice in one section is an error.  Every lookup
 * marks the entry used, so after a pipeline has read everything it knows,
 * ps_config_check_unused() reports the first unknown key with its line:
 *   persona.conf:12: unknown key "kk" in section [segment]
 *
 * The section [tags] is raw: its lines are tag rules (tagrule.h), not
 * key = value pairs; ps_config_raw() returns them with every other line
 * of the file blanked, so a rule parser's line numbers are the file's.
 * A raw section ends at the next line starting with '['.
 *
 * Values are borrowed from the handle (valid until ps_config_free).
 * Thread safety: one thread at a time.
 */
#ifndef PERSONA_CONFIG_H
#define PERSONA_CONFIG_H

#include <stdint.h>
#include "status.h"

struct ps_config;

/* Parses a file.  Errors: PS_ERR_IO (with the path) or PS_ERR_BAD_INPUT
 * naming path:line ("persona.conf:3: expected \"key = value\", got ..."). */
int ps_config_load(struct ps_config **out, const char *path, struct ps_err *err);
/* Parses text held in memory; name is used in messages. */
int ps_config_parse(struct ps_config **out, const char *name, const char *text,
                    struct ps_err *err);
void ps_config_free(struct ps_config *c);

/* Path of the file (or the name given to parse); borrowed. */
const char *ps_config_name(const struct ps_config *c);
/* Folder of the file ("." for a bare name or parsed text); borrowed. */
const char *ps_config_dir(const struct ps_config *c);

/* The raw text of a raw section ([tags]), same line numbers as the file;
 * NULL when the file has no such section.  Borrowed. */
const char *ps_config_raw(const struct ps_config *c, const char *section);

/* 1 if the section appears (even empty), else 0. */
int ps_config_has_section(const struct ps_config *c, const char *section);
/* Raw value or NULL when absent (marks the key used). */
const char *ps_config_get(struct ps_config *c, const char *section, const char *key);

/* Typed getters: leave *out unchanged when the key is absent; a value that
 * does not parse or is out of [min, max] is PS_ERR_BAD_INPUT naming the
 * file, line, section and key. */
int ps_config_str(struct ps_config *c, const char *section, const char *key,
                  const char **out, struct ps_err *err);
int ps_config_long(struct ps_config *c, const char *section, const char *key,
                   long min, long max, long *out, struct ps_err *err);
int ps_config_double(struct ps_config *c, const char *section, const char *key,
                     double min, double max, double *out, struct ps_err *err);
/* true/false/yes/no/on/off/1/0. */
int ps_config_bool(struct ps_config *c, const char *section, const char *key,
                   int *out, struct ps_err *err);
/* One of the NULL-terminated choices; *out = its index. */
int ps_config_choice(struct ps_config *c, const char *section, const char *key,
                     const char *const *choices, int *out, struct ps_err *err);

/* Error for a value that was read but is unusable (e.g. a missing file):
 * "path:line: section [s] key \"k\": <message>". */
int ps_config_value_error(const struct ps_config *c, const char *section, const char *key,
                         struct ps_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* First key never looked up, as an error; a section never looked at
 * (no key of it read and not in known_sections, NULL-terminated) is
 * reported the same way.  PS_OK when everything was used. */
int ps_config_check_unused(const struct ps_config *c, const char *const *known_sections,
                           struct ps_err *err);

/* Hash of the used (section, key, value) triples of one section, in
 * file order: what a stage's options contribute to its key. */
uint64_t ps_config_section_hash(const struct ps_config *c, const char *section);

#endif
