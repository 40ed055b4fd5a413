/*
 * cmd_lm.c - `persona lm train` (train or continue a GPT-2 on a corpus) and
 * `persona lm tokenizer` (train a byte-level BPE tokenizer); see
 * docs/training.md.
 */
#include "cli.h"
#include "persona/bpe_train.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/progress.h"
#include "persona/pool.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"
#include "persona/train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                               \
    "usage: persona lm train --corpus FILE --text-col NAME --tokenizer DIR --out DIR\n"      \
    "                        (--init DIR | --config n_layer=L,n_embd=C,n_head=H,n_ctx=N |\n" \
    "                         --resume DIR) [options]\n"                                    \
    "       persona lm tokenizer --corpus FILE --text-col NAME --vocab-size N --out DIR\n"  \
    "\n"                                                                                    \
    "Corpus (both subcommands):\n"                                                          \
    "  --corpus FILE        CSV or JSON Lines; repeat for several files\n"                  \
    "  --text-col NAME      column holding the text; once for all files, or once per\n"    \
    "                       --corpus in the same order\n"                                   \
    "\n"                                                                                    \
    "lm train:\n"                                                                           \
    "  --init DIR           start from a GPT-2 checkpoint folder\n"                         \
    "  --config SPEC        start from scratch: n_layer=,n_embd=,n_head=,n_ctx=\n"          \
    "                       [,vocab_size=] (default vocab: the tokenizer's)\n"              \
    "  --resume DIR         continue the run saved in DIR (weights, AdamW moments,\n"       \
    "                       step and settings from DIR/trainer_state.bin)\n"                \
    "  --tokenizer DIR      vocab.json + merges.txt (default: the --init/--resume DIR)\n"   \
    "  --out DIR            checkpoint folder (config.json, model.safetensors,\n"           \
    "                       tokenizer files, trainer_state.bin, train_log.csv)\n"           \
    "  --steps N            optimizer steps in all (default 1000; with --resume:\n"       \
    "                       the resumed run's)\n"                                             \
    "  --batch B            sequences per micro-batch (default 8)\n"                        \
    "  --seq T              tokens per sequence (default: the context)\n"                   \
    "  --grad-accum N       micro-batches per step (default 1)\n"                           \
    "  --lr LR              peak learning rate (default 6e-4)\n"                            \
    "  --min-lr LR          final learning rate of the cosine (default lr / 10)\n"          \
    "  --warmup N           linear warmup steps (default steps / 20)\n"                     \
    "  --weight-decay W     AdamW decoupled decay of matrices (default 0.1)\n"              \
    "  --grad-clip G        clip the global gradient norm (default 1; 0 = off)\n"           \
    "  --val-frac F         share of texts held out for validation (default 0.05)\n"        \
    "  --val-batches N      batches per validation (default 8)\n"                           \
    "  --eval-every N       steps between validations (default steps / 10)\n"               \
    "  --log-every N        steps between log lines (default 10)\n"                         \
    "  --save-every N       steps between checkpoints (default: at the end)\n"              \
    "  --stop-at N          stop after step N, keeping the schedule of --steps\n"           \
    "                       (Ctrl-C also stops after the current step, with a checkpoint)\n" \
    "  --f16                store the weights in F16 (the state file keeps F32)\n"          \
    "  --seed S             initialisation, split and batch seed (default 1)\n"             \
    "\n"                                                                                    \
    "lm tokenizer:\n"                                                                       \
    "  --vocab-size N       ids in all: 256 bytes + merges + <|endoftext|>\n"               \
    "  --min-frequency N    stop merging below N occurrences (default 2)\n"                 \
    "  --out DIR            vocab.json, merges.txt, tokenizer_config.json\n"                \
    "\n"                                                                                    \
    "  -t, --threads N      threads (default: all cores)\n"                                 \
    "  -q, --quiet          no progress bar or log lines\n"

#define MAX_CORPUS 16

struct opts {
    const char *corpus[MAX_CORPUS];
    const char *text_col[MAX_CORPUS];
    int n_corpus, n_text_col;
    const char *init, *config, *resume, *tokenizer, *out;
    long vocab_size, min_frequency, threads;
    int quiet, f16;
    struct ps_train_params tp;
};

/* cli_opt_value that prints the usage error for a missing value. */
static int take(int argc, char **argv, int *i, const char *name, const char **val,
                const char *cmd, int *missing)
{
    if (!cli_opt_value(argc, argv, i, name, NULL, val, missing))
        return 0;
    if (*missing)
        cli_usage_error(cmd, "option %s needs a value", name);
    return 1;
}

/* ---- reading a corpus ------------------------------------------------------ */

typedef int (*text_fn)(const char *text, size_t len, void *ud, struct ps_err *err);

static int read_corpus(const struct opts *o, text_fn fn, void *ud, long *n_texts,
                       struct ps_err *err)
{
    *n_texts = 0;
    long bad = 0;
    for (int c = 0; c < o->n_corpus; c++) {
        struct ps_reader_params rp = ps_reader_default_params();
        struct ps_reader *r = NULL;
        int rc = ps_reader_open(&r, o->corpus[c], &rp, err);
        if (rc)
            return rc;
        const char *col = o->text_col[o->n_text_col == 1 ? 0 : c];
        int st = ps_reader_next(r);
        int ci = ps_reader_column_index(r, col);
        if (ci < 0 && st != PS_DONE && !(st < 0 && st != PS_ERR_BAD_ROW)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no column \"%s\"", ps_reader_name(r),
                            col);
            ps_reader_close(r);
            return rc;
        }
        for (; st != PS_DONE; st = ps_reader_next(r)) {
            if (st == PS_ERR_BAD_ROW) {
                if (bad++ < 5)
                    ps_log(PS_LOG_WARN, "%s (row skipped)", ps_reader_errmsg(r));
                continue;
            }
            if (st < 0) {
                rc = ps_err_set(err, st, "%s", ps_reader_errmsg(r));
                ps_reader_close(r);
                return rc;
            }
            size_t len = 0;
            const char *text = ps_reader_field(r, ci, &len);
            if (!text || len == 0)
                continue;
            rc = fn(text, len, ud, err);
            if (rc == PS_ERR_BAD_INPUT) {
                if (bad++ < 5)
                    ps_log(PS_LOG_WARN, "%s:%ld: column \"%s\": %s (row skipped)",
                           ps_reader_name(r), ps_reader_line(r), col, err->msg);
                continue;
            }
            if (rc) {
                ps_reader_close(r);
                return rc;
            }
            (*n_texts)++;
        }
        ps_reader_close(r);
    }
    if (bad)
        ps_log(PS_LOG_WARN, "%ld rows skipped", bad);
    return PS_OK;
}

/* ---- lm tokenizer ------------------------------------------------------------ */

static int add_text(const char *text, size_t len, void *ud, struct ps_err *err)
{
    return ps_bpe_trainer_add(ud, text, len, err);
}

static int run_tokenizer(struct opts *o)
{
    if (!o->vocab_size)
        return cli_usage_error("lm tokenizer", "--vocab-size is required");
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_bpe_train_params bp = ps_bpe_train_default_params();
    bp.vocab_size = (int)o->vocab_size;
    if (o->min_frequency)
        bp.min_frequency = o->min_frequency;
    struct ps_bpe_trainer *t = NULL;
    if (ps_bpe_trainer_new(&t, &bp, &err))
        return cli_fail_err(&err);
    double t0 = ps_now();
    long n_texts = 0;
    int rc = read_corpus(o, add_text, t, &n_texts, &err);
    if (rc == PS_OK && n_texts == 0)
        rc = ps_err_set(&err, PS_ERR_BAD_INPUT, "the corpus has no texts");
    double t1 = ps_now();
    if (rc == PS_OK)
        rc = ps_bpe_trainer_train(t, &err);
    if (rc == PS_OK)
        rc = ps_bpe_trainer_save(t, o->out, &err);
    if (rc == PS_OK && !o->quiet)
        ps_log(PS_LOG_INFO,
               "lm tokenizer: %ld texts, %zu distinct words (%.1f s), %zu merges (%.1f s), "
               "vocabulary %zu written to %s",
               n_texts, ps_bpe_trainer_n_words(t), t1 - t0, ps_bpe_trainer_n_merges(t),
               ps_now() - t1, ps_bpe_trainer_n_merges(t) + 257, o->out);
    if (rc == PS_OK && ps_bpe_trainer_n_merges(t) + 257 < (size_t)o->vocab_size)
        ps_log(PS_LOG_WARN,
               "only %zu merges reach --min-frequency; the vocabulary is smaller than asked",
               ps_bpe_trainer_n_merges(t));
    ps_bpe_trainer_free(t);
    return rc ? cli_fail_err(&err) : CLI_OK;
}

/* ---- lm train ------------------------------------------------------------------ */

struct tok_stream {
    const struct ps_tokenizer *tok;
    int32_t eos;
    int32_t max_id;
    uint64_t seed;
    double val_frac;
    long index;
    int32_t *ids[2];
    size_t n[2], cap[2];
};

static void stream_push(struct tok_stream *s, int which, const int32_t *ids, size_t n)
{
    if (s->n[which] + n + 1 > s->cap[which]) {
        size_t c = s->cap[which] ? s->cap[which] : 1 << 16;
        while (c < s->n[which] + n + 1)
            c *= 2;
        s->ids[which] = ps_xrealloc(s->ids[which], c * sizeof(int32_t));
        s->cap[which] = c;
    }
    memcpy(s->ids[which] + s->n[which], ids, n * sizeof(int32_t));
    s->n[which] += n;
}

static int tokenize_text(const char *text, size_t len, void *ud, struct ps_err *err)
{
    struct tok_stream *s = ud;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ps_tokenizer_encode(s->tok, text, len, 0, &ids, &n, err);
    if (rc)
        return rc;
    uint64_t key = (uint64_t)s->index++;
    uint64_t h = ps_hash64(&key, sizeof key, s->seed);
    int which = (double)(h >> 11) * 0x1.0p-53 < s->val_frac;
    for (size_t i = 0; i < n; i++)
        if (ids[i] > s->max_id)
            s->max_id = ids[i];
    stream_push(s, which, ids, n);
    if (s->eos >= 0)
        stream_push(s, which, &s->eos, 1);
    free(ids);
    return PS_OK;
}

static int parse_config(const char *spec, struct ps_train_config *c, long *vocab)
{
    char *s = ps_xstrdup(spec), *save = NULL;
    int ok = 1;
    for (char *kv = strtok_r(s, ",", &save); kv && ok; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            ok = cli_usage_error("lm train", "--config: expected KEY=VALUE, got \"%s\"", kv) == 0;
            break;
        }
        *eq = 0;
        long v;
        if (cli_parse_long("lm train", kv, eq + 1, 1, 1000000, &v)) {
            ok = 0;
            break;
        }
        if (strcmp(kv, "n_layer") == 0)
            c->n_layer = (int)v;
        else if (strcmp(kv, "n_embd") == 0)
            c->n_embd = (int)v;
        else if (strcmp(kv, "n_head") == 0)
            c->n_head = (int)v;
        else if (strcmp(kv, "n_ctx") == 0 || strcmp(kv, "n_positions") == 0)
            c->n_ctx = (int)v;
        else if (strcmp(kv, "vocab_size") == 0)
            *vocab = v;
        else {
            cli_usage_error("lm train", "--config: unknown key \"%s\" (n_layer, n_embd, n_head, "
                            "n_ctx, vocab_size)", kv);
            ok = 0;
        }
    }
    free(s);
    if (ok && (!c->n_layer || !c->n_embd || !c->n_head || !c->n_ctx)) {
        cli_usage_error("lm train", "--config needs n_layer, n_embd, n_head and n_ctx");
        ok = 0;
    }
    return ok ? 0 : -1;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (interrupted)
        _exit(130);
    interrupted = 1;
}

static void log_line(const char *line, void *ud)
{
    (void)ud;
    ps_log(PS_LOG_INFO, "%s", line);
}

static int run_train(struct opts *o)
{
    int n_start = !!o->init + !!o->config + !!o->resume;
    if (n_start != 1)
        return cli_usage_error("lm train", "give exactly one of --init, --config, --resume");
    const char *tok_dir = o->tokenizer ? o->tokenizer : o->init ? o->init : o->resume;
    if (!tok_dir)
        return cli_usage_error("lm train", "--tokenizer is required with --config");
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_tokenizer *tok = NULL;
    struct ps_train_model *m = NULL;
    struct ps_pool *pool = NULL;
    struct tok_stream s = {0};
    struct ps_train_data d = {0};
    struct ps_train_state st;
    int have_state = 0, rc, done_code = CLI_OK;
    rc = ps_tokenizer_load(&tok, tok_dir, &err);
    if (rc)
        goto done;
    if (ps_tokenizer_kind(tok) != PS_TOKENIZER_BPE) {
        rc = ps_err_set(&err, PS_ERR_BAD_INPUT, "%s: a GPT-2 (BPE) tokenizer is needed", tok_dir);
        goto done;
    }
    if (o->config) {
        struct ps_train_config c = {0};
        long vocab = 0;
        if (parse_config(o->config, &c, &vocab)) {
            rc = PS_ERR_USAGE;
            ps_tokenizer_free(tok);
            return CLI_USAGE;
        }
        c.n_vocab = vocab ? (int)vocab : ps_tokenizer_vocab_size(tok);
        c.ln_eps = 1e-5f;
        c.eos_id = ps_tokenizer_eos_id(tok);
        rc = ps_train_model_init(&m, &c, o->tp.seed, &err);
    } else {
        rc = ps_train_model_load(&m, o->init ? o->init : o->resume, &err);
        if (rc == PS_OK && o->resume) {
            rc = ps_train_state_load(m, &st, o->resume, &err);
            have_state = rc == PS_OK;
        }
    }
    if (rc)
        goto done;
    const struct ps_train_config *cfg = ps_train_get_config(m);
    if (ps_tokenizer_vocab_size(tok) > cfg->n_vocab) {
        rc = ps_err_set(&err, PS_ERR_BAD_INPUT,
                        "%s: the tokenizer has %d ids, the model only %d", tok_dir,
                        ps_tokenizer_vocab_size(tok), cfg->n_vocab);
        goto done;
    }
    s.tok = tok;
    s.eos = ps_tokenizer_eos_id(tok);
    s.seed = have_state ? st.seed : o->tp.seed;
    s.val_frac = have_state ? st.val_frac : o->tp.val_frac;
    long n_texts = 0;
    double t0 = ps_now();
    rc = read_corpus(o, tokenize_text, &s, &n_texts, &err);
    if (rc)
        goto done;
    d.train = s.ids[0];
    d.n_train = s.n[0];
    d.val = s.ids[1];
    d.n_val = s.n[1];
    s.ids[0] = s.ids[1] = NULL;
    if (!o->quiet)
        ps_log(PS_LOG_INFO, "lm train: %ld texts, %zu train + %zu validation tokens (%.1f s)",
               n_texts, d.n_train, d.n_val, ps_now() - t0);
    pool = ps_pool_new((int)o->threads);
    ps_set_blas_threads(ps_pool_n_threads(pool));
    o->tp.out_dir = o->out;
    o->tp.tokenizer_dir = tok_dir;
    o->tp.save_f16 = o->f16;
    /* Ctrl-C finishes the current step and saves a checkpoint; a second
     * Ctrl-C exits at once */
    o->tp.interrupt = &interrupted;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    rc = ps_train_run(m, &d, &o->tp, have_state ? &st : NULL, pool, o->quiet ? NULL : log_line,
                      NULL, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc == PS_DONE) {
        ps_log(PS_LOG_WARN, "lm train: interrupted; continue with: persona lm train --resume %s "
               "--out %s (and the same --corpus)", o->out, o->out);
        rc = PS_OK;
        done_code = CLI_FAIL;
    } else if (rc == PS_OK && !o->quiet) {
        ps_log(PS_LOG_INFO, "lm train: checkpoint written to %s", o->out);
    }
done:
    ps_train_data_release(&d);
    free(s.ids[0]);
    free(s.ids[1]);
    ps_pool_free(pool);
    ps_train_model_free(m);
    ps_tokenizer_free(tok);
    return rc ? cli_fail_err(&err) : done_code;
}

static int cmd_lm_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc < 2)
            return cli_usage_error("lm", "expected a subcommand: train or tokenizer");
        cli_print_usage("lm");
        return CLI_OK;
    }
    const char *sub = argv[1];
    int is_train = strcmp(sub, "train") == 0, is_tok = strcmp(sub, "tokenizer") == 0;
    if (!is_train && !is_tok)
        return cli_usage_error("lm", "unknown subcommand \"%s\" (train, tokenizer)", sub);
    const char *cmd = is_train ? "lm train" : "lm tokenizer";
    struct opts o;
    memset(&o, 0, sizeof o);
    o.tp = ps_train_default_params();
    o.tp.n_steps = 0; /* 1000, or the plan of the run being resumed */
    o.threads = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int miss = 0;
        long lv;
        double dv;
#define OPT(name) (take(argc, argv, &i, name, &v, cmd, &miss))
#define MISSING() do { if (miss) return CLI_USAGE; } while (0)
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_usage("lm");
            return CLI_OK;
        } else if (strcmp(a, "--f16") == 0 && is_train) {
            o.f16 = 1;
        } else if (OPT("--corpus")) {
            MISSING();
            if (o.n_corpus == MAX_CORPUS)
                return cli_usage_error(cmd, "at most %d --corpus files", MAX_CORPUS);
            o.corpus[o.n_corpus++] = v;
        } else if (OPT("--text-col")) {
            MISSING();
            if (o.n_text_col == MAX_CORPUS)
                return cli_usage_error(cmd, "at most %d --text-col", MAX_CORPUS);
            o.text_col[o.n_text_col++] = v;
        } else if (OPT("--out")) {
            MISSING();
            o.out = v;
        } else if (OPT("--threads") || (strcmp(a, "-t") == 0 && i + 1 < argc && (v = argv[++i]))) {
            MISSING();
            if (cli_parse_long(cmd, "--threads", v, 1, 1024, &o.threads))
                return CLI_USAGE;
        } else if (is_tok && OPT("--vocab-size")) {
            MISSING();
            if (cli_parse_long(cmd, "--vocab-size", v, 257, 1000000, &o.vocab_size))
                return CLI_USAGE;
        } else if (is_tok && OPT("--min-frequency")) {
            MISSING();
            if (cli_parse_long(cmd, "--min-frequency", v, 1, 1L << 40, &o.min_frequency))
                return CLI_USAGE;
        } else if (is_train && OPT("--init")) {
            MISSING();
            o.init = v;
        } else if (is_train && OPT("--config")) {
            MISSING();
            o.config = v;
        } else if (is_train && OPT("--resume")) {
            MISSING();
            o.resume = v;
        } else if (is_train && OPT("--tokenizer")) {
            MISSING();
            o.tokenizer = v;
        } else if (is_train && OPT("--steps")) {
            MISSING();
            if (cli_parse_long(cmd, "--steps", v, 1, 1L << 40, &o.tp.n_steps))
                return CLI_USAGE;
        } else if (is_train && OPT("--batch")) {
            MISSING();
            if (cli_parse_long(cmd, "--batch", v, 1, 65536, &lv))
                return CLI_USAGE;
            o.tp.batch = (int)lv;
        } else if (is_train && OPT("--seq")) {
            MISSING();
            if (cli_parse_long(cmd, "--seq", v, 1, 65536, &lv))
                return CLI_USAGE;
            o.tp.seq = (int)lv;
        } else if (is_train && OPT("--grad-accum")) {
            MISSING();
            if (cli_parse_long(cmd, "--grad-accum", v, 1, 65536, &lv))
                return CLI_USAGE;
            o.tp.grad_accum = (int)lv;
        } else if (is_train && OPT("--lr")) {
            MISSING();
            if (cli_parse_double(cmd, "--lr", v, 0, 10, &dv))
                return CLI_USAGE;
            o.tp.lr = (float)dv;
        } else if (is_train && OPT("--min-lr")) {
            MISSING();
            if (cli_parse_double(cmd, "--min-lr", v, 0, 10, &dv))
                return CLI_USAGE;
            o.tp.min_lr = (float)dv;
        } else if (is_train && OPT("--warmup")) {
            MISSING();
            if (cli_parse_long(cmd, "--warmup", v, 0, 1L << 40, &o.tp.warmup))
                return CLI_USAGE;
        } else if (is_train && OPT("--weight-decay")) {
            MISSING();
            if (cli_parse_double(cmd, "--weight-decay", v, 0, 10, &dv))
                return CLI_USAGE;
            o.tp.weight_decay = (float)dv;
        } else if (is_train && OPT("--grad-clip")) {
            MISSING();
            if (cli_parse_double(cmd, "--grad-clip", v, 0, 1e9, &dv))
                return CLI_USAGE;
            o.tp.grad_clip = (float)dv;
        } else if (is_train && OPT("--val-frac")) {
            MISSING();
            if (cli_parse_double(cmd, "--val-frac", v, 0, 0.9, &dv))
                return CLI_USAGE;
            o.tp.val_frac = (float)dv;
        } else if (is_train && OPT("--val-batches")) {
            MISSING();
            if (cli_parse_long(cmd, "--val-batches", v, 1, 1000000, &lv))
                return CLI_USAGE;
            o.tp.val_batches = (int)lv;
        } else if (is_train && OPT("--eval-every")) {
            MISSING();
            if (cli_parse_long(cmd, "--eval-every", v, 1, 1L << 40, &o.tp.eval_every))
                return CLI_USAGE;
        } else if (is_train && OPT("--log-every")) {
            MISSING();
            if (cli_parse_long(cmd, "--log-every", v, 1, 1L << 40, &o.tp.log_every))
                return CLI_USAGE;
        } else if (is_train && OPT("--save-every")) {
            MISSING();
            if (cli_parse_long(cmd, "--save-every", v, 1, 1L << 40, &o.tp.save_every))
                return CLI_USAGE;
        } else if (is_train && OPT("--stop-at")) {
            MISSING();
            if (cli_parse_long(cmd, "--stop-at", v, 1, 1L << 40, &o.tp.stop_at))
                return CLI_USAGE;
        } else if (is_train && OPT("--seed")) {
            MISSING();
            if (cli_parse_long(cmd, "--seed", v, 0, 0x7fffffffffffffffL, &lv))
                return CLI_USAGE;
            o.tp.seed = (uint64_t)lv;
        } else {
            return cli_usage_error(cmd, "unknown option \"%s\"", a);
        }
#undef OPT
#undef MISSING
    }
    if (o.n_corpus == 0)
        return cli_usage_error(cmd, "--corpus is required");
    if (o.n_text_col == 0)
        return cli_usage_error(cmd, "--text-col is required");
    if (o.n_text_col != 1 && o.n_text_col != o.n_corpus)
        return cli_usage_error(cmd, "give one --text-col, or one per --corpus (%d)", o.n_corpus);
    if (!o.out)
        return cli_usage_error(cmd, "--out is required");
    cli_setup_logging(o.quiet);
    ps_progress_set_quiet(o.quiet);
    return is_train ? run_train(&o) : run_tokenizer(&o);
}

PS_COMMAND(lm, "train GPT-2 models and BPE tokenizers on your own texts", USAGE, cmd_lm_main)
