/*
 * afile.h - atomic file output.
 *
 * Every output file is written to "<path>.tmp.<pid>" and renamed onto
 * <path> only when complete, so an interrupted run leaves the previous
 * result intact (DESIGN.md section 3).
 */
#ifndef PERSONA_AFILE_H
#define PERSONA_AFILE_H

#include <stdio.h>
#include "status.h"

struct ps_afile {
    FILE *fp;        /* write here; owned */
    char *path;      /* final path, owned */
    char *tmp_path;  /* temporary path, owned */
    int is_stdout;   /* path was "-": fp is stdout, commit only flushes */
};

/* Opens a temporary file beside path ("-" means stdout). */
int ps_afile_open(struct ps_afile *f, const char *path, struct ps_err *err);
/* Flushes, checks for write errors, fsyncs and renames into place. */
int ps_afile_commit(struct ps_afile *f, struct ps_err *err);
/* Closes and removes the temporary file.  Safe after commit (no-op). */
void ps_afile_abort(struct ps_afile *f);

#endif
