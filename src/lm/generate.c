/*
 * generate.c - text generation with a KV cache (see lm.h).
 *
 * The prompt runs once through the network, filling the cache; every
 * later step feeds only the newest token at the next position, so a step
 * costs one matrix-vector product per weight matrix (the bandwidth-bound
 * regime) instead of re-running the whole sequence.
 */
#include "lm_internal.h"
#include "persona/core.h"

#include <stdlib.h>

struct ps_lm_gen_params ps_lm_gen_default_params(void)
{
    struct ps_lm_gen_params p = {.max_new = 32, .sampler = ps_sampler_default_params(),
                                 .stop_at_eos = 1};
    return p;
}

int ps_lm_generate(struct ps_lm_ctx *ctx, const int32_t *prompt, size_t n_prompt,
                   const struct ps_lm_gen_params *p, ps_lm_token_fn on_token, void *ud,
                   int32_t **new_ids, size_t *n_new, float **margins, struct ps_err *err)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    int rc;
    *new_ids = NULL;
    *n_new = 0;
    if (margins)
        *margins = NULL;
    if (c->arch != PS_LM_GPT2)
        return ps_err_set(err, PS_ERR_USAGE, "generation needs a GPT-2 model");
    if (!ctx->p.kv_cache || !ctx->p.logits)
        return ps_err_set(err, PS_ERR_USAGE, "generation needs a context with kv_cache and logits");
    if (n_prompt == 0)
        return ps_err_set(err, PS_ERR_USAGE, "empty prompt");
    if (p->max_new < 0)
        return ps_err_set(err, PS_ERR_USAGE, "max new tokens %d must be >= 0", p->max_new);
    if (n_prompt + (size_t)p->max_new > (size_t)ctx->p.max_tokens)
        return ps_err_set(err, PS_ERR_USAGE,
                          "prompt of %zu tokens + %d new exceeds the context of %d positions",
                          n_prompt, p->max_new, ctx->p.max_tokens);
    if ((size_t)ctx->p.max_packed < n_prompt)
        return ps_err_set(err, PS_ERR_USAGE, "prompt of %zu tokens exceeds the context's batch",
                          n_prompt);
    if ((rc = ps_sampler_check(&p->sampler, err)))
        return rc;

    size_t cap = n_prompt + (size_t)p->max_new;
    int32_t *hist = ps_xmalloc((cap ? cap : 1) * sizeof *hist);
    float *gap = margins ? ps_xmalloc(((size_t)p->max_new + 1) * sizeof *gap) : NULL;
    for (size_t i = 0; i < n_prompt; i++)
        hist[i] = prompt[i];
    struct ps_sampler s;
    ps_sampler_init(&s, &p->sampler, c->n_vocab);

    int32_t len = (int32_t)n_prompt, start = 0;
    struct ps_lm_batch b = {.n_rows = 1, .stride = len, .ids = hist, .lens = &len,
                            .start = &start};
    rc = ps_lm_forward(ctx, &b, err);
    size_t produced = 0;
    for (int step = 0; !rc && step < p->max_new; step++) {
        const float *lg = ps_lm_logits(ctx, 0);
        if (gap && c->n_vocab < 2) {
            gap[step] = 0;
        } else if (gap) {
            float t1 = lg[0] > lg[1] ? lg[0] : lg[1], t2 = lg[0] > lg[1] ? lg[1] : lg[0];
            for (int i = 2; i < c->n_vocab; i++) {
                if (lg[i] > t1) {
                    t2 = t1;
                    t1 = lg[i];
                } else if (lg[i] > t2) {
                    t2 = lg[i];
                }
            }
            gap[step] = t1 - t2;
        }
        int32_t next = ps_sampler_pick(&s, lg, hist, n_prompt + produced, (uint64_t)step);
        hist[n_prompt + produced++] = next;
        if (on_token && on_token(hist + n_prompt, produced, ud))
            break;
        if (p->stop_at_eos && next == c->eos_id)
            break;
        if (step == p->max_new - 1)
            break;
        len = 1;
        start = (int32_t)(n_prompt + produced - 1);
        b.stride = 1;
        b.ids = &hist[start];
        rc = ps_lm_forward(ctx, &b, err);
    }
    ps_sampler_release(&s);
    if (rc) {
        free(hist);
        free(gap);
        return rc;
    }
    int32_t *res = ps_xmalloc((produced ? produced : 1) * sizeof *res);
    for (size_t i = 0; i < produced; i++)
        res[i] = hist[n_prompt + i];
    free(hist);
    *new_ids = res;
    *n_new = produced;
    if (margins)
        *margins = gap;
    return PS_OK;
}
