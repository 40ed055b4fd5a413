/*
 * train_run.c - the training loop: batches, accumulation, clipping, AdamW,
 * schedule, validation, logging, checkpoints and resuming.
 *
 * Batches are stateless: micro-batch k of the run draws its window starts
 * from an rng seeded by (seed, k), so a run resumed from step s sees exactly
 * the batches the uninterrupted run would have seen.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/hash.h"
#include "persona/progress.h"
#include "persona/rng.h"
#include "persona/train.h"
#include "train_internal.h"

struct ps_train_params ps_train_default_params(void)
{
    struct ps_train_params p = {
        .n_steps = 1000, .batch = 8, .seq = 0, .grad_accum = 1, .lr = 6e-4f, .min_lr = -1,
        .warmup = -1, .weight_decay = 0.1f, .grad_clip = 1.0f, .val_frac = 0.05f,
        .val_batches = 8, .eval_every = 0, .log_every = 10, .save_every = 0, .seed = 1,
    };
    return p;
}

void ps_train_data_release(struct ps_train_data *d)
{
    free(d->train);
    free(d->val);
    memset(d, 0, sizeof *d);
}

static void emit(ps_train_log_fn fn, void *ud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit(ps_train_log_fn fn, void *ud, const char *fmt, ...)
{
    if (!fn)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(line, ud);
}

static uint64_t data_hash(const struct ps_train_data *d)
{
    uint64_t h = ps_hash64(d->train, d->n_train * sizeof(int32_t), 1);
    return ps_hash64(d->val, d->n_val * sizeof(int32_t), h);
}

/* Cross-entropy of the validation targets that ps_train_eval scores (the
 * same windows) under the unigram distribution of the training tokens,
 * add-one smoothed over the vocabulary: the baseline a model must beat. */
static double unigram_loss(const struct ps_train_data *d, int V, int B, int T, int n_batches)
{
    if (d->n_val < (size_t)T + 1)
        return NAN;
    double *cnt = ps_xcalloc((size_t)V, sizeof(double));
    for (size_t i = 0; i < d->n_train; i++)
        if (d->train[i] >= 0 && d->train[i] < V)
            cnt[d->train[i]] += 1;
    double total = (double)d->n_train + V;
    size_t n_win = (d->n_val - 1) / (size_t)T, n_b = n_win / (size_t)B;
    size_t rows = (size_t)B;
    if (n_b == 0) {
        n_b = 1;
        rows = n_win;
    }
    if ((size_t)n_batches < n_b)
        n_b = (size_t)n_batches;
    double s = 0;
    size_t n = 0;
    for (size_t w = 0; w < n_b * rows; w++)
        for (int t = 1; t <= T; t++) {
            int32_t id = d->val[w * (size_t)T + (size_t)t];
            s -= log(((id >= 0 && id < V ? cnt[id] : 0) + 1) / total);
            n++;
        }
    free(cnt);
    return s / (double)n;
}

static int save_all(struct ps_train_model *m, const struct ps_train_params *p,
                    const struct ps_train_state *st, struct ps_err *err)
{
    int rc = ps_train_save_hf(m, p->out_dir, p->tokenizer_dir, p->save_f16, err);
    if (rc == PS_OK)
        rc = ps_train_state_save(m, st, p->out_dir, err);
    return rc;
}

int ps_train_run(struct ps_train_model *m, const struct ps_train_data *data,
                 const struct ps_train_params *pp, const struct ps_train_state *resume,
                 struct ps_pool *pool, ps_train_log_fn log_fn, void *ud, struct ps_err *err)
{
    struct ps_train_params p = *pp;
    struct ps_train_state st;
    memset(&st, 0, sizeof st);
    uint64_t dh = data_hash(data);
    if (p.seq <= 0)
        p.seq = m->cfg.n_ctx;
    if (resume) {
        if (resume->data_hash != dh || resume->n_train_tokens != data->n_train)
            return ps_err_set(err, PS_ERR_BAD_INPUT,
                              "the corpus differs from the one the checkpoint was trained on "
                              "(%llu train tokens then, %zu now); resume needs the same corpus, "
                              "tokenizer, --val-frac and --seed",
                              (unsigned long long)resume->n_train_tokens, data->n_train);
        p.seed = resume->seed;
        p.batch = resume->batch;
        p.seq = resume->seq;
        p.grad_accum = resume->grad_accum;
        p.lr = resume->lr;
        p.min_lr = resume->min_lr;
        p.warmup = resume->warmup;
        p.weight_decay = resume->weight_decay;
        p.grad_clip = resume->grad_clip;
        p.val_frac = resume->val_frac;
        p.eval_every = resume->eval_every;
        p.val_batches = resume->val_batches;
        if (p.n_steps <= 0)
            p.n_steps = resume->n_steps;
    }
    if (p.n_steps <= 0)
        p.n_steps = 1000;
    if (p.min_lr < 0)
        p.min_lr = p.lr / 10;
    if (p.warmup < 0)
        p.warmup = p.n_steps / 20;
    if (p.eval_every <= 0)
        p.eval_every = p.n_steps / 10 > 0 ? p.n_steps / 10 : 1;
    if (p.log_every <= 0)
        p.log_every = 10;
    if (p.batch < 1 || p.seq < 1 || p.seq > m->cfg.n_ctx || p.grad_accum < 1 || p.n_steps < 1)
        return ps_err_set(err, PS_ERR_USAGE,
                          "bad settings: batch %d, seq %d (context %d), grad-accum %d, steps %ld",
                          p.batch, p.seq, m->cfg.n_ctx, p.grad_accum, p.n_steps);
    int B = p.batch, T = p.seq;
    if (data->n_train < (size_t)T + 2)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "the corpus has %zu training tokens, too few for windows of %d; "
                          "use a smaller --seq or more text",
                          data->n_train, T + 1);
    int rc = ps_train_reserve(m, B, T, pool, err);
    if (rc)
        return rc;
    st.n_steps = p.n_steps;
    st.seed = p.seed;
    st.batch = B;
    st.seq = T;
    st.grad_accum = p.grad_accum;
    st.lr = p.lr;
    st.min_lr = p.min_lr;
    st.warmup = p.warmup;
    st.weight_decay = p.weight_decay;
    st.grad_clip = p.grad_clip;
    st.val_frac = p.val_frac;
    st.eval_every = p.eval_every;
    st.val_batches = p.val_batches;
    st.data_hash = dh;
    st.n_train_tokens = data->n_train;
    long start = resume ? resume->step : 0;
    st.step = start;

    FILE *logf = NULL;
    char *log_path = NULL;
    if (p.out_dir) {
        struct ps_err e2;
        ps_err_clear(&e2);
        /* make the folder now so the log can live in it */
        rc = ps_train_state_save(m, &st, p.out_dir, err);
        if (rc)
            return rc;
        size_t n = strlen(p.out_dir) + 32;
        log_path = ps_xmalloc(n);
        snprintf(log_path, n, "%s/train_log.csv", p.out_dir);
        logf = fopen(log_path, resume ? "a" : "w");
        if (!logf) {
            rc = ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", log_path, strerror(errno));
            free(log_path);
            return rc;
        }
        if (!resume)
            fprintf(logf, "step,loss,lr,grad_norm,val_loss\n");
    }
    struct ps_adamw_params ap = ps_adamw_default_params();
    ap.weight_decay = p.weight_decay;
    int32_t *in = ps_xmalloc((size_t)B * T * sizeof(int32_t));
    int32_t *tg = ps_xmalloc((size_t)B * T * sizeof(int32_t));
    struct ps_progress pg;
    ps_progress_begin(&pg, "training", (uint64_t)p.n_steps);
    ps_progress_update(&pg, (uint64_t)start);
    double t0 = ps_now(), tok_done = 0;
    emit(log_fn, ud,
         "training %zu parameters on %zu tokens (%zu held out): %ld steps of %d x %d x %d "
         "tokens, lr %g, warmup %ld",
         m->n_params, data->n_train, data->n_val, p.n_steps, p.grad_accum, B, T, (double)p.lr,
         p.warmup);
    double uni = unigram_loss(data, m->cfg.n_vocab, B, T, p.val_batches);
    if (isfinite(uni))
        emit(log_fn, ud, "unigram baseline: val loss %.4f, perplexity %.2f", uni, exp(uni));
    int interrupted = 0;
    long end = p.stop_at > 0 && p.stop_at < p.n_steps ? p.stop_at : p.n_steps;
    for (long step = start; step < end && rc == PS_OK; step++) {
        ps_train_zero_grad(m);
        double loss = 0;
        for (int k = 0; k < p.grad_accum && rc == PS_OK; k++) {
            struct ps_rng r;
            ps_rng_seed(&r, p.seed, (uint64_t)step * (uint64_t)p.grad_accum + (uint64_t)k);
            for (int b = 0; b < B; b++) {
                size_t off = (size_t)ps_rng_below(&r, data->n_train - (size_t)T);
                memcpy(in + (size_t)b * T, data->train + off, (size_t)T * sizeof(int32_t));
                memcpy(tg + (size_t)b * T, data->train + off + 1, (size_t)T * sizeof(int32_t));
            }
            float l;
            rc = ps_train_forward(m, in, tg, B, T, &l, err);
            if (rc)
                break;
            loss += l;
            ps_train_backward(m, 1.0f / (float)p.grad_accum);
        }
        if (rc)
            break;
        loss /= p.grad_accum;
        double norm = ps_train_clip_grad_norm(m, p.grad_clip);
        float lr = ps_train_lr(step, p.n_steps, p.warmup, p.lr, p.min_lr);
        ps_adamw_step(m, &ap, lr);
        st.step = step + 1;
        tok_done += (double)B * T * p.grad_accum;
        if (!isfinite(loss)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "loss is not finite at step %ld; try a lower --lr", step + 1);
            break;
        }
        double val = NAN;
        int last = step + 1 == end;
        if (data->n_val > (size_t)T && ((step + 1) % p.eval_every == 0 || last)) {
            rc = ps_train_eval(m, data->val, data->n_val, B, T, p.val_batches, &val, err);
            if (rc)
                break;
            emit(log_fn, ud, "step %ld/%ld: val loss %.4f, perplexity %.2f", step + 1,
                 p.n_steps, val, exp(val));
        }
        if ((step + 1) % p.log_every == 0 || step == start || last) {
            double dt = ps_now() - t0;
            emit(log_fn, ud, "step %ld/%ld: loss %.4f, lr %.3e, grad norm %.3f, %.0f tokens/s",
                 step + 1, p.n_steps, loss, (double)lr, norm, dt > 0 ? tok_done / dt : 0.0);
        }
        if (logf) {
            fprintf(logf, "%ld,%.9g,%.9g,%.9g,", step + 1, loss, (double)lr, norm);
            if (isfinite(val))
                fprintf(logf, "%.9g", val);
            fputc('\n', logf);
        }
        ps_progress_update(&pg, (uint64_t)(step + 1));
        int stop = p.interrupt && *p.interrupt && !last;
        if (p.out_dir && ((p.save_every > 0 && (step + 1) % p.save_every == 0) || last || stop))
            rc = save_all(m, &p, &st, err);
        if (stop && rc == PS_OK) {
            emit(log_fn, ud, "interrupted after step %ld/%ld; checkpoint saved", step + 1,
                 p.n_steps);
            interrupted = 1;
            break;
        }
    }
    ps_progress_end(&pg);
    if (rc == PS_OK && start >= end && data->n_val > (size_t)T) {
        /* nothing left to train: report the checkpoint's validation loss */
        double val;
        rc = ps_train_eval(m, data->val, data->n_val, B, T, p.val_batches, &val, err);
        if (rc == PS_OK)
            emit(log_fn, ud, "step %ld/%ld: val loss %.4f, perplexity %.2f", start, p.n_steps,
                 val, exp(val));
    }
    if (logf && fclose(logf) && rc == PS_OK)
        rc = ps_err_set(err, PS_ERR_IO, "cannot write \"%s\"", log_path);
    free(log_path);
    free(in);
    free(tg);
    return rc == PS_OK && interrupted ? PS_DONE : rc;
}
