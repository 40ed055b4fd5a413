/*
 * progress.h - a progress bar on stderr for long work.
 *
 * Shown only when stderr is a terminal and progress is not silenced
 * (--quiet); otherwise every call is a cheap no-op.  Updates are rate
 * limited to ~10 per second.
 */
#ifndef PERSONA_PROGRESS_H
#define PERSONA_PROGRESS_H

#include <stdint.h>

struct ps_progress {
    const char *label;   /* borrowed */
    uint64_t total;      /* 0 = unknown */
    uint64_t done;
    double start, last;  /* ps_now() seconds */
    int active;          /* drawing on a terminal */
};

/* Globally silence progress output (the CLI's --quiet). */
void ps_progress_set_quiet(int quiet);
void ps_progress_begin(struct ps_progress *p, const char *label, uint64_t total);
void ps_progress_update(struct ps_progress *p, uint64_t done);
void ps_progress_end(struct ps_progress *p);

#endif
