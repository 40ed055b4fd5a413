/* afile.c - write to a temporary file, rename into place (see afile.h). */
#include "persona/afile.h"
#include "persona/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ps_afile_open(struct ps_afile *f, const char *path, struct ps_err *err)
{
    memset(f, 0, sizeof *f);
    if (strcmp(path, "-") == 0) {
        f->fp = stdout;
        f->is_stdout = 1;
        f->path = ps_xstrdup(path);
        return PS_OK;
    }
    struct ps_buf tmp;
    ps_buf_init(&tmp);
    ps_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(tmp.data, "wb");
    if (!f->fp) {
        int e = errno;
        ps_buf_release(&tmp);
        return ps_err_set(err, PS_ERR_IO, "cannot create \"%s\": %s", path, strerror(e));
    }
    f->path = ps_xstrdup(path);
    f->tmp_path = tmp.data; /* take ownership */
    return PS_OK;
}

int ps_afile_commit(struct ps_afile *f, struct ps_err *err)
{
    int rc = PS_OK;
    if (!f->fp)
        return PS_OK;
    if (f->is_stdout) {
        if (fflush(stdout) != 0)
            rc = ps_err_set(err, PS_ERR_IO, "cannot write to standard output: %s", strerror(errno));
        f->fp = NULL;
        free(f->path);
        f->path = NULL;
        return rc;
    }
    if (fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", f->path, strerror(errno));
        ps_afile_abort(f);
        return rc;
    }
    if (fclose(f->fp) != 0) {
        f->fp = NULL;
        rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\": %s", f->path, strerror(errno));
        ps_afile_abort(f);
        return rc;
    }
    f->fp = NULL;
    if (rename(f->tmp_path, f->path) != 0) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot rename \"%s\" to \"%s\": %s",
                        f->tmp_path, f->path, strerror(errno));
        ps_afile_abort(f);
        return rc;
    }
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
    return PS_OK;
}

void ps_afile_abort(struct ps_afile *f)
{
    if (f->fp && !f->is_stdout)
        fclose(f->fp);
    f->fp = NULL;
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
}
