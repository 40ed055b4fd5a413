/*
 * cmd_topics.c - `persona topics fit|infer`: LDA topics over user texts.
 *
 *   fit    reads a CSV/JSONL text column, prepares words (textprep.h),
 *          prunes the vocabulary, trains LDA (lda.h) and writes the topics,
 *          matrices and model into a folder;
 *   infer  folds new texts into a saved model.
 * Texts are tokenised in batches on the thread pool and added to the
 * corpus in input order, so outputs do not depend on scheduling.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persona/afile.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/lda.h"
#include "persona/log.h"
#include "persona/npy.h"
#include "persona/pool.h"
#include "persona/progress.h"
#include "persona/reader.h"
#include "persona/textprep.h"

#define TOPICS_USAGE                                                                  \
    "usage: persona topics fit --in FILE --text-col NAME [--id-col NAME] --k N\n"     \
    "                          [--iters N] [--lang auto|zh|en] [--seed S]\n"          \
    "                          [--threads N] --out DIR [options]\n"                   \
    "       persona topics infer --model DIR --in FILE --text-col NAME\n"             \
    "                          [--id-col NAME] [--iters N] [--seed S] [--threads N]\n" \
    "                          --out FILE.npy\n"                                      \
    "\n"                                                                              \
    "fit writes into DIR: topics.json (top words, weights, coherence),\n"             \
    "topic_word.npy (K x V) + vocab.txt, doc_topics.npy (one row per input row),\n"   \
    "user_topics.npy + user_topics.ids.txt/.json (with --id-col: token-weighted\n"    \
    "mean of each user's documents), model.lda.\n"                                    \
    "\n"                                                                              \
    "  --in FILE          CSV or JSON Lines input\n"                                  \
    "  --text-col NAME    column holding the text\n"                                  \
    "  --id-col NAME      column holding the user id (fit: per-user mixes;\n"         \
    "                     infer: row ids in the output)\n"                            \
    "  --k N              number of topics (1..100000)\n"                             \
    "  --iters N          Gibbs sweeps (fit, default 200) or fold-in sweeps\n"        \
    "                     (infer, default 50)\n"                                      \
    "  --lang L           auto|zh|en (default auto: Han runs segmented, Latin\n"      \
    "                     words kept); en skips Han text\n"                           \
    "  --seed S           random seed (default 42)\n"                                 \
    "  -t, --threads N    threads (default: all cores; same seed + threads =\n"       \
    "                     same output)\n"                                             \
    "  --alpha A          doc-topic prior (default 0.1)\n"                            \
    "  --beta B           topic-word prior (default 0.01)\n"                          \
    "  --optimize-alpha   learn an asymmetric alpha (Minka) after 50 sweeps\n"       \
    "  --sampler S        auto|dense|alias (default auto: alias from K = 100)\n"       \
    "  --min-df N         drop words in fewer documents (default 5)\n"                \
    "  --max-df F         drop words in more than this fraction (default 0.5)\n"      \
    "  --max-vocab N      keep the N most frequent words (default 50000)\n"           \
    "  --top N            top words per topic in topics.json (default 10)\n"          \
    "  --export-bow DIR   also write the prepared corpus (corpus.ldac, vocab.txt)\n"  \
    "  --strict           stop at the first bad row (default: skip and count)\n"      \
    "  -q, --quiet        no progress or summary on stderr\n"

struct opts {
    const char *in, *text_col, *id_col, *out, *model, *export_bow;
    long k, iters, seed, threads, min_df, max_vocab, top;
    double alpha, beta, max_df;
    int iters_set, quiet, strict, optimize_alpha;
    enum ps_lang lang;
    enum ps_lda_sampler sampler;
};

/* Parses the options shared by fit and infer; returns CLI_OK or CLI_USAGE. */
static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--strict") == 0) {
            o->strict = 1;
            continue;
        }
        if (strcmp(a, "--optimize-alpha") == 0) {
            o->optimize_alpha = 1;
            continue;
        }
#define OPT(name, alias) (cli_opt_value(argc, argv, &i, name, alias, &v, &missing))
        if (OPT("--in", "-i")) o->in = v;
        else if (OPT("--text-col", NULL)) o->text_col = v;
        else if (OPT("--id-col", NULL)) o->id_col = v;
        else if (OPT("--out", "-o")) o->out = v;
        else if (OPT("--model", NULL)) o->model = v;
        else if (OPT("--export-bow", NULL)) o->export_bow = v;
        else if (OPT("--k", "-k")) { if (!missing && cli_parse_long(cmd, "--k", v, 1, 100000, &o->k)) return CLI_USAGE; }
        else if (OPT("--iters", NULL)) { o->iters_set = 1; if (!missing && cli_parse_long(cmd, "--iters", v, 1, 1000000, &o->iters)) return CLI_USAGE; }
        else if (OPT("--seed", NULL)) { if (!missing && cli_parse_long(cmd, "--seed", v, 0, 0x7fffffffffffffffL, &o->seed)) return CLI_USAGE; }
        else if (OPT("--threads", "-t")) { if (!missing && cli_parse_long(cmd, "--threads", v, 1, 1024, &o->threads)) return CLI_USAGE; }
        else if (OPT("--min-df", NULL)) { if (!missing && cli_parse_long(cmd, "--min-df", v, 1, 1000000000, &o->min_df)) return CLI_USAGE; }
        else if (OPT("--max-vocab", NULL)) { if (!missing && cli_parse_long(cmd, "--max-vocab", v, 0, 100000000, &o->max_vocab)) return CLI_USAGE; }
        else if (OPT("--top", NULL)) { if (!missing && cli_parse_long(cmd, "--top", v, 2, 1000, &o->top)) return CLI_USAGE; }
        else if (OPT("--alpha", NULL)) { if (!missing && cli_parse_double(cmd, "--alpha", v, 1e-6, 1e6, &o->alpha)) return CLI_USAGE; }
        else if (OPT("--beta", NULL)) { if (!missing && cli_parse_double(cmd, "--beta", v, 1e-6, 1e6, &o->beta)) return CLI_USAGE; }
        else if (OPT("--max-df", NULL)) { if (!missing && cli_parse_double(cmd, "--max-df", v, 1e-9, 1, &o->max_df)) return CLI_USAGE; }
        else if (OPT("--lang", NULL)) {
            if (!missing && ps_lang_parse(v, &o->lang))
                return cli_usage_error(cmd, "option '--lang' expects auto, zh or en, got \"%s\"", v);
        } else if (OPT("--sampler", NULL)) {
            if (!missing) {
                if (strcmp(v, "auto") == 0) o->sampler = PS_LDA_SAMPLER_AUTO;
                else if (strcmp(v, "dense") == 0) o->sampler = PS_LDA_SAMPLER_DENSE;
                else if (strcmp(v, "alias") == 0) o->sampler = PS_LDA_SAMPLER_ALIAS;
                else return cli_usage_error(cmd, "option '--sampler' expects auto, dense or alias, got \"%s\"", v);
            }
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
#undef OPT
        if (missing)
            return cli_usage_error(cmd, "option '%s' needs a value", a);
    }
    return CLI_OK;
}

/* ---- reading and tokenising ---------------------------------------------- */

struct doc_batch {
    char **texts;               /* n texts, owned */
    size_t n, cap;
    struct ps_buf *words;       /* per task: words, NUL-separated */
    size_t **counts;            /* per task: words per document */
    struct ps_textprep_worker **workers;
    int n_tasks;
};

struct tok_ctx {
    struct doc_batch *b;
    struct ps_buf *out;
    size_t n;
};

static void tok_word(const char *w, size_t len, void *ud)
{
    struct tok_ctx *c = ud;
    ps_buf_append(c->out, w, len + 1);   /* with the NUL */
    c->n++;
}

static void tok_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct doc_batch *b = ctx;
    long lo, hi;
    ps_split_range((long)b->n, b->n_tasks, task, &lo, &hi);
    ps_buf_reset(&b->words[task]);
    for (long d = lo; d < hi; d++) {
        struct tok_ctx c = { b, &b->words[task], 0 };
        struct ps_err err = {0};
        /* The reader has validated UTF-8, so this cannot fail. */
        ps_textprep_words(b->workers[task], b->texts[d], strlen(b->texts[d]), tok_word, &c, &err);
        b->counts[task][d - lo] = c.n;
    }
}

#define BATCH 4096

/* Per-document bookkeeping for outputs. */
struct docs {
    size_t n;
    uint32_t *user;             /* per doc: user index (with --id-col) */
    long *record;               /* per doc: 1-based record number */
    char **ids;                 /* per doc id text (infer) */
    size_t cap;
    struct ps_strmap *users;    /* user id -> index, in first-seen order */
};

/*
 * Reads the input, tokenises in batches and calls add(word) / end_doc() in
 * input order.  Bad rows are skipped and counted (or fatal with --strict).
 */
typedef void (*add_word_fn)(void *ud, const char *w, size_t len);
typedef void (*end_doc_fn)(void *ud);

static int read_texts(const struct opts *o, struct ps_textprep *tp, struct ps_pool *pool,
                      add_word_fn add, end_doc_fn end, void *ud, struct docs *docs,
                      int keep_ids, struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r;
    int rc = ps_reader_open(&r, o->in, &rp, err);
    if (rc)
        return rc;
    int tcol = ps_reader_column_index(r, o->text_col);
    int icol = o->id_col ? ps_reader_column_index(r, o->id_col) : -1;
    if (tcol < 0 || (o->id_col && icol < 0)) {
        struct ps_buf cols;
        ps_buf_init(&cols);
        for (int i = 0; i < ps_reader_n_columns(r); i++)
            ps_buf_printf(&cols, "%s%s", i ? ", " : "", ps_reader_column_name(r, i));
        rc = ps_err_set(err, PS_ERR_USAGE, "%s: no column \"%s\" (columns: %s)", ps_reader_name(r),
                        tcol < 0 ? o->text_col : o->id_col, cols.data ? cols.data : "");
        ps_buf_release(&cols);
        ps_reader_close(r);
        return rc;
    }
    int T = pool ? ps_pool_n_threads(pool) : 1;
    struct doc_batch b;
    memset(&b, 0, sizeof b);
    b.n_tasks = T;
    b.texts = ps_xcalloc(BATCH, sizeof *b.texts);
    b.words = ps_xcalloc((size_t)T, sizeof *b.words);
    b.counts = ps_xcalloc((size_t)T, sizeof *b.counts);
    b.workers = ps_xcalloc((size_t)T, sizeof *b.workers);
    for (int t = 0; t < T; t++) {
        ps_buf_init(&b.words[t]);
        b.counts[t] = ps_xmalloc((BATCH / T + 2) * sizeof **b.counts);
        b.workers[t] = ps_textprep_worker_new(tp);
    }
    long n_bad = 0;
    struct ps_progress prog;
    struct stat st;
    ps_progress_begin(&prog, "reading", stat(o->in, &st) == 0 ? (uint64_t)st.st_size : 0);
    int done = 0;
    while (!done) {
        b.n = 0;
        while (b.n < BATCH) {
            int s = ps_reader_next(r);
            if (s == PS_DONE) {
                done = 1;
                break;
            }
            if (s == PS_ERR_BAD_ROW) {
                if (o->strict) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
                    done = 1;
                    break;
                }
                if (n_bad++ == 0)
                    ps_log(PS_LOG_WARN, "skipping bad row: %s", ps_reader_errmsg(r));
                continue;
            }
            if (s != PS_OK) {
                rc = ps_err_set(err, s, "%s", ps_reader_errmsg(r));
                done = 1;
                break;
            }
            size_t len;
            const char *t = ps_reader_field(r, tcol, &len);
            b.texts[b.n++] = ps_xstrndup(t, len);
            docs->record = ps_xgrow(docs->record, &docs->cap, docs->n + 1, sizeof *docs->record);
            size_t cap2 = docs->cap;
            docs->user = ps_xrealloc(docs->user, cap2 * sizeof *docs->user);
            if (keep_ids)
                docs->ids = ps_xrealloc(docs->ids, cap2 * sizeof *docs->ids);
            docs->record[docs->n] = ps_reader_record_index(r);
            docs->user[docs->n] = 0;
            if (icol >= 0) {
                size_t il;
                const char *id = ps_reader_field(r, icol, &il);
                docs->user[docs->n] = ps_strmap_intern(docs->users, id, il, NULL);
                if (keep_ids)
                    docs->ids[docs->n] = ps_xstrndup(id, il);
            } else if (keep_ids) {
                char num[32];
                snprintf(num, sizeof num, "%ld", ps_reader_record_index(r));
                docs->ids[docs->n] = ps_xstrdup(num);
            }
            docs->n++;
        }
        if (rc)
            break;
        ps_pool_run(pool, T, tok_task, &b);
        for (int t = 0; t < T; t++) {
            long lo, hi;
            ps_split_range((long)b.n, T, t, &lo, &hi);
            const char *p = b.words[t].data;
            for (long d = lo; d < hi; d++) {
                for (size_t j = 0; j < b.counts[t][d - lo]; j++) {
                    size_t l = strlen(p);
                    add(ud, p, l);
                    p += l + 1;
                }
                end(ud);
            }
        }
        for (size_t d = 0; d < b.n; d++)
            free(b.texts[d]);
        ps_progress_update(&prog, ps_reader_bytes_read(r));
    }
    ps_progress_end(&prog);
    if (n_bad)
        ps_log(PS_LOG_WARN, "%s: skipped %ld bad row%s", ps_reader_name(r), n_bad, n_bad == 1 ? "" : "s");
    for (size_t d = 0; d < b.n && rc; d++)
        free(b.texts[d]);
    for (int t = 0; t < T; t++) {
        ps_buf_release(&b.words[t]);
        free(b.counts[t]);
        ps_textprep_worker_free(b.workers[t]);
    }
    free(b.texts);
    free(b.words);
    free(b.counts);
    free(b.workers);
    ps_reader_close(r);
    return rc;
}

static void builder_add(void *ud, const char *w, size_t len)
{
    ps_corpus_builder_add(ud, w, len);
}

static void builder_end(void *ud)
{
    ps_corpus_builder_end_doc(ud);
}

/* ---- outputs ----------------------------------------------------------------- */

static int make_dir(const char *dir, struct ps_err *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ps_err_set(err, PS_ERR_IO, "cannot create folder '%s': %s", dir, strerror(errno));
    return PS_OK;
}

static char *path_in(const char *dir, const char *name)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "%s/%s", dir, name);
    return b.data;
}

/* Writes X.npy's sidecars X.ids.txt and X.json (docs/ARCHITECTURE.md). */
static int write_sidecars(const char *npy, int K, size_t rows, const char *const *ids,
                          struct ps_err *err)
{
    size_t n = strlen(npy);
    size_t stem = n > 4 && strcmp(npy + n - 4, ".npy") == 0 ? n - 4 : n;
    struct ps_buf ip, jp, j;
    ps_buf_init(&ip);
    ps_buf_init(&jp);
    ps_buf_init(&j);
    ps_buf_printf(&ip, "%.*s.ids.txt", (int)stem, npy);
    ps_buf_printf(&jp, "%.*s.json", (int)stem, npy);
    const char *base = strrchr(ip.data, '/');
    base = base ? base + 1 : ip.data;
    struct ps_afile f;
    int rc = ps_afile_open(&f, ip.data, err);
    if (rc == PS_OK) {
        for (size_t i = 0; i < rows; i++)
            fprintf(f.fp, "%s\n", ids[i]);
        rc = ps_afile_commit(&f, err);
    }
    if (rc == PS_OK) {
        ps_buf_append(&j, "{\"columns\": [", 13);
        for (int k = 0; k < K; k++)
            ps_buf_printf(&j, "%s\"topic_%d\"", k ? ", " : "", k);
        ps_buf_printf(&j, "], \"rows\": %zu, \"ids\": ", rows);
        ps_buf_json_str(&j, base, strlen(base));
        ps_buf_append(&j, "}\n", 2);
        rc = ps_afile_open(&f, jp.data, err);
        if (rc == PS_OK) {
            fwrite(j.data, 1, j.len, f.fp);
            rc = ps_afile_commit(&f, err);
        }
    }
    ps_buf_release(&ip);
    ps_buf_release(&jp);
    ps_buf_release(&j);
    return rc;
}

static const char *sampler_name(enum ps_lda_sampler s, int K)
{
    if (s == PS_LDA_SAMPLER_AUTO)
        s = K >= 100 ? PS_LDA_SAMPLER_ALIAS : PS_LDA_SAMPLER_DENSE;
    return s == PS_LDA_SAMPLER_ALIAS ? "alias" : "dense";
}

static int write_topics_json(const char *path, const struct ps_lda *m, const struct ps_corpus *c,
                             const float *phi, int M, const struct opts *o, struct ps_err *err)
{
    int K = ps_lda_k(m);
    uint32_t V = ps_lda_n_words(m);
    if ((uint32_t)M > V)
        M = (int)V;
    uint32_t *top = ps_xmalloc((size_t)K * M * sizeof *top);
    float *wt = ps_xmalloc((size_t)K * M * sizeof *wt);
    double *um = ps_xmalloc((size_t)K * sizeof *um), *np = ps_xmalloc((size_t)K * sizeof *np);
    ps_lda_top_words(phi, K, V, M, top, wt);
    ps_topic_coherence(c, top, K, M, um, np);
    double mu = 0, mn = 0;
    for (int k = 0; k < K; k++) {
        mu += um[k] / K;
        mn += np[k] / K;
    }
    /* Topic shares: the fraction of tokens assigned to each topic. */
    uint64_t *nk = ps_xcalloc((size_t)K, sizeof *nk);
    for (uint32_t w = 0; w < V; w++)
        for (int k = 0; k < K; k++)
            nk[k] += (uint64_t)ps_lda_count(m, w, k);
    const struct ps_lda_params *p = ps_lda_params(m);
    struct ps_buf j;
    ps_buf_init(&j);
    ps_buf_printf(&j, "{\n  \"k\": %d,\n  \"n_docs\": %u,\n  \"n_words\": %u,\n  \"n_tokens\": %llu,\n",
                  K, c->n_docs, V, (unsigned long long)c->n_tokens);
    ps_buf_printf(&j, "  \"iters\": %d,\n  \"seed\": %llu,\n  \"sampler\": \"%s\",\n  \"lang\": \"%s\",\n",
                  ps_lda_sweeps(m), (unsigned long long)p->seed, sampler_name(p->sampler, K),
                  ps_lang_name(o->lang));
    ps_buf_printf(&j, "  \"beta\": %.9g,\n  \"alpha\": [", ps_lda_beta(m));
    for (int k = 0; k < K; k++)
        ps_buf_printf(&j, "%s%.9g", k ? ", " : "", ps_lda_alpha(m)[k]);
    ps_buf_printf(&j, "],\n  \"coherence\": {\"umass\": %.6f, \"npmi\": %.6f, \"top_n\": %d},\n"
                  "  \"topics\": [\n", mu, mn, M);
    for (int k = 0; k < K; k++) {
        ps_buf_printf(&j, "    {\"id\": %d, \"share\": %.6f, \"umass\": %.6f, \"npmi\": %.6f, \"words\": [",
                      k, c->n_tokens ? (double)nk[k] / (double)c->n_tokens : 0.0, um[k], np[k]);
        for (int i = 0; i < M; i++) {
            size_t len;
            const char *w = ps_strmap_key(c->vocab, top[(size_t)k * M + i], &len);
            ps_buf_printf(&j, "%s{\"word\": ", i ? ", " : "");
            ps_buf_json_str(&j, w, len);
            ps_buf_printf(&j, ", \"weight\": %.6g}", wt[(size_t)k * M + i]);
        }
        ps_buf_printf(&j, "]}%s\n", k + 1 < K ? "," : "");
    }
    ps_buf_printf(&j, "  ]\n}\n");
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc == PS_OK) {
        fwrite(j.data, 1, j.len, f.fp);
        rc = ps_afile_commit(&f, err);
    }
    if (!o->quiet)
        for (int k = 0; k < K && k < 50; k++) {
            fprintf(stderr, "topic %2d:", k);
            for (int i = 0; i < M && i < 8; i++)
                fprintf(stderr, " %s", ps_strmap_key(c->vocab, top[(size_t)k * M + i], NULL));
            fputc('\n', stderr);
        }
    ps_buf_release(&j);
    free(top);
    free(wt);
    free(um);
    free(np);
    free(nk);
    return rc;
}

struct fit_progress {
    struct ps_progress prog;
};

static int on_sweep(const struct ps_lda *m, int sweep, void *ud)
{
    (void)m;
    struct fit_progress *fp = ud;
    ps_progress_update(&fp->prog, (uint64_t)sweep + 1);
    return 0;
}

static int topics_fit(int argc, char **argv)
{
    const char *cmd = "topics fit";
    struct opts o;
    memset(&o, 0, sizeof o);
    o.iters = 200;
    o.seed = 42;
    o.alpha = 0.1;
    o.beta = 0.01;
    o.min_df = 5;
    o.max_df = 0.5;
    o.max_vocab = 50000;
    o.top = 10;
    if (parse_opts(cmd, argc, argv, &o))
        return CLI_USAGE;
    if (!o.in || !o.text_col || !o.k || !o.out)
        return cli_usage_error(cmd, "--in, --text-col, --k and --out are required");
    if (o.model)
        return cli_usage_error(cmd, "--model is for 'topics infer'");
    cli_setup_logging(o.quiet);
    ps_progress_set_quiet(o.quiet);
    struct ps_err err = {0};
    struct ps_pool *pool = ps_pool_new((int)o.threads);
    int T = ps_pool_n_threads(pool);
    struct ps_textprep_params tpp = ps_textprep_default_params();
    tpp.lang = o.lang;
    struct ps_textprep *tp = NULL;
    struct ps_corpus_builder *b = ps_corpus_builder_new();
    struct ps_corpus c;
    memset(&c, 0, sizeof c);
    struct docs docs;
    memset(&docs, 0, sizeof docs);
    docs.users = ps_strmap_new();
    struct ps_lda *m = NULL;
    float *theta = NULL, *phi = NULL, *ut = NULL;
    char *p = NULL;
    double t0 = ps_now();
    int rc = ps_textprep_new(&tp, &tpp, &err);
    if (!rc)
        rc = read_texts(&o, tp, pool, builder_add, builder_end, b, &docs, 0, &err);
    struct ps_vocab_params vp = { (uint32_t)o.min_df, o.max_df, (uint32_t)o.max_vocab };
    if (!rc)
        rc = ps_corpus_builder_finish(b, &vp, &c, &err);
    ps_corpus_builder_free(b);
    if (!rc && c.n_tokens == 0)
        rc = ps_err_set(&err, PS_ERR_BAD_INPUT, "%s: no words left to model", o.in);
    if (!rc && o.export_bow) {
        rc = make_dir(o.export_bow, &err);
        if (!rc) { p = path_in(o.export_bow, "corpus.ldac"); rc = ps_corpus_write_ldac(&c, p, &err); free(p); }
        if (!rc) { p = path_in(o.export_bow, "vocab.txt"); rc = ps_corpus_write_vocab(&c, p, &err); free(p); }
    }
    double t_prep = ps_now() - t0;
    if (!rc) {
        struct ps_lda_params lp = ps_lda_default_params();
        lp.k = (int)o.k;
        lp.iters = (int)o.iters;
        lp.alpha = o.alpha;
        lp.beta = o.beta;
        lp.seed = (uint64_t)o.seed;
        lp.n_threads = T;
        lp.sampler = o.sampler;
        lp.optimize_alpha = o.optimize_alpha;
        lp.prep.lang = (int32_t)o.lang;
        lp.prep.min_word_len = tpp.min_word_len;
        lp.prep.min_han_len = tpp.min_han_len;
        lp.prep.keep_numbers = tpp.keep_numbers;
        lp.prep.min_df = vp.min_df;
        lp.prep.max_df = vp.max_df;
        lp.prep.max_vocab = vp.max_vocab;
        theta = ps_xmalloc((size_t)c.n_docs * o.k * sizeof *theta);
        struct fit_progress fp;
        ps_progress_begin(&fp.prog, "lda", (uint64_t)o.iters);
        rc = ps_lda_fit(&m, &c, &lp, pool, on_sweep, &fp, theta, &err);
        ps_progress_end(&fp.prog);
    }
    double t_fit = ps_now() - t0 - t_prep;
    if (!rc)
        rc = make_dir(o.out, &err);
    int K = (int)o.k;
    if (!rc) {
        phi = ps_xmalloc((size_t)K * c.n_words * sizeof *phi);
        ps_lda_topic_word(m, phi);
        p = path_in(o.out, "topic_word.npy");
        rc = ps_npy_write_f32(p, phi, (size_t)K, c.n_words, &err);
        free(p);
    }
    if (!rc) { p = path_in(o.out, "vocab.txt"); rc = ps_corpus_write_vocab(&c, p, &err); free(p); }
    if (!rc) { p = path_in(o.out, "model.lda"); rc = ps_lda_save(m, p, &err); free(p); }
    if (!rc) { p = path_in(o.out, "topics.json"); rc = write_topics_json(p, m, &c, phi, (int)o.top, &o, &err); free(p); }
    if (!rc) {
        p = path_in(o.out, "doc_topics.npy");
        rc = ps_npy_write_f32(p, theta, c.n_docs, (size_t)K, &err);
        char **ids = ps_xmalloc((c.n_docs ? c.n_docs : 1) * sizeof *ids);
        for (uint32_t d = 0; d < c.n_docs; d++) {
            char num[32];
            snprintf(num, sizeof num, "%ld", docs.record[d]);
            ids[d] = ps_xstrdup(num);
        }
        if (!rc)
            rc = write_sidecars(p, K, c.n_docs, (const char *const *)ids, &err);
        for (uint32_t d = 0; d < c.n_docs; d++)
            free(ids[d]);
        free(ids);
        free(p);
    }
    if (!rc && o.id_col) {
        /* A user's mix: sum_d L_d theta_d / sum_d L_d over the user's
         * documents (L_d = words kept); NaN when the user has none. */
        uint32_t U = ps_strmap_count(docs.users);
        double *acc = ps_xcalloc((size_t)U * K, sizeof *acc);
        double *wsum = ps_xcalloc(U ? U : 1, sizeof *wsum);
        for (uint32_t d = 0; d < c.n_docs; d++) {
            double L = (double)(c.doc_off[d + 1] - c.doc_off[d]);
            uint32_t u = docs.user[d];
            wsum[u] += L;
            for (int k = 0; k < K; k++)
                acc[(size_t)u * K + k] += L * theta[(size_t)d * K + k];
        }
        ut = ps_xmalloc(((size_t)U * K + 1) * sizeof *ut);
        for (uint32_t u = 0; u < U; u++)
            for (int k = 0; k < K; k++)
                ut[(size_t)u * K + k] = wsum[u] > 0 ? (float)(acc[(size_t)u * K + k] / wsum[u]) : NAN;
        p = path_in(o.out, "user_topics.npy");
        rc = ps_npy_write_f32(p, ut, U, (size_t)K, &err);
        const char **ids = ps_xmalloc((U ? U : 1) * sizeof *ids);
        for (uint32_t u = 0; u < U; u++)
            ids[u] = ps_strmap_key(docs.users, u, NULL);
        if (!rc)
            rc = write_sidecars(p, K, U, ids, &err);
        free(ids);
        free(p);
        free(acc);
        free(wsum);
    }
    if (!rc && !o.quiet)
        fprintf(stderr, "fitted %d topics on %u documents (%u words, %llu tokens): "
                "prepare %.2fs, sample %.2fs (%d sweeps, %d threads)\n", K, c.n_docs, c.n_words,
                (unsigned long long)c.n_tokens, t_prep, t_fit, ps_lda_sweeps(m), T);
    ps_lda_free(m);
    ps_textprep_free(tp);
    ps_corpus_release(&c);
    ps_strmap_free(docs.users);
    free(docs.user);
    free(docs.record);
    free(theta);
    free(phi);
    free(ut);
    ps_pool_free(pool);
    return rc ? cli_fail_err(&err) : CLI_OK;
}

/* ---- infer --------------------------------------------------------------- */

struct infer_acc {
    const struct ps_lda *m;
    uint32_t *words;            /* all kept word ids */
    size_t n, cap;
    uint64_t *off;              /* per doc */
    size_t n_docs, off_cap;
};

static void infer_add(void *ud, const char *w, size_t len)
{
    struct infer_acc *a = ud;
    int64_t id = ps_lda_word_id(a->m, w, len);
    if (id < 0)
        return;
    a->words = ps_xgrow(a->words, &a->cap, a->n + 1, sizeof *a->words);
    a->words[a->n++] = (uint32_t)id;
}

static void infer_end(void *ud)
{
    struct infer_acc *a = ud;
    a->off = ps_xgrow(a->off, &a->off_cap, a->n_docs + 2, sizeof *a->off);
    a->off[++a->n_docs] = a->n;
}

struct infer_job {
    const struct ps_lda *m;
    const struct infer_acc *a;
    float *theta;
    int iters, n_tasks;
    uint64_t seed;
};

static void infer_task(void *ctx, int task, int worker)
{
    (void)worker;
    struct infer_job *j = ctx;
    int K = ps_lda_k(j->m);
    long lo, hi;
    ps_split_range((long)j->a->n_docs, j->n_tasks, task, &lo, &hi);
    for (long d = lo; d < hi; d++)
        ps_lda_infer(j->m, j->a->words + j->a->off[d], (size_t)(j->a->off[d + 1] - j->a->off[d]),
                     j->iters, j->seed, j->theta + (size_t)d * K);
}

static int topics_infer(int argc, char **argv)
{
    const char *cmd = "topics infer";
    struct opts o;
    memset(&o, 0, sizeof o);
    o.iters = 50;
    o.seed = 42;
    if (parse_opts(cmd, argc, argv, &o))
        return CLI_USAGE;
    if (!o.model || !o.in || !o.text_col || !o.out)
        return cli_usage_error(cmd, "--model, --in, --text-col and --out are required");
    if (o.k)
        return cli_usage_error(cmd, "--k comes from the model; do not give it to 'topics infer'");
    cli_setup_logging(o.quiet);
    ps_progress_set_quiet(o.quiet);
    struct ps_err err = {0};
    struct ps_lda *m = NULL;
    char *mp = path_in(o.model, "model.lda");
    int rc = ps_lda_load(&m, mp, &err);
    free(mp);
    if (rc)
        return cli_fail_err(&err);
    const struct ps_lda_params *lp = ps_lda_params(m);
    struct ps_textprep_params tpp = ps_textprep_default_params();
    tpp.lang = (enum ps_lang)lp->prep.lang;
    tpp.min_word_len = lp->prep.min_word_len;
    tpp.min_han_len = lp->prep.min_han_len;
    tpp.keep_numbers = lp->prep.keep_numbers;
    o.lang = tpp.lang;
    struct ps_pool *pool = ps_pool_new((int)o.threads);
    struct ps_textprep *tp = NULL;
    struct infer_acc a;
    memset(&a, 0, sizeof a);
    a.m = m;
    a.off = ps_xgrow(NULL, &a.off_cap, 1, sizeof *a.off);
    a.off[0] = 0;
    struct docs docs;
    memset(&docs, 0, sizeof docs);
    docs.users = ps_strmap_new();
    float *theta = NULL;
    rc = ps_textprep_new(&tp, &tpp, &err);
    if (!rc)
        rc = read_texts(&o, tp, pool, infer_add, infer_end, &a, &docs, 1, &err);
    int K = ps_lda_k(m);
    if (!rc) {
        theta = ps_xmalloc((a.n_docs * K + 1) * sizeof *theta);
        int n_tasks = ps_pool_n_threads(pool) * 4;
        struct infer_job j = { m, &a, theta, (int)o.iters, n_tasks, (uint64_t)o.seed };
        ps_pool_run(pool, n_tasks, infer_task, &j);
        rc = ps_npy_write_f32(o.out, theta, a.n_docs, (size_t)K, &err);
    }
    if (!rc)
        rc = write_sidecars(o.out, K, a.n_docs, (const char *const *)docs.ids, &err);
    if (!rc && !o.quiet)
        fprintf(stderr, "inferred topic mixes for %zu documents (%zu known words)\n", a.n_docs, a.n);
    for (size_t d = 0; d < docs.n; d++)
        free(docs.ids[d]);
    free(docs.ids);
    free(docs.user);
    free(docs.record);
    ps_strmap_free(docs.users);
    free(a.words);
    free(a.off);
    free(theta);
    ps_textprep_free(tp);
    ps_lda_free(m);
    ps_pool_free(pool);
    return rc ? cli_fail_err(&err) : CLI_OK;
}

static int cmd_topics_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("topics", "expected a subcommand: fit or infer");
    if (strcmp(argv[1], "fit") == 0)
        return topics_fit(argc - 1, argv + 1);
    if (strcmp(argv[1], "infer") == 0)
        return topics_infer(argc - 1, argv + 1);
    return cli_usage_error("topics", "unknown subcommand '%s' (expected fit or infer)", argv[1]);
}

PS_COMMAND(topics, "LDA topics over user texts (fit, infer)", TOPICS_USAGE, cmd_topics_main)
