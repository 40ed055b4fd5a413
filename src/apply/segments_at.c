/*
 * segments_at.c - segment labels as of a time, for an honest offline
 * evaluation: behaviour features from the events before the split
 * (features.h, as_of = split - 1) assigned to a saved segment model
 * (segment.h), so no user's segment has seen the test period.
 *
 * The model's centroids may still come from a fit on all events; only
 * the users' own assignments are restricted to the training window.
 */
#include "persona/recommend.h"
#include "persona/core.h"
#include "persona/features.h"
#include "persona/hash.h"
#include "persona/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ps_interactions_segments_at(struct ps_interactions *x, const char *events_path,
                                int64_t before_ts, const char *model_path, struct ps_pool *pool,
                                struct ps_err *err)
{
    struct ps_features_params fp = ps_features_default_params();
    fp.has_as_of = 1;
    fp.as_of = before_ts - 1;
    fp.n_threads = 1;
    struct ps_segment_model m;
    struct ps_ftable t;
    memset(&m, 0, sizeof m);
    memset(&t, 0, sizeof t);
    int have_model = 0, have_table = 0;
    int32_t *labels = NULL;
    float *dist = NULL;
    unsigned char *emerging = NULL;
    char tmp[256] = "";
    struct ps_features *f = ps_features_new(&fp);
    int rc = ps_features_add_file(f, events_path, err);
    if (rc == PS_OK)
        rc = ps_features_finish(f, err);
    if (rc != PS_OK)
        goto done;
    const char *dir = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/persona-train-features-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = ps_err_set(err, PS_ERR_IO, "cannot create a temporary file \"%s\"", tmp);
        tmp[0] = '\0';
        goto done;
    }
    close(fd);
    if ((rc = ps_features_write_csv(f, tmp, err)) != PS_OK)
        goto done;
    if ((rc = ps_ftable_load(&t, tmp, err)) != PS_OK)
        goto done;
    have_table = 1;
    if ((rc = ps_segment_model_load(&m, model_path, err)) != PS_OK)
        goto done;
    have_model = 1;
    labels = ps_xmalloc((t.n_rows ? t.n_rows : 1) * sizeof *labels);
    dist = ps_xmalloc((t.n_rows ? t.n_rows : 1) * sizeof *dist);
    emerging = ps_xmalloc(t.n_rows ? t.n_rows : 1);
    if ((rc = ps_segment_assign(&m, &t, pool, labels, dist, emerging, err)) != PS_OK)
        goto done;
    /* Fresh labels: everyone without training features has no segment. */
    size_t nu = ps_strmap_count(x->users);
    free(x->user_seg);
    x->user_seg_cap = nu + 1;
    x->user_seg = ps_xmalloc(x->user_seg_cap * sizeof *x->user_seg);
    for (size_t i = 0; i < x->user_seg_cap; i++)
        x->user_seg[i] = -1;
    for (int s = 0; s < x->n_segments; s++)
        free(x->seg_names[s]);
    free(x->seg_names);
    x->n_segments = m.k;
    x->seg_names = ps_xcalloc((size_t)m.k, sizeof *x->seg_names);
    for (int s = 0; s < m.k; s++)
        x->seg_names[s] = m.names && m.names[s] ? ps_xstrdup(m.names[s]) : NULL;
    for (size_t row = 0; row < t.n_rows; row++) {
        const char *uid = ps_ftable_user(&t, row);
        int64_t u = ps_strmap_find(x->users, uid, strlen(uid));
        if (u >= 0 && (size_t)u < x->user_seg_cap)
            x->user_seg[u] = labels[row];
    }
done:
    if (tmp[0])
        unlink(tmp);
    ps_features_free(f);
    if (have_table)
        ps_ftable_release(&t);
    if (have_model)
        ps_segment_model_release(&m);
    free(labels);
    free(dist);
    free(emerging);
    return rc;
}
