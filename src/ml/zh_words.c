/*
 * zh_words.c - Chinese word segmentation through friso (MMSEG).
 *
 * Why friso: it is a maintained Debian package (libfriso-dev, friso-dict)
 * and agreed with jieba better than ICU's dictionary word break on real
 * shop reviews (span F1 0.771 vs 0.731 on tests/fixtures/topics/
 * zh_seg_jieba.tsv; docs/topics.md).  Configuration comes from friso's
 * own ini file; we only switch synonym expansion off, because synonyms
 * would add words that are not in the text.
 *
 * friso's task walks a NUL-terminated buffer, so each run is copied into
 * the task's buffer first.  Words are mapped back onto the input by their
 * byte offset; anything friso reports that is not a substring at the
 * expected place (it never should) is skipped, and gaps are emitted as
 * they are so the words always cover the run.
 */
#include "zh_words.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <friso/friso.h>

#include "persona/core.h"

struct ps__zh_dict {
    friso_t friso;
    friso_config_t config;
};

struct ps__zh_task {
    struct ps__zh_dict *dict;   /* borrowed */
    friso_task_t task;
    char *buf;                  /* NUL-terminated copy of the run */
    size_t cap;
};

int ps__zh_dict_load(struct ps__zh_dict **out, const char *ini, struct ps_err *err)
{
    *out = NULL;
    if (!ini)
        ini = getenv("PERSONA_FRISO_INI");
    if (!ini || !*ini)
        ini = "/etc/friso/friso.ini";
    if (access(ini, R_OK) != 0)
        return ps_err_set(err, PS_ERR_IO,
                          "cannot read friso configuration '%s'\n"
                          "hint: install libfriso-dev and friso-dict (scripts/install-deps.sh)",
                          ini);
    struct ps__zh_dict *d = ps_xcalloc(1, sizeof *d);
    d->friso = friso_new();
    d->config = friso_new_config();
    if (friso_init_from_ifile(d->friso, d->config, (fstring)ini) != 1 || !d->friso->dic) {
        ps__zh_dict_free(d);
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "cannot load the friso dictionary named in '%s'\n"
                          "hint: install friso-dict (scripts/install-deps.sh)", ini);
    }
    d->config->add_syn = 0;
    d->config->clr_stw = 0;
    *out = d;
    return PS_OK;
}

void ps__zh_dict_free(struct ps__zh_dict *d)
{
    if (!d)
        return;
    if (d->friso)
        friso_free(d->friso);
    free(d->config);
    free(d);
}

struct ps__zh_task *ps__zh_task_new(struct ps__zh_dict *d)
{
    struct ps__zh_task *t = ps_xcalloc(1, sizeof *t);
    t->dict = d;
    t->task = friso_new_task();
    return t;
}

void ps__zh_task_free(struct ps__zh_task *t)
{
    if (!t)
        return;
    friso_free_task(t->task);
    free(t->buf);
    free(t);
}

void ps__zh_cut(struct ps__zh_task *t, const char *han, size_t len,
                void (*fn)(const char *, size_t, void *), void *ud)
{
    if (len == 0)
        return;
    t->buf = ps_xgrow(t->buf, &t->cap, len + 1, 1);
    memcpy(t->buf, han, len);
    t->buf[len] = '\0';
    friso_set_text(t->task, t->buf);
    size_t pos = 0;
    friso_config_t cfg = t->dict->config;
    while (cfg->next_token(t->dict->friso, cfg, t->task) != NULL) {
        friso_token_t tok = t->task->token;
        size_t off = tok->offset >= 0 ? (size_t)tok->offset : (size_t)-1;
        size_t n = tok->rlen;
        if (off < pos || off > len || n == 0 || n > len - off ||
            memcmp(t->buf + off, tok->word, n) != 0) {
            /* Not where we expect: find it from the current position. */
            const char *p = strstr(t->buf + pos, tok->word);
            if (!p)
                continue;
            off = (size_t)(p - t->buf);
            n = strlen(tok->word);
        }
        if (off > pos)
            fn(t->buf + pos, off - pos, ud);  /* gap (never seen in practice) */
        char save = t->buf[off + n];
        t->buf[off + n] = '\0';
        fn(t->buf + off, n, ud);
        t->buf[off + n] = save;
        pos = off + n;
    }
    if (pos < len)
        fn(t->buf + pos, len - pos, ud);
}
