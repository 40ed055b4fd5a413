/*
 * zh_words.h - Chinese word segmentation (internal to textprep).
 *
 * A thin wrapper over friso (Debian libfriso-dev + friso-dict): the
 * dictionary is loaded once and shared read-only; each thread cuts text
 * through its own task.  Input is one run of Han characters.
 */
#ifndef PERSONA_ZH_WORDS_H
#define PERSONA_ZH_WORDS_H

#include <stddef.h>
#include "persona/status.h"

struct ps__zh_dict;
struct ps__zh_task;

/* ini NULL = $PERSONA_FRISO_INI or /etc/friso/friso.ini. */
int ps__zh_dict_load(struct ps__zh_dict **out, const char *ini, struct ps_err *err);
void ps__zh_dict_free(struct ps__zh_dict *d);
struct ps__zh_task *ps__zh_task_new(struct ps__zh_dict *d);
void ps__zh_task_free(struct ps__zh_task *t);

/* Cuts han[0, len) into words; fn(word, len, ud) per word, in order; every
 * word is a substring of the input and together they cover it. */
void ps__zh_cut(struct ps__zh_task *t, const char *han, size_t len,
                void (*fn)(const char *, size_t, void *), void *ud);

#endif
