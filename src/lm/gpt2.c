/*
 * gpt2.c - GPT-2's forward pass over a packed batch (see gpt2.h, lm.h).
 *
 * Legend: M packed tokens of this call, C channels, F feed-forward width,
 * V vocabulary, B rows.  Per layer, pre-LayerNorm:
 *   h   = ln_1(x)                     (M, C)
 *   qkv = h . W_attn + b              (M, 3C)
 *   att = softmax(q k^T / sqrt(hd)) v (M, C)    causal, per row and head
 *   x  += att . W_proj + b
 *   h   = ln_2(x)
 *   ff  = gelu(h . W_fc + b)          (M, F)
 *   x  += ff . W_fc2 + b
 * then hidden = ln_f(x) and, if asked, logits = hidden[last] . lm_head^T.
 * Without a KV cache, attention reads K and V straight from qkv (the rows
 * of one text are contiguous there); with one, K and V are copied into the
 * cache and read from it, so later calls can attend to earlier tokens.
 */
#include "lm_internal.h"
#include "ops.h"

#include <string.h>

void ps__gpt2_forward(struct ps_lm_ctx *ctx)
{
    const struct ps_lm_config *c = &ctx->m->cfg;
    const struct ps_gpt2_weights *w = &ctx->m->gpt2;
    const int M = ctx->n_packed, C = c->d_model, F = c->d_ff;
    const size_t sC = (size_t)C;

    for (int m = 0; m < M; m++) {
        const float *te = w->wte + (size_t)ctx->ids[m] * sC;
        const float *pe = w->wpe + (size_t)ctx->pos[m] * sC;
        float *x = ctx->x + (size_t)m * sC;
        for (int i = 0; i < C; i++)
            x[i] = te[i] + pe[i];
    }
    /* Biases of the two residual products are added by the LayerNorm pass
     * that reads x next (pending), and the qkv / fc products accumulate
     * onto rows prefilled with their bias: fewer passes over memory and
     * fewer wake-ups of the pool per layer. */
    const float *pending = NULL;
    for (int l = 0; l < c->n_layer; l++) {
        const struct ps_gpt2_layer *L = &w->layers[l];
        ps__par_add_layernorm(ctx, ctx->h, ctx->x, pending, L->ln1_w, L->ln1_b, M, C, c->ln_eps);
        ps__fill_bias(ctx->qkv, 3 * C, L->attn_b, M, 3 * C);
        ps_sgemm(0, M, 3 * C, C, 1.0f, ctx->h, C, L->attn_w, 3 * C, 1.0f, ctx->qkv, 3 * C);
        for (int m = 0; ctx->p.kv_cache && m < M; m++) {
            int r = ctx->row_of[m];
            size_t p = (size_t)ctx->pos[m];
            const float *src = ctx->qkv + (size_t)m * 3 * sC;
            memcpy(ps__kv_slot(ctx, l, r, 0) + p * sC, src + C, sC * sizeof(float));
            memcpy(ps__kv_slot(ctx, l, r, 1) + p * sC, src + 2 * C, sC * sizeof(float));
        }
        ps__par_attention(ctx, l, 1);
        ps_sgemm(0, M, C, C, 1.0f, ctx->att, C, L->proj_w, C, 1.0f, ctx->x, C);
        ps__par_add_layernorm(ctx, ctx->h, ctx->x, L->proj_b, L->ln2_w, L->ln2_b, M, C, c->ln_eps);
        ps__fill_bias(ctx->ff, F, L->fc_b, M, F);
        ps_sgemm(0, M, F, C, 1.0f, ctx->h, C, L->fc_w, F, 1.0f, ctx->ff, F);
        ps__par_bias_act(ctx, ctx->ff, F, NULL, M, F, (int)c->act);
        ps_sgemm(0, M, C, F, 1.0f, ctx->ff, F, L->fc2_w, C, 1.0f, ctx->x, C);
        pending = L->fc2_b;
    }
    ps__par_add_layernorm(ctx, ctx->h, ctx->x, pending, w->lnf_w, w->lnf_b, M, C, c->ln_eps);
    ctx->hidden = ctx->h;
    if (ctx->p.logits) {
        for (int r = 0; r < ctx->n_rows; r++) {
            size_t m = (size_t)(ctx->off[r] + ctx->len[r] - 1);
            memcpy(ctx->last + (size_t)r * sC, ctx->h + m * sC, sC * sizeof(float));
        }
        ps_sgemm(1, ctx->n_rows, c->n_vocab, C, 1.0f, ctx->last, C, w->lm_head, C, 0.0f,
                 ctx->logits, c->n_vocab);
        ctx->have_logits = 1;
    }
}
